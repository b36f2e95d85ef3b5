import { readdir, readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import path from 'node:path';
import {
  classifyAddress,
  type Manifest,
  ManifestError,
  parseEgressEntry,
  splitEgressEntry,
  validateManifest,
  WEB_PORTS,
} from '@bmms/runner-template';
import { getPublicSuffix } from 'tldts';
import ts from 'typescript-api';
import { type Plan, planFor } from '../plans.ts';
import { type Check, type CheckInput, type CheckOutcome, type Finding, type JsonPath, outcomeOf } from './types.ts';
import { viewFindings } from './views.ts';

export type { JsonPath } from './types.ts';

/** Renders a JSON path as `tools[0].inputSchema.properties.q` (or `(root)`). */
export function jsonPathText(p: JsonPath): string {
  let out = '';
  for (const key of p) {
    if (typeof key === 'number') out += `[${key}]`;
    else if (/^[A-Za-z_$][\w$-]*$/.test(key)) out += out === '' ? key : `.${key}`;
    else out += `[${JSON.stringify(key)}]`;
  }
  return out === '' ? '(root)' : out;
}

/** Parses `tools[0].name` back into `['tools', 0, 'name']` (`(root)` → `[]`). */
function parsePath(text: string): JsonPath {
  if (text === '(root)') return [];
  return [...text.matchAll(/([^.[\]]+)|\[(\d+)\]/g)].map((m) => (m[2] !== undefined ? Number(m[2]) : (m[1] as string)));
}

/** Returns a function giving the 1-based line of the member at a JSON path in `text` (undefined when absent). */
export function jsonLocator(text: string): (p: JsonPath) => number | undefined {
  const sf = ts.parseJsonText('mcp.json', text);
  return (p) => {
    let node: ts.Node | undefined = sf.statements[0]?.expression;
    let at: ts.Node | undefined = node;
    for (const key of p) {
      if (node && ts.isObjectLiteralExpression(node)) {
        const prop: ts.PropertyAssignment | undefined = node.properties.find(
          (m): m is ts.PropertyAssignment =>
            ts.isPropertyAssignment(m) && ts.isStringLiteral(m.name) && m.name.text === String(key),
        );
        at = prop;
        node = prop?.initializer;
      } else if (node && ts.isArrayLiteralExpression(node) && typeof key === 'number') {
        node = node.elements[key];
        at = node;
      } else {
        return undefined;
      }
    }
    return at ? sf.getLineAndCharacterOfPosition(at.getStart(sf)).line + 1 : undefined;
  };
}

/** Cloud instance-metadata names; their addresses are in the shared address classifier. */
const METADATA_HOSTS = new Set([
  'metadata.google.internal',
  'metadata.goog',
  'metadata',
  'instance-data',
  'instance-data.ec2.internal',
]);

/** DNS suffixes that only resolve inside a network (or never publicly). */
const PRIVATE_SUFFIXES = [
  'localhost',
  'local',
  'internal',
  'intranet',
  'corp',
  'home',
  'lan',
  'localdomain',
  'home.arpa',
  'private',
  'svc',
  'consul',
  'test',
  'invalid',
  'example',
  'in-addr.arpa',
  'ip6.arpa',
];
/** Public names that resolve to whatever address is written in them (`127.0.0.1.nip.io`). */
const REBINDING_SUFFIXES = ['nip.io', 'sslip.io', 'xip.io', 'localtest.me', 'lvh.me', 'traefik.me', 'vcap.me'];

const endsWithLabel = (host: string, suffix: string): boolean => host === suffix || host.endsWith(`.${suffix}`);

/** The address an IP-literal host denotes (IPv4 in any inet_aton form, IPv6), `''` for numeric non-addresses, else null. */
function ipOf(host: string): string | null {
  const bare = host.replace(/\.$/, '').split('%')[0] ?? '';
  if (isIP(bare) === 4) return bare;
  if (isIP(bare) === 6) return new URL(`http://[${bare}]/`).hostname.slice(1, -1);
  const last = bare.split('.').at(-1) ?? '';
  // 2130706433, 0x7f000001, 0177.0.0.1 and 127.1 all mean 127.0.0.1 to a resolver; WHATWG URL normalises them.
  if (/^(0x[0-9a-f]*|\d+)$/.test(last)) {
    try {
      const normal = new URL(`http://${bare}/`).hostname;
      if (isIP(normal) === 4) return normal;
    } catch {}
    return '';
  }
  return null;
}

const WHY_DNS =
  'the allowlist must name what a reviewer can read and what the egress proxy can check, and a server must never reach networks behind the platform';

/** Findings of one egress entry (its index in `egress`): the shared policy's syntax plus what may be deployed. */
/** The egress rules' findings about a host an import would list (`api.example.com`, `10.0.0.1:8080`): none when usable. */
export function egressHostProblems(host: string): string[] {
  return egressEntryFindings(host, -1, undefined).map((f) => f.message);
}

function egressEntryFindings(entry: string, index: number, line: number | undefined): Finding[] {
  const at = index < 0 ? '' : `egress[${index}]: `;
  const base = { file: 'mcp.json', ...(line ? { line } : {}) };
  const out: Finding[] = [];
  const { host, port } = splitEgressEntry(entry.trim().toLowerCase());
  const ip = ipOf(host);
  const bareHost = host.startsWith('*.') ? host.slice(2) : host;
  const address = ip ? classifyAddress(ip) : null;
  const range = address && !address.public ? address.range : null;
  const parsed = parseEgressEntry(entry);
  const isRebinding = REBINDING_SUFFIXES.some((s) => endsWithLabel(bareHost, s));
  const publicSuffix = host.startsWith('*.') && !bareHost.includes('*') && isPublicSuffix(bareHost);
  if (METADATA_HOSTS.has(bareHost) || range?.startsWith('cloud metadata')) {
    out.push({
      ...base,
      rule: 'egress-metadata',
      message: `${at}"${entry}" is a cloud instance-metadata endpoint; a request there can hand out the host's cloud credentials`,
      fix: 'remove this entry: no tool may reach instance metadata',
    });
  } else if (ip !== null) {
    const what =
      ip === '' ? 'is numeric, not a DNS name' : `is an IP address (${ip}${range ? `, ${range}` : ''}), not a DNS name`;
    out.push({
      ...base,
      rule: 'egress-ip-literal',
      message: `${at}"${entry}" ${what}; ${WHY_DNS}`,
      fix: 'list the API by its DNS name, e.g. "api.example.com"',
    });
  } else if (publicSuffix) {
    out.push({
      ...base,
      rule: 'egress-wildcard',
      message: `${at}"${entry}" covers every domain under the public suffix "${bareHost}", i.e. hosts owned by anyone`,
      fix: `name the domain you mean under "${bareHost}", e.g. "*.api.example.${bareHost}"`,
    });
  } else if (!parsed.ok && parsed.problem.rule === 'egress-wildcard') {
    out.push({
      ...base,
      rule: 'egress-wildcard',
      message: `${at}"${entry}": ${parsed.problem.message}; a wider wildcard would let tools reach hosts nobody reviewed`,
      fix: 'list each host, or at most one leading wildcard label under a domain you control ("*.api.example.com")',
    });
  } else if (host.split('.').length === 1 || PRIVATE_SUFFIXES.some((s) => endsWithLabel(bareHost, s)) || isRebinding) {
    const why = isRebinding
      ? 'resolves to whatever address is written in the name (DNS rebinding), including internal ones'
      : host.split('.').length === 1
        ? 'is a single-label name, which resolves only inside a network (search domains, service discovery)'
        : 'only resolves inside a private network (localhost, .local, .internal and the like)';
    out.push({
      ...base,
      rule: 'egress-private-host',
      message: `${at}"${entry}" ${why}; a server must never reach networks behind the platform`,
      fix: 'list the public DNS name of the API (e.g. "api.example.com"); internal services can\'t be reached from a hosted server',
    });
  }
  if (port !== undefined && /^\d+$/.test(port) && !WEB_PORTS.includes(port)) {
    out.push({
      ...base,
      rule: 'egress-port',
      message: `${at}"${entry}" allows port ${port}; tools may reach only the web ports 80 and 443, so non-HTTP services (databases, caches, admin ports) stay out of reach`,
      fix: `drop ":${port}" (the scheme's default port is allowed) or use the API's HTTPS endpoint`,
    });
  }
  return out;
}

/** Whether `domain` is a public suffix (`com`, `co.uk`, `github.io`): a wildcard under it covers anyone's hosts. */
function isPublicSuffix(domain: string): boolean {
  const suffix = getPublicSuffix(domain, { allowPrivateDomains: true });
  return suffix === null || suffix === domain;
}

/** Where the checked tree's code is scanned for tool definitions. */
const CODE_FILE = /\.(?:[cm]?ts|tsx|[cm]?js)$/;
const RUNTIME_MODULE = '@bmms/runner-template/runtime';

interface CodeTool {
  name: string;
  file: string;
  line: number;
  call: ts.CallExpression;
}

interface ScannedFile {
  file: string;
  sf: ts.SourceFile;
  tools: CodeTool[];
}

function unwrap(node: ts.Expression): ts.Expression {
  let n = node;
  while (ts.isParenthesizedExpression(n) || ts.isAsExpression(n) || ts.isSatisfiesExpression(n)) n = n.expression;
  return n;
}

function propName(name: ts.PropertyName): string | undefined {
  if (ts.isIdentifier(name) || ts.isStringLiteral(name) || ts.isNoSubstitutionTemplateLiteral(name)) return name.text;
  if (ts.isComputedPropertyName(name)) {
    const e = unwrap(name.expression);
    if (ts.isStringLiteral(e) || ts.isNoSubstitutionTemplateLiteral(e)) return e.text;
  }
  return undefined;
}

/** Local names bound to `what` imported from the runtime (`import { defineTool as dt }`), plus `what` itself. */
function runtimeAliases(sf: ts.SourceFile, what: string): Set<string> {
  const names = new Set([what]);
  for (const st of sf.statements) {
    if (!ts.isImportDeclaration(st) || !ts.isStringLiteral(st.moduleSpecifier)) continue;
    if (st.moduleSpecifier.text !== RUNTIME_MODULE) continue;
    const bindings = st.importClause?.namedBindings;
    if (bindings && ts.isNamedImports(bindings)) {
      for (const el of bindings.elements) if ((el.propertyName ?? el.name).text === what) names.add(el.name.text);
    }
  }
  return names;
}

function isCallOf(callee: ts.Expression, names: Set<string>, what: string): boolean {
  const c = unwrap(callee);
  if (ts.isIdentifier(c)) return names.has(c.text);
  if (ts.isPropertyAccessExpression(c)) return c.name.text === what;
  if (ts.isElementAccessExpression(c)) {
    const arg = unwrap(c.argumentExpression);
    return (ts.isStringLiteral(arg) || ts.isNoSubstitutionTemplateLiteral(arg)) && arg.text === what;
  }
  return false;
}

const lineOf = (sf: ts.SourceFile, node: ts.Node): number =>
  sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1;

/** The literal name of a `defineTool({ name })` call, or the node that keeps it from being one. */
function toolNameOf(call: ts.CallExpression): { name: string } | { problem: string } {
  const arg = call.arguments[0] && unwrap(call.arguments[0]);
  if (!arg || !ts.isObjectLiteralExpression(arg)) return { problem: 'is not called with an object literal' };
  let result: { name: string } | { problem: string } = { problem: 'has no `name`' };
  // Later members win in JS: `{ name: 'a', ...other }` may override the literal.
  for (const m of arg.properties) {
    if (ts.isSpreadAssignment(m)) {
      result = { problem: 'spreads an object whose `name` the check cannot read' };
    } else if (m.name && propName(m.name) === 'name') {
      const init = ts.isPropertyAssignment(m) ? unwrap(m.initializer) : undefined;
      result =
        init && (ts.isStringLiteral(init) || ts.isNoSubstitutionTemplateLiteral(init))
          ? { name: init.text }
          : { problem: 'sets `name` to an expression, not a string literal' };
    } else if (m.name === undefined || propName(m.name) === undefined) {
      result = { problem: 'has a computed member that may set `name`' };
    }
  }
  return result;
}

function scanFile(file: string, text: string, findings: Finding[]): ScannedFile {
  const kind = /x$/.test(file) ? ts.ScriptKind.TSX : /ts$/.test(file) ? ts.ScriptKind.TS : ts.ScriptKind.JS;
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, kind);
  const aliases = runtimeAliases(sf, 'defineTool');
  const tools: CodeTool[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isCallExpression(node) && isCallOf(node.expression, aliases, 'defineTool')) {
      const got = toolNameOf(node);
      if ('name' in got) tools.push({ name: got.name, file, line: lineOf(sf, node), call: node });
      else {
        findings.push({
          file,
          line: lineOf(sf, node),
          rule: 'tool-name-not-literal',
          message: `defineTool(...) ${got.problem}; the checks and reviewers must see each tool's name to match it with mcp.json`,
          fix: "write the name as a string literal: defineTool({ name: 'my_tool', input: {...}, handler })",
        });
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return { file, sf, tools };
}

async function scanCode(dir: string, findings: Finding[]): Promise<Map<string, ScannedFile>> {
  let entries: string[];
  try {
    entries = await readdir(path.join(dir, 'src'), { recursive: true });
  } catch {
    entries = [];
  }
  const files = entries
    .map((e) => `src/${e.split(path.sep).join('/')}`)
    .filter((f) => CODE_FILE.test(f) && !f.endsWith('.d.ts') && !f.split('/').includes('node_modules'))
    .sort();
  const out = new Map<string, ScannedFile>();
  for (const file of files) {
    const text = await readFile(path.join(dir, file), 'utf8').catch(() => null);
    if (text !== null) out.set(file, scanFile(file, text, findings));
  }
  return out;
}

function resolveImport(from: string, spec: string, files: Map<string, ScannedFile>): ScannedFile | undefined {
  if (!spec.startsWith('.')) return undefined;
  const target = path.posix.normalize(path.posix.join(path.posix.dirname(from), spec));
  const tries = [target, target.replace(/\.([cm]?)js$/, '.$1ts'), `${target}.ts`, `${target}/index.ts`];
  for (const t of tries) {
    const hit = files.get(t);
    if (hit) return hit;
  }
  return undefined;
}

const SERVER_FILE = 'src/server.ts';
const REGISTER_FIX = `import each tool in ${SERVER_FILE} and list it: startServer({ manifest, tools: [echo, add] })`;

/** Checks that startServer in src/server.ts is passed every defined tool. */
function registrationFindings(files: Map<string, ScannedFile>, findings: Finding[]): void {
  const server = files.get(SERVER_FILE);
  const defined = [...files.values()].flatMap((f) => f.tools);
  if (!server) {
    findings.push({
      file: SERVER_FILE,
      rule: 'tool-not-registered',
      message: `${SERVER_FILE} is missing; it is the entry that starts the server with its tools`,
      fix: REGISTER_FIX,
    });
    return;
  }
  const { sf } = server;
  const aliases = runtimeAliases(sf, 'startServer');
  const calls: ts.CallExpression[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isCallExpression(node) && isCallOf(node.expression, aliases, 'startServer')) calls.push(node);
    ts.forEachChild(node, visit);
  };
  visit(sf);
  const unclear = (node: ts.Node, what: string): void => {
    findings.push({
      file: SERVER_FILE,
      line: lineOf(sf, node),
      rule: 'tool-registration-unclear',
      message: `${what}; the check must see which tools the server starts with to match them with mcp.json`,
      fix: REGISTER_FIX,
    });
  };
  if (calls.length !== 1) {
    findings.push({
      file: SERVER_FILE,
      rule: 'tool-not-registered',
      message: `${SERVER_FILE} calls startServer ${calls.length} times; it must call it exactly once with every tool`,
      fix: REGISTER_FIX,
    });
    return;
  }
  const call = calls[0] as ts.CallExpression;
  const arg = call.arguments[0] && unwrap(call.arguments[0]);
  const toolsProp =
    arg && ts.isObjectLiteralExpression(arg)
      ? arg.properties.find((m) => m.name !== undefined && propName(m.name) === 'tools')
      : undefined;
  const list = toolsProp && ts.isPropertyAssignment(toolsProp) ? unwrap(toolsProp.initializer) : undefined;
  if (!list || !ts.isArrayLiteralExpression(list)) {
    unclear(call, 'startServer is not passed `tools: [ ... ]` as an array literal');
    return;
  }
  const imports = new Map<string, string>();
  const locals = new Map<string, ts.Expression>();
  for (const st of sf.statements) {
    if (ts.isImportDeclaration(st) && ts.isStringLiteral(st.moduleSpecifier) && st.importClause) {
      const spec = st.moduleSpecifier.text;
      if (st.importClause.name) imports.set(st.importClause.name.text, spec);
      const b = st.importClause.namedBindings;
      if (b && ts.isNamedImports(b)) for (const el of b.elements) imports.set(el.name.text, spec);
    } else if (ts.isVariableStatement(st)) {
      for (const d of st.declarationList.declarations) {
        if (ts.isIdentifier(d.name) && d.initializer) locals.set(d.name.text, unwrap(d.initializer));
      }
    }
  }
  const registered = new Set<CodeTool>();
  const inline = (e: ts.Expression): boolean => {
    if (!ts.isCallExpression(e)) return false;
    for (const t of server.tools) if (t.call === e) registered.add(t);
    return true;
  };
  for (const el of list.elements) {
    const e = unwrap(el as ts.Expression);
    if (ts.isIdentifier(e) && imports.has(e.text)) {
      const target = resolveImport(SERVER_FILE, imports.get(e.text) as string, files);
      if (!target)
        unclear(el, `\`${e.text}\` is imported from "${imports.get(e.text)}", which is not a file under src/`);
      else for (const t of target.tools) registered.add(t);
    } else if (ts.isIdentifier(e) && locals.has(e.text) && inline(locals.get(e.text) as ts.Expression)) {
      // a tool defined in server.ts itself
    } else if (!inline(e)) {
      unclear(el, `tools entry \`${el.getText(sf)}\` is not a tool imported from src/`);
    }
  }
  for (const t of defined) {
    if (registered.has(t)) continue;
    findings.push({
      file: t.file,
      line: t.line,
      rule: 'tool-not-registered',
      message: `tool "${t.name}" is defined here but not passed to startServer in ${SERVER_FILE}; the server would start without it`,
      fix: `import it in ${SERVER_FILE} and add it to \`tools: [...]\``,
    });
  }
}

/** Code ⇄ manifest: every defined tool is declared, every declared tool is defined (once). */
function toolMatchFindings(
  manifest: Manifest,
  files: Map<string, ScannedFile>,
  line: (p: JsonPath) => number | undefined,
  findings: Finding[],
): void {
  const defined = [...files.values()].flatMap((f) => f.tools);
  const declared = new Set(manifest.tools.map((t) => t.name));
  const seen = new Map<string, CodeTool>();
  for (const t of defined) {
    const first = seen.get(t.name);
    if (first) {
      findings.push({
        file: t.file,
        line: t.line,
        rule: 'tool-defined-twice',
        message: `tool "${t.name}" is also defined in ${first.file}:${first.line}; the server refuses to start with two implementations of one name`,
        fix: 'keep one definition per tool (one file per tool under src/tools/)',
      });
    }
    seen.set(t.name, first ?? t);
    if (!declared.has(t.name)) {
      findings.push({
        file: t.file,
        line: t.line,
        rule: 'tool-not-in-manifest',
        message: `tool "${t.name}" is defined in code but not declared in mcp.json; undeclared tools escape review of the tool surface and the server refuses to start`,
        fix: `add "${t.name}" to mcp.json "tools" (with its description and inputSchema), or delete the definition`,
      });
    }
  }
  for (const [i, tool] of manifest.tools.entries()) {
    if (seen.has(tool.name)) continue;
    const at = line(['tools', i, 'name']);
    findings.push({
      file: 'mcp.json',
      ...(at ? { line: at } : {}),
      rule: 'tool-not-in-code',
      message: `tools[${i}].name: "${tool.name}" is declared but no defineTool({ name: '${tool.name}' }) exists under src/; clients would list a tool that cannot run`,
      fix: `add src/tools/${tool.name}.ts exporting defineTool({ name: '${tool.name}', input, handler }), or remove it from mcp.json`,
    });
  }
}

function planFindings(
  manifest: Manifest,
  plan: Plan,
  line: (p: JsonPath) => number | undefined,
  findings: Finding[],
): void {
  const units = { cpu: ' CPU', memoryMb: ' MB', timeoutMs: ' ms' } as const;
  for (const key of ['cpu', 'memoryMb', 'timeoutMs'] as const) {
    const value = manifest.limits[key];
    const max = plan.limits[key];
    if (value <= max) continue;
    const at = line(['limits', key]);
    findings.push({
      file: 'mcp.json',
      ...(at ? { line: at } : {}),
      rule: 'limits-over-plan',
      message: `limits.${key}: ${value}${units[key]} is above the ${plan.name} plan's ${max}${units[key]}; the platform would refuse to run the server at that size`,
      fix: `set limits.${key} to at most ${max} (or move to a plan that allows more)`,
    });
  }
  if (manifest.tools.length > plan.maxTools) {
    const at = line(['tools']);
    findings.push({
      file: 'mcp.json',
      ...(at ? { line: at } : {}),
      rule: 'tools-over-plan',
      message: `tools: ${manifest.tools.length} tools declared, the ${plan.name} plan allows ${plan.maxTools}; every tool costs each client context and review time`,
      fix: `merge or drop ${manifest.tools.length - plan.maxTools} tool(s), or move to a plan that allows more`,
    });
  }
}

const SCHEMA_WHY =
  'the gateway, the runtime and every other check read mcp.json as the contract of the server, so an invalid one can be neither deployed nor reviewed';

/** Options of the manifest check: where it gets the plan of the server being checked. */
export interface ManifestCheckDeps {
  /** The plan whose limits apply (default: `planFor()`, i.e. free, until billing lands). */
  planOf?: (serverName: string) => Plan | Promise<Plan>;
}

/**
 * `manifest`: mcp.json exists, is valid and names this server; egress names public DNS hosts on web
 * ports; limits and tool count fit the plan; the tools defined in code, registered in src/server.ts
 * and declared in mcp.json are the same set; each view (MCP Apps) builds, within its budget, connecting only to
 * egress hosts and loading only from origins its CSP declares.
 */
export function createManifestCheck(deps: ManifestCheckDeps = {}): Check {
  const planOf = deps.planOf ?? (() => planFor());
  return {
    name: 'manifest',
    async run({ dir, serverName }: CheckInput): Promise<CheckOutcome> {
      let text: string;
      try {
        text = await readFile(path.join(dir, 'mcp.json'), 'utf8');
      } catch {
        return outcomeOf(
          [
            {
              file: 'mcp.json',
              rule: 'manifest-missing',
              message: 'missing; every server repo needs a manifest at its root, the contract the platform deploys',
              fix: 'add mcp.json (name, version, description, tools, secrets, egress, limits)',
            },
          ],
          '',
        );
      }
      const findings: Finding[] = [];
      const line = jsonLocator(text);
      const at = (p: JsonPath) => {
        const l = line(p);
        return l ? { line: l } : {};
      };
      let raw: unknown;
      try {
        raw = JSON.parse(text);
      } catch (err) {
        return outcomeOf(
          [
            {
              file: 'mcp.json',
              rule: 'manifest-invalid',
              message: `(root): invalid JSON: ${(err as Error).message}; ${SCHEMA_WHY}`,
              fix: 'fix the JSON syntax',
            },
          ],
          '',
        );
      }
      const rawEgress =
        typeof raw === 'object' && raw !== null && Array.isArray((raw as { egress?: unknown }).egress)
          ? ((raw as { egress: unknown[] }).egress as unknown[])
          : [];
      const flagged = new Set<number>();
      for (const [i, entry] of rawEgress.entries()) {
        if (typeof entry !== 'string') continue;
        const found = egressEntryFindings(entry, i, line(['egress', i]));
        if (found.length > 0) flagged.add(i);
        findings.push(...found);
      }

      let manifest: Manifest | undefined;
      try {
        manifest = validateManifest(raw);
      } catch (err) {
        if (!(err instanceof ManifestError)) throw err;
        const issues = err.issues.filter((i) => {
          const m = /^egress\[(\d+)\]$/.exec(i.path);
          return !(m && flagged.has(Number(m[1])));
        });
        for (const issue of issues) {
          findings.push({
            file: 'mcp.json',
            ...at(parsePath(issue.path)),
            rule: 'manifest-invalid',
            message: `${issue.path}: ${issue.message}; ${SCHEMA_WHY}`,
            fix: 'edit mcp.json to match the manifest schema',
          });
        }
        if (issues.length === 0) {
          manifest = validateManifest({
            ...(raw as Record<string, unknown>),
            egress: rawEgress.filter((_, i) => !flagged.has(i)),
          });
        }
      }
      if (!manifest) return outcomeOf(findings, '');

      if (manifest.name !== serverName) {
        findings.push({
          file: 'mcp.json',
          ...at(['name']),
          rule: 'manifest-name-mismatch',
          message: `name: is "${manifest.name}" but this repository belongs to server "${serverName}"; the gateway routes by this name`,
          fix: `set "name" to "${serverName}"`,
        });
      }
      const plan = await planOf(serverName);
      planFindings(manifest, plan, line, findings);
      const files = await scanCode(dir, findings);
      toolMatchFindings(manifest, files, line, findings);
      registrationFindings(files, findings);
      const views = await viewFindings(dir, manifest, at);
      findings.push(...views.findings);

      const tools = manifest.tools.map((t) => t.name).join(', ') || 'none';
      const viewsLine = views.built.length > 0 ? `; views built: ${views.built.join(', ')}` : '';
      const summary = `mcp.json is valid: ${manifest.tools.length} tool(s) (${tools}), ${manifest.secrets.length} secret name(s), egress: ${manifest.egress.join(', ') || 'none'}; limits within the ${plan.name} plan; every tool in src/ matches mcp.json${viewsLine}`;
      return outcomeOf(findings, summary);
    },
  };
}

/** `manifest` with the default plan lookup. */
export const manifestCheck: Check = createManifestCheck();
