import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript-api';
import { describe, expect, it } from 'vitest';
import { ApiError, ERRORS, type ErrorCode } from '../src/errors.ts';

// The one error table (src/errors.ts) against everything that must agree with it: the REST API docs' error
// table, the tests that produce each code, and the sources, which make errors only from the table and leave
// rendering them to the one error middleware. Sources are read with TypeScript's parser, so comments and
// strings never count as code.
const PLATFORM = path.resolve(import.meta.dirname, '..');
const API_DOCS = path.resolve(PLATFORM, '../site/src/content/docs/api.md');
const CODES = Object.keys(ERRORS) as ErrorCode[];

function filesUnder(dir: string, keep: (file: string) => boolean): string[] {
  return readdirSync(dir).flatMap((name) => {
    if (name === 'node_modules' || name === 'fixtures' || name === 'corpus') return [];
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? filesUnder(full, keep) : keep(full) ? [full] : [];
  });
}

const isTest = (file: string) => file.endsWith('.test.ts');
const SOURCES = filesUnder(path.join(PLATFORM, 'src'), (f) => f.endsWith('.ts') && !isTest(f));
const TESTS = [
  ...filesUnder(path.join(PLATFORM, 'src'), isTest),
  ...filesUnder(path.join(PLATFORM, 'test'), (f) => f.endsWith('.ts')),
].filter((f) => f !== import.meta.filename);

const rel = (file: string) => path.relative(PLATFORM, file);

/** Every node of a file, depth first. */
function* nodesOf(file: string): Generator<ts.Node> {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const stack: ts.Node[] = [source];
  for (let node = stack.pop(); node; node = stack.pop()) {
    yield node;
    stack.push(...node.getChildren(source));
  }
}

/** The rows of the "Errors" table of the REST API docs: code → status. */
function documentedCodes(): Map<string, number> {
  const page = readFileSync(API_DOCS, 'utf8');
  const section = page.slice(page.indexOf('\n## Errors\n'));
  const rows = new Map<string, number>();
  for (const m of section.matchAll(/^\| `([^`]+)` +\| (\d{3}) +\|/gm)) rows.set(m[1] as string, Number(m[2]));
  return rows;
}

/** Whether an expression is, or JSON.stringify()s, an object literal with an `error` property. */
function isErrorBody(node: ts.Node): boolean {
  if (ts.isObjectLiteralExpression(node)) {
    return node.properties.some((p) => p.name !== undefined && p.name.getText() === 'error');
  }
  if (ts.isCallExpression(node) && node.expression.getText() === 'JSON.stringify') {
    return node.arguments.some(isErrorBody);
  }
  return false;
}

/**
 * Handlers that write an error body themselves, and why that is right. Everything else throws an ApiError and
 * the error middleware (src/http/middleware.ts) renders it.
 */
const OWN_ERROR_BODIES: { file: string; contains: string; why: string }[] = [
  {
    file: 'src/http/middleware.ts',
    contains: 'apiError.code',
    why: 'the error middleware itself: the one place {"error":{"code","message"}} is written',
  },
  {
    file: 'src/oauth/server.ts',
    contains: "'temporarily_unavailable'",
    why: 'an OAuth endpoint before its keys are loaded: RFC 6749 §5.2 error shape, as the provider answers',
  },
  {
    file: 'src/oauth/server.ts',
    contains: "'rate_limited'",
    why: 'dynamic client registration (/oauth/reg): RFC 7591 §3.2.2 error shape, as the provider answers',
  },
  {
    file: 'src/gateway/mcp.ts',
    contains: '-32700',
    why: 'MCP: the JSON-RPC 2.0 parse error the instance itself answers to a body it cannot parse',
  },
  {
    file: 'src/egress/proxy.ts',
    contains: 'error.code',
    why: "the egress proxy: not the platform's HTTP surface (only instances reach it); its codes are the egress policy's rule names",
  },
];

describe('the error table (src/errors.ts)', () => {
  it('spells every code in snake_case and gives it an error status', () => {
    for (const code of CODES) {
      expect(code).toMatch(/^[a-z]+(_[a-z]+)*$/);
      expect(ERRORS[code].status, code).toBeGreaterThanOrEqual(400);
      expect(ERRORS[code].status, code).toBeLessThan(600);
    }
  });

  it('makes errors whose code and status are the entry’s', () => {
    const error = new ApiError('merge_conflict', ['src/a.ts']);
    expect(error).toMatchObject({ code: 'merge_conflict', status: 409, details: { paths: ['src/a.ts'] } });
    expect(error.message).toBe('the change conflicts with main in: src/a.ts');
    expect(new ApiError('too_many_attempts', 7).headers).toEqual({ 'Retry-After': '7' });
  });

  it('is documented, code for code and status for status, in the REST API docs’ error table', () => {
    const documented = Object.fromEntries(documentedCodes());
    const table = Object.fromEntries(CODES.map((code) => [code, ERRORS[code].status]));
    // Both ways: a code the docs lack, and a documented code no handler can answer any more.
    expect(documented).toEqual(table);
  });

  it('has every code produced and asserted by some test', () => {
    const literals = new Map<string, Set<string>>();
    for (const file of TESTS) {
      for (const node of nodesOf(file)) {
        if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) {
          const files = literals.get(node.text) ?? new Set<string>();
          literals.set(node.text, files.add(rel(file)));
        }
      }
    }
    const untested = CODES.filter((code) => !literals.has(code));
    expect(untested, 'codes no test names: add a test that produces each').toEqual([]);
  });

  it('is the only place an ApiError is made: no `new ApiError(` elsewhere in src/', () => {
    const elsewhere = SOURCES.filter((f) => rel(f) !== 'src/errors.ts').flatMap((file) =>
      [...nodesOf(file)]
        .filter((n) => ts.isNewExpression(n) && n.expression.getText() === 'ApiError')
        .map((n) => `${rel(file)}: ${n.getText().slice(0, 60)}`),
    );
    expect(elsewhere).toEqual([]);
  });

  it('is rendered by the one error middleware: no handler writes an error body itself', () => {
    const written: string[] = [];
    for (const file of SOURCES) {
      for (const node of nodesOf(file)) {
        if (!ts.isCallExpression(node) || !ts.isPropertyAccessExpression(node.expression)) continue;
        if (!['json', 'send', 'end', 'write'].includes(node.expression.name.text)) continue;
        if (!node.arguments.some(isErrorBody)) continue;
        const text = node.getText();
        const allowed = OWN_ERROR_BODIES.some((a) => a.file === rel(file) && text.includes(a.contains));
        if (!allowed) written.push(`${rel(file)}: ${text.slice(0, 80)}`);
      }
    }
    expect(written, 'throw an error of src/errors.ts instead').toEqual([]);
  });

  it('keeps the allowlist of own error bodies honest: each entry still matches one', () => {
    for (const entry of OWN_ERROR_BODIES) {
      const file = path.join(PLATFORM, entry.file);
      const found = [...nodesOf(file)].some(
        (n) =>
          ts.isCallExpression(n) &&
          ts.isPropertyAccessExpression(n.expression) &&
          n.arguments.some(isErrorBody) &&
          n.getText().includes(entry.contains),
      );
      expect(found, `${entry.file} (${entry.why})`).toBe(true);
    }
  });
});
