import ownPackage from '../package.json' with { type: 'json' };
import {
  type Manifest,
  manifestOf,
  parseServerSpec,
  type ServerSpecInput,
  type ToolSpec,
  type UiResource,
} from './spec.ts';
import { tsconfigText, VIEW_TSCONFIG_PATH, VIEW_TYPECHECK_SCRIPT, viewTsconfigText } from './tsconfig.ts';
import { RUNTIME_PACKAGE, VENDORED_RUNTIME_PATH, VENDORED_RUNTIME_SPEC } from './vendor.ts';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const exact = (range: string): string => range.replace(/^[\^~]/, '');
/**
 * The versions every rendered repo pins: this package (its packed tarball, vendored into the repo until it is on
 * a registry) and the zod it was built with.
 */
export const PINNED_DEPENDENCIES: Readonly<Record<string, string>> = {
  [RUNTIME_PACKAGE]: VENDORED_RUNTIME_SPEC,
  zod: exact(ownPackage.dependencies.zod),
};
/** The type-checking tools every rendered repo pins as devDependencies (the platform's own compiler and Node types). */
export const PINNED_DEV_DEPENDENCIES: Readonly<Record<string, string>> = {
  '@types/node': '24.19.2',
  typescript: '7.0.2',
};

/** The GitHub Actions workflow of a rendered repo: the type check and the tests, as the platform's checks run them. */
export const WORKFLOW_PATH = '.github/workflows/check.yml';
const WORKFLOW = `name: check
on:
  push:
  pull_request:
permissions:
  contents: read
jobs:
  check:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-node@v4
        with:
          node-version: 24
      - run: npm install --no-audit --no-fund
      - run: npm run typecheck
      - run: npm run --if-present test
`;

const FIRST = ['$schema', 'type', 'title', 'description', 'properties', 'required', 'items'];
const rank = (key: string): number => (FIRST.includes(key) ? FIRST.indexOf(key) : FIRST.length);
const byKeyword = (a: string, b: string): number => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0);

/** Sorts object keys recursively, but keeps the order of `properties` (argument order is meaningful). */
function canonical(value: unknown, keepOrder = false): Json {
  if (Array.isArray(value)) return value.map((item) => canonical(item));
  if (typeof value !== 'object' || value === null) return value as Json;
  const keys = Object.keys(value);
  if (!keepOrder) keys.sort(byKeyword);
  const out: { [key: string]: Json } = {};
  for (const key of keys) {
    const item = (value as Record<string, unknown>)[key];
    if (item !== undefined) out[key] = canonical(item, key === 'properties' && !keepOrder);
  }
  return out;
}

function toolJson(tool: ToolSpec): Json {
  return canonicalOrder({
    name: tool.name,
    title: tool.title,
    description: tool.description,
    inputSchema: canonical(tool.inputSchema),
    outputSchema: tool.outputSchema && canonical(tool.outputSchema),
    annotations: tool.annotations && canonical(tool.annotations),
    scopes: tool.scopes,
    _meta: tool._meta && canonicalOrder({ ui: canonicalOrder({ ...tool._meta.ui }) }),
  });
}

function resourceJson(resource: UiResource): Json {
  return canonicalOrder({
    uri: resource.uri,
    name: resource.name,
    title: resource.title,
    description: resource.description,
    source: resource.source,
    _meta: resource._meta && canonical(resource._meta),
  });
}

/** Drops undefined fields, keeping the listed order. */
function canonicalOrder(fields: Record<string, Json | undefined>): Json {
  const out: { [key: string]: Json } = {};
  for (const [key, value] of Object.entries(fields)) if (value !== undefined) out[key] = value;
  return out;
}

/** The text of `mcp.json`: two-space JSON with a fixed key order and a trailing newline. */
export function manifestText(manifest: Manifest): string {
  const json = canonicalOrder({
    name: manifest.name,
    version: manifest.version,
    description: manifest.description,
    tools: manifest.tools.map(toolJson),
    secrets: manifest.secrets,
    egress: manifest.egress,
    limits: canonicalOrder({ ...manifest.limits }),
    auth: canonicalOrder({ scopes: manifest.auth.scopes }),
    // Only servers with views carry the key: every other manifest keeps its bytes.
    resources: manifest.resources.length > 0 ? manifest.resources.map(resourceJson) : undefined,
  });
  return `${JSON.stringify(json, null, 2)}\n`;
}

const RESERVED = new Set(
  'break case catch class const continue debugger default delete do else enum export extends false finally for function if import in instanceof let new null return super switch this throw true try typeof var void while with yield await implements interface package private protected public static manifest startServer'.split(
    ' ',
  ),
);

function identifiers(names: string[]): string[] {
  const used = new Set<string>();
  return names.map((name) => {
    let id = name.replace(/-([a-zA-Z0-9])/g, (_, c: string) => c.toUpperCase()).replace(/-/g, '_');
    if (RESERVED.has(id)) id = `${id}Tool`;
    let unique = id;
    for (let n = 2; used.has(unique); n++) unique = `${id}${n}`;
    used.add(unique);
    return unique;
  });
}

function serverTs(manifest: Manifest): string {
  const names = manifest.tools.map((t) => t.name);
  const ids = identifiers(names);
  const imports = names.map((name, i) => `import ${ids[i]} from './tools/${name}.ts';`);
  return [
    "import { startServer } from '@bmms/runner-template/runtime';",
    "import manifest from '../mcp.json' with { type: 'json' };",
    ...imports,
    '',
    `await startServer({ manifest, tools: [${ids.join(', ')}] });`,
    '',
  ].join('\n');
}

function describeArgs(tool: ToolSpec): string {
  const required = new Set(tool.inputSchema.required ?? []);
  const args = Object.entries(tool.inputSchema.properties).map(([key, schema]) => {
    const type = typeof schema.type === 'string' ? schema.type : 'value';
    return `\`${key}\` (${type}${required.has(key) ? '' : ', optional'})`;
  });
  return args.length > 0 ? args.join(', ') : 'none';
}

function readme(manifest: Manifest, extras: RenderExtras = {}): string {
  const url = `https://<platform-host>/s/${manifest.name}/mcp`;
  const tools = manifest.tools.map(
    (tool) =>
      `- **${tool.name}**${tool.title ? ` (${tool.title})` : ''}: ${tool.description}\n  Arguments: ${describeArgs(tool)}.`,
  );
  const lines = [
    `# ${manifest.name}`,
    '',
    manifest.description,
    '',
    '## Tools',
    '',
    ...tools,
    '',
    '## Connect',
    '',
    `The MCP endpoint is \`${url}\` (Streamable HTTP, OAuth 2.1). Replace \`<platform-host>\` with your platform's address.`,
    '',
    'Claude Code:',
    '',
    '```sh',
    `claude mcp add --transport http ${manifest.name} ${url}`,
    '```',
    '',
    'Cursor (`.cursor/mcp.json`) and other clients that take a JSON config:',
    '',
    '```json',
    JSON.stringify({ mcpServers: { [manifest.name]: { url } } }, null, 2),
    '```',
    '',
    '## Change it',
    '',
    '- `mcp.json` is the contract: tools, their input schemas, secret names, allowed egress hosts, limits.',
    '- `src/tools/<tool>.ts` holds one tool: a zod input schema and its handler. Reach the network only through',
    '  `ctx.fetch` (hosts listed in `egress`) and secrets only through `ctx.secret(NAME)` (names listed in `secrets`).',
    '- Open a pull request: the platform type-checks it, runs its checks, and deploys `main` once they pass.',
    '',
    '## Run it yourself',
    '',
    'The repo stands on its own: Node 24 and npm are all it needs. The base runtime is vendored as',
    `\`${VENDORED_RUNTIME_PATH}\` (the platform checks that it is byte for byte the one it ships).`,
    '',
    '```sh',
    'npm install',
    'npm run typecheck',
    ...(extras.scripts?.test ? ['npm test'] : []),
    'PORT=3000 npm start   # MCP on http://127.0.0.1:3000/mcp',
    '```',
    '',
    `\`${WORKFLOW_PATH}\` runs the same type check${extras.scripts?.test ? ' and tests' : ''} in GitHub Actions.`,
    '',
    ...(extras.notes ? ['## Notes', '', extras.notes.trim(), ''] : []),
    ...(extras.scripts?.test
      ? [
          '## Test',
          '',
          'The tests in `test/` call each tool with a fake context (`test/fake-ctx.ts`: a recorded `fetch` that',
          'keeps to `egress`, fixed secrets). `npm test` runs them with `node --test`: Node 24, no test framework,',
          'against the same installed runtime as `npm run typecheck`. They are never part of the deployed server.',
          '',
        ]
      : []),
  ];
  return lines.join('\n');
}

/** What a template adds to a rendered repo besides its spec: helper and test files, scripts, vetted packages. */
export interface RenderExtras {
  /** Repo-relative path → text; may not replace `mcp.json`, `package.json`, `src/server.ts` or a tool file. */
  files?: Record<string, string>;
  /** `package.json` scripts besides `start` and `typecheck`. */
  scripts?: Record<string, string>;
  /** Runtime dependencies besides the pinned ones (each must be in the platform's dependency allowlist). */
  dependencies?: Record<string, string>;
  /** Markdown for a "Notes" section of the README (set-up steps, limits). */
  notes?: string;
}

function packageJson(manifest: Manifest, extras: RenderExtras): string {
  const pkg = {
    name: manifest.name,
    version: manifest.version,
    description: manifest.description,
    private: true,
    type: 'module',
    scripts: {
      start: 'node src/server.ts',
      typecheck: manifest.resources.length > 0 ? VIEW_TYPECHECK_SCRIPT : 'tsc -p tsconfig.json',
      ...extras.scripts,
    },
    dependencies: sortedRecord({ ...extras.dependencies, ...PINNED_DEPENDENCIES }),
    devDependencies: sortedRecord({ ...PINNED_DEV_DEPENDENCIES }),
  };
  return `${JSON.stringify(pkg, null, 2)}\n`;
}

function sortedRecord(record: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

const GITIGNORE = 'node_modules/\ndist/\n.env\n*.log\n';

/**
 * Renders a ServerSpec (plus a template's extras) into the files of its repository (path → text); same input, same
 * bytes. The vendored runtime tarball (binary) is not among them: whoever commits the files adds it.
 */
export function render(spec: ServerSpecInput, extras: RenderExtras = {}): Record<string, string> {
  const parsed = parseServerSpec(spec);
  const manifest = manifestOf(parsed);
  const files: Record<string, string> = {
    [WORKFLOW_PATH]: WORKFLOW,
    '.gitignore': GITIGNORE,
    'README.md': readme(manifest, extras),
    'mcp.json': manifestText(manifest),
    'package.json': packageJson(manifest, extras),
    'src/server.ts': serverTs(manifest),
    'tsconfig.json': tsconfigText(),
    // Views are type-checked too, with the DOM's types (their own config: the server's has Node's).
    ...(manifest.resources.length > 0 ? { [VIEW_TSCONFIG_PATH]: viewTsconfigText() } : {}),
  };
  for (const tool of parsed.tools) {
    files[`src/tools/${tool.name}.ts`] = tool.source.endsWith('\n') ? tool.source : `${tool.source}\n`;
  }
  for (const [file, text] of Object.entries(extras.files ?? {})) {
    if (file in files && file !== 'README.md' && file !== '.gitignore') {
      throw new Error(`render: extra file "${file}" would replace a file rendered from the spec`);
    }
    files[file] = text;
  }
  return Object.fromEntries(Object.entries(files).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
