import type { Dirent } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import ts from 'typescript-api';
import type { Finding } from '../types.ts';
import { SECURITY_RULES, type SecurityRule } from './rules.ts';

/**
 * The security rules of views (MCP Apps) under `ui/`: HTML holds no code (no inline script, no inline
 * event-handler attribute, no javascript: URL, no script from another origin), and the view's scripts run no
 * code from strings (eval, Function, string timers), build no HTML from strings, and import only the view
 * bridge and their own files. The view runs in the host's sandbox, not the server's, so the server rules'
 * allowlist of globals does not apply: the DOM is what a view is for.
 */

/** What a view script may import by bare name. */
export const VIEW_MODULES: readonly string[] = ['@bmms/runner-template/view'];

const SCRIPT_FILE = /\.(?:[cm]?ts|tsx|[cm]?js)$/;
const HTML_FILE = /\.html?$/;
// srcdoc: a frame's whole document from a string, whose inline scripts the view's CSP ('unsafe-inline') lets run.
const HTML_SINKS = new Set(['innerHTML', 'outerHTML', 'srcdoc']);
/** Attributes whose value is code or a document: set with setAttribute, they are what the HTML rules refuse. */
const CODE_ATTRIBUTE = /^(?:on[a-z]+|srcdoc)$/i;
const HTML_SINK_CALLS = new Set(['insertAdjacentHTML', 'write', 'writeln', 'createContextualFragment']);
const STRING_TIMERS = new Set(['setTimeout', 'setInterval']);

function finding(file: string, line: number | undefined, rule: SecurityRule, what: string): Finding {
  const { why, fix } = SECURITY_RULES[rule];
  return { file, ...(line ? { line } : {}), rule, message: `${what}: ${why}`, fix };
}

const lineAt = (text: string, index: number): number => text.slice(0, index).split('\n').length;

/** Findings of one HTML file of a view. */
export function analyzeViewHtml(file: string, text: string): Finding[] {
  const out: Finding[] = [];
  for (const m of text.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script\s*>/gi)) {
    const attrs = m[1] ?? '';
    const src = /\bsrc\s*=\s*["']?([^"'\s>]+)/i.exec(attrs)?.[1];
    const line = lineAt(text, m.index);
    if (src === undefined) {
      if ((m[2] ?? '').trim() !== '' && !/\btype\s*=\s*["']?application\/(?:ld\+)?json/i.test(attrs)) {
        out.push(finding(file, line, 'view-inline-script', 'has an inline <script>'));
      }
    } else if (/^(?:[a-z][a-z0-9+.-]*:|\/\/)/i.test(src)) {
      out.push(finding(file, line, 'view-remote-script', `loads the script "${src}"`));
    }
  }
  for (const m of text.matchAll(/<[a-z][\w-]*\b[^>]*?\s(on[a-z]+)\s*=/gi)) {
    out.push(finding(file, lineAt(text, m.index), 'view-inline-handler', `sets the ${m[1]} attribute`));
  }
  for (const m of text.matchAll(/\s(?:href|src|action|formaction)\s*=\s*["']?\s*javascript:/gi)) {
    out.push(finding(file, lineAt(text, m.index), 'view-javascript-url', 'uses a javascript: URL'));
  }
  return out;
}

function memberName(node: ts.Expression): string | undefined {
  if (ts.isPropertyAccessExpression(node)) return node.name.text;
  if (ts.isElementAccessExpression(node) && ts.isStringLiteralLike(node.argumentExpression)) {
    return node.argumentExpression.text;
  }
  return undefined;
}

/** Findings of one script of a view (TypeScript or JavaScript). */
export function analyzeViewScript(file: string, text: string): Finding[] {
  const kind = /x$/.test(file) ? ts.ScriptKind.TSX : /ts$/.test(file) ? ts.ScriptKind.TS : ts.ScriptKind.JS;
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, kind);
  const out: Finding[] = [];
  const line = (node: ts.Node) => sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1;
  const checkModule = (node: ts.Node, spec: ts.Expression, how: string) => {
    if (!ts.isStringLiteralLike(spec)) {
      out.push(finding(file, line(node), 'no-dynamic-import', `${how} with a computed specifier`));
      return;
    }
    const name = spec.text;
    if (name.startsWith('./') || name.startsWith('../')) {
      const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), name));
      if (!target.startsWith('ui/') || !SCRIPT_FILE.test(target)) {
        out.push(finding(file, line(node), 'view-import-not-allowlisted', `${how} "${name}", not a script under ui/`));
      }
    } else if (!VIEW_MODULES.includes(name)) {
      out.push(finding(file, line(node), 'view-import-not-allowlisted', `${how} "${name}"`));
    }
  };
  const visit = (node: ts.Node): void => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier) {
      const typeOnly = ts.isImportDeclaration(node) ? node.importClause?.isTypeOnly : node.isTypeOnly;
      if (!typeOnly) checkModule(node, node.moduleSpecifier, ts.isImportDeclaration(node) ? 'imports' : 're-exports');
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const spec = node.arguments[0];
      if (spec) checkModule(node, spec, 'import()s');
    } else if (ts.isIdentifier(node) && node.text === 'eval' && !isMemberName(node)) {
      out.push(finding(file, line(node), 'no-eval', 'uses eval'));
    } else if (
      ts.isIdentifier(node) &&
      node.text === 'Function' &&
      !isMemberName(node) &&
      !ts.isTypeNode(node.parent)
    ) {
      out.push(finding(file, line(node), 'no-function-constructor', 'uses the Function constructor'));
    } else if (ts.isCallExpression(node)) {
      const callee = ts.isIdentifier(node.expression) ? node.expression.text : memberName(node.expression);
      const first = node.arguments[0];
      if (callee && STRING_TIMERS.has(callee) && first && !ts.isFunctionLike(first) && !ts.isIdentifier(first)) {
        if (ts.isStringLiteralLike(first) || ts.isTemplateExpression(first) || ts.isBinaryExpression(first)) {
          out.push(finding(file, line(node), 'no-eval', `passes a string to ${callee}, which runs it as code`));
        }
      }
      if (
        callee &&
        HTML_SINK_CALLS.has(callee) &&
        (callee !== 'write' && callee !== 'writeln' ? true : isDocument(node))
      ) {
        out.push(finding(file, line(node), 'view-html-sink', `calls ${callee}`));
      }
      const attribute = node.arguments[callee === 'setAttributeNS' ? 1 : 0];
      if ((callee === 'setAttribute' || callee === 'setAttributeNS') && attribute) {
        // A computed name could be any of them: refused too, as a computed import is.
        if (!ts.isStringLiteralLike(attribute) || CODE_ATTRIBUTE.test(attribute.text)) {
          const what = ts.isStringLiteralLike(attribute) ? `"${attribute.text}"` : 'a computed attribute';
          out.push(finding(file, line(node), 'view-html-sink', `sets ${what} with ${callee}`));
        }
      }
    } else if (ts.isBinaryExpression(node) && isAssignment(node.operatorToken.kind)) {
      // Every assignment: `+=` appends markup as surely as `=` replaces it.
      const name = memberName(node.left);
      if (name && HTML_SINKS.has(name)) out.push(finding(file, line(node), 'view-html-sink', `assigns to ${name}`));
    } else if (
      (ts.isPropertyAssignment(node) || ts.isShorthandPropertyAssignment(node)) &&
      ts.isIdentifier(node.name) &&
      HTML_SINKS.has(node.name.text)
    ) {
      // Object.assign(el, { innerHTML }) sets it as surely as an assignment does.
      out.push(finding(file, line(node), 'view-html-sink', `names ${node.name.text} as a property`));
    } else if (ts.isStringLiteralLike(node) && HTML_SINKS.has(node.text) && !namedElsewhere(node)) {
      // Reflect.set(el, 'innerHTML', …), { ['innerHTML']: … }: the sink's name as a string.
      out.push(finding(file, line(node), 'view-html-sink', `names ${node.text} in a string`));
    } else if (
      ts.isBinaryExpression(node) &&
      node.operatorToken.kind === ts.SyntaxKind.PlusToken &&
      !isConcatenated(node)
    ) {
      // el['inner' + 'HTML'], 'on' + 'load': a sink's name put together from pieces.
      const built = concatenated(node);
      if (built !== undefined && (HTML_SINKS.has(built) || CODE_ATTRIBUTE.test(built))) {
        out.push(finding(file, line(node), 'view-html-sink', `puts together the name ${built}`));
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

/** A string the other rules already judge: an element access key (assignments), an attribute name, a piece of a sum. */
function namedElsewhere(node: ts.StringLiteralLike): boolean {
  const p = node.parent;
  if (ts.isElementAccessExpression(p) && p.argumentExpression === node) return true;
  if (ts.isBinaryExpression(p) && p.operatorToken.kind === ts.SyntaxKind.PlusToken) return true;
  if (ts.isCallExpression(p)) {
    const callee = ts.isIdentifier(p.expression) ? p.expression.text : memberName(p.expression);
    return callee === 'setAttribute' || callee === 'setAttributeNS';
  }
  return false;
}

/** Whether `node` is a piece of a larger `+` expression (only the whole sum is judged). */
function isConcatenated(node: ts.BinaryExpression): boolean {
  let p = node.parent;
  while (ts.isParenthesizedExpression(p)) p = p.parent;
  return ts.isBinaryExpression(p) && p.operatorToken.kind === ts.SyntaxKind.PlusToken;
}

/** The text of a `+` of string literals (and parentheses), or undefined when any piece is not a literal. */
function concatenated(node: ts.Expression): string | undefined {
  if (ts.isParenthesizedExpression(node)) return concatenated(node.expression);
  if (ts.isStringLiteralLike(node)) return node.text;
  if (ts.isBinaryExpression(node) && node.operatorToken.kind === ts.SyntaxKind.PlusToken) {
    const left = concatenated(node.left);
    const right = concatenated(node.right);
    return left === undefined || right === undefined ? undefined : left + right;
  }
  return undefined;
}

/** `=`, `+=`, `||=` and the other assignment operators. */
function isAssignment(kind: ts.SyntaxKind): boolean {
  return kind >= ts.SyntaxKind.FirstAssignment && kind <= ts.SyntaxKind.LastAssignment;
}

/** `x.eval`, `{ eval: 1 }`: a property called so, not the global. */
function isMemberName(id: ts.Identifier): boolean {
  const p = id.parent;
  return (ts.isPropertyAccessExpression(p) && p.name === id) || (ts.isPropertyAssignment(p) && p.name === id);
}

/** `document.write(...)`: the callee's object is `document`. */
function isDocument(call: ts.CallExpression): boolean {
  const callee = call.expression;
  return (
    ts.isPropertyAccessExpression(callee) && ts.isIdentifier(callee.expression) && callee.expression.text === 'document'
  );
}

/** Runs the view rules over every HTML and script file under `<dir>/ui`. */
export async function scanViews(dir: string, signal?: AbortSignal): Promise<{ files: number; findings: Finding[] }> {
  let entries: Dirent[];
  try {
    entries = await readdir(path.join(dir, 'ui'), { recursive: true, withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { files: 0, findings: [] };
    throw err;
  }
  const findings: Finding[] = [];
  let files = 0;
  for (const e of entries) {
    if (!e.isFile()) continue;
    const file = path.relative(dir, path.join(e.parentPath, e.name)).split(path.sep).join('/');
    const html = HTML_FILE.test(e.name);
    if (!html && !SCRIPT_FILE.test(e.name)) continue;
    const text = await readFile(path.join(dir, file), { encoding: 'utf8', signal });
    files++;
    findings.push(...(html ? analyzeViewHtml(file, text) : analyzeViewScript(file, text)));
  }
  return { files, findings };
}
