import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript-api';
import { describe, expect, it } from 'vitest';

// Functions past ~100 lines become named steps (CONVENTIONS.md: "Where the house drifted"). This holds the line at
// MAX_LINES for the source of the server-side workspaces, read with TypeScript's own parser. It lives here because
// only platform depends on the `typescript-api` parser; it scans the other workspaces too.
const ROOT = path.resolve(import.meta.dirname, '../..');
const SOURCE_DIRS = ['platform/src', 'reconciler/src', 'runner-template/src', 'gitserver/src'];
const MAX_LINES = 120;

function sourcesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return name === 'node_modules' ? [] : sourcesUnder(full);
    return /\.(ts|mts|cts)$/.test(name) && !/\.(test|d)\.ts$/.test(name) ? [full] : [];
  });
}

/** Every function of `text` (declarations, expressions, arrows, methods, constructors, accessors) longer than `max` lines. */
function longFunctions(file: string, text: string, max: number): string[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const lineOf = (pos: number) => source.getLineAndCharacterOfPosition(pos).line + 1;
  const found: string[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isFunctionLike(node) && 'body' in node && node.body) {
      const first = lineOf(node.getStart(source));
      const lines = lineOf(node.end) - first + 1;
      if (lines > max) found.push(`${file}:${first} ${nameOf(node, source)} (${lines} lines)`);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/** A function's name, or the name it is stored under (`const f = () => …`, `{ f() {} }`, `router.get('/x', …)`). */
function nameOf(node: ts.Node, source: ts.SourceFile): string {
  const own = (node as { name?: ts.Node }).name;
  if (own) return own.getText(source);
  if (ts.isConstructorDeclaration(node)) return 'constructor';
  const p = node.parent;
  if ((ts.isVariableDeclaration(p) || ts.isPropertyAssignment(p) || ts.isPropertyDeclaration(p)) && p.name) {
    return p.name.getText(source);
  }
  if (ts.isCallExpression(p)) return `a callback of ${p.expression.getText(source).slice(0, 40)}`;
  return 'an anonymous function';
}

describe('function size', () => {
  it(`keeps every function of ${SOURCE_DIRS.join(', ')} at ${MAX_LINES} lines or fewer`, () => {
    const files = SOURCE_DIRS.flatMap((dir) => sourcesUnder(path.join(ROOT, dir)));
    expect(files.length).toBeGreaterThan(100);
    const long = files.flatMap((file) =>
      longFunctions(path.relative(ROOT, file), readFileSync(file, 'utf8'), MAX_LINES),
    );
    expect(long).toEqual([]);
  });

  it('finds a function that is too long, and names it (the scanner itself works)', () => {
    const body = (n: number) => Array.from({ length: n }, (_, i) => `  step(${i});`).join('\n');
    const text = [
      // exactly the limit: not reported
      `export function short() {\n${body(10)}\n}`,
      `export const long = async () => {\n${body(11)}\n};`,
      `class Loop {\n  reconcile() {\n${body(12)}\n  }\n}`,
      `router.get('/x', (req, res) => {\n${body(11)}\n});`,
    ].join('\n\n');
    expect(longFunctions('src/x.ts', text, 12)).toEqual([
      'src/x.ts:14 long (13 lines)',
      'src/x.ts:29 reconcile (14 lines)',
      'src/x.ts:45 a callback of router.get (13 lines)',
    ]);
  });
});
