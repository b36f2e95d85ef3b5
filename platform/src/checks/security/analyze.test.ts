import { describe, expect, it } from 'vitest';
import { analyzeSource } from './analyze.ts';

const HEAD = "import { defineTool } from '@bmms/runner-template/runtime';\nimport { z } from 'zod';\n";
const rules = (body: string, file = 'src/tools/t.ts') => analyzeSource(file, HEAD + body).map((f) => f.rule);

describe('security rules: no false positives on ordinary code', () => {
  it.each([
    [
      'a local fetch taken from ctx',
      'export const f = (ctx: { fetch: typeof globalThis.fetch }) => { const fetch = ctx.fetch; return fetch("https://a.example"); };',
    ],
    [
      'a destructured fetch parameter',
      'export const f = async ({ fetch }: { fetch: (u: string) => Promise<unknown> }) => fetch("x");',
    ],
    [
      'property names like eval, process, constructor-free members',
      'const o = { eval: 1, process: 2, require: 3, fetch: 4 }; export const x = o.eval + o.process + o.require + o.fetch;',
    ],
    [
      'banned words in strings and comments',
      '// eval(process.env.X); require("fs")\nexport const s = "eval(process.env.SECRET) child_process __proto__";',
    ],
    [
      'banned names in type positions',
      'type P = typeof process; interface I { fetch: typeof fetch; b: Buffer } export type Q = P | I;',
    ],
    ['type-only imports of anything', "import type { Stats } from 'node:fs';\nexport type S = Stats;"],
    [
      'a local function named like a global',
      'function setPrototypeOfItems(x: number[]) { return x; } const console = { log: (_: string) => {} }; console.log("x"); export { setPrototypeOfItems };',
    ],
    [
      'shadowing in nested scopes',
      'export function f(process: { env: string }) { return process.env; }\nexport const g = (Buffer: Uint8Array) => Buffer.length;',
    ],
    [
      'borrowing a prototype method',
      'export const has = (o: object, k: string) => Object.prototype.hasOwnProperty.call(o, k);',
    ],
    [
      'a plain-object test against Object.prototype',
      'export const plain = (v: object) => Object.getPrototypeOf(v) === Object.prototype;',
    ],
    ['builtins as callbacks', 'export const xs = ["1", "", "2"].filter(Boolean).map(Number).map(String);'],
    [
      'numeric 2-D indexing',
      'const grid: number[][] = [[0]]; for (let i = 0; i < 1; i++) for (let j = 0; j < 1; j++) grid[i]![j] = i + j; export { grid };',
    ],
    [
      'computed keys from data, guarded as own properties',
      'export const pick = (row: Record<string, string>, key: string) => Object.hasOwn(row, key) ? row[key] : undefined;',
    ],
    [
      'an early return when the key is not an own property',
      'export function get(o: Record<string, unknown>, k: string) { if (typeof o !== "object" || !Object.hasOwn(o, k)) return null; return o[k]; }',
    ],
    [
      'computed reads used as data: compared, counted, formatted, serialised',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the source text of a tool file
      'export const f = (o: Record<string, number>, q: Record<string, string[]>, k: string) => { const n = (o[k] ?? 0) + 1; (q[k] ??= []).push("x"); return `${o[k]}` + String(o[k]) + JSON.stringify(q[k]) + (o[k] === n) + n; };',
    ],
    [
      'a computed read returned from a tool handler (the runtime serialises it)',
      'const NAMES: Record<string, string> = { a: "A" };\nexport default defineTool({ name: "t", input: { k: z.string() }, handler: ({ k }) => { const name = NAMES[k] ?? "?"; return { name }; } });',
    ],
    [
      'an array callback index on a visible array',
      'export const pair = (csv: string, ys: Record<string, string>) => { const [head = [], ...rows] = [csv.split(",")]; return [...head.map((x, i) => [x, ys[i]]), ...Object.keys(ys).map((k, i) => [k, rows[i]])]; };',
    ],
    ['ordinary destructuring', 'export const f = ({ a, b: { c = 1 } }: { a: number; b: { c?: number } }) => a + c;'],
    [
      'error subclasses reading constructor.name',
      'export class ApiError extends Error { constructor(m: string) { super(m); this.name = this.constructor.name; } }',
    ],
    ['import.meta.url', 'export const here = new URL("./", import.meta.url).pathname;'],
    [
      'the manifest as JSON',
      "import manifest from '../../mcp.json' with { type: 'json' };\nexport const n = manifest;",
    ],
    ['a sibling tool file', "import { helper } from './helper.ts';\nexport const h = helper;"],
    ['a literal dynamic import of an allowlisted module', "export const load = () => import('zod');"],
    [
      'labels and class members named like globals',
      'class C { eval() { return 1; } fetch = 2; static process = 3; } outer: for (;;) { break outer; } export { C };',
    ],
    ['arguments inside a function', 'export function count() { return arguments.length; }'],
  ])('%s', (_name, body) => {
    expect(analyzeSource('src/tools/t.ts', HEAD + body)).toEqual([]);
  });
});

describe('security rules: tricks are caught', () => {
  it.each([
    ['indirect eval', 'export const r = (0, eval)("1");', 'no-eval'],
    [
      'Function via an alias of the global object',
      'const g = globalThis; export const F = g.Function;',
      'no-global-object',
    ],
    ['Function.prototype.constructor', 'export const F = Function.prototype.constructor;', 'no-function-constructor'],
    ['.constructor.constructor on a string', 'export const F = "".constructor.constructor;', 'no-constructor-access'],
    [
      'constructor through a const key',
      'const c = "constructor"; export const F = ({} as Record<string, unknown>)[c];',
      'no-constructor-access',
    ],
    [
      'a key joined from an array',
      'const k = ["con", "structor"].join(""); export const F = ({} as Record<string, unknown>)[k];',
      'no-constructor-access',
    ],
    [
      'a built key with an unknown part',
      'export const f = (x: string, o: Record<string, unknown>) => o["__pro" + x];',
      'no-built-member-name',
    ],
    ['__proto__ in an object literal', 'export const o = { __proto__: { polluted: true } };', 'no-proto'],
    [
      '__proto__ by string key',
      'export const f = (o: Record<string, Record<string, unknown>>) => { o["__proto__"]!.x = 1; };',
      'no-proto',
    ],
    ['mutating a builtin static', 'Math.random = () => 4;', 'no-builtin-mutation'],
    ['deleting a builtin member', 'delete (JSON as { parse?: unknown }).parse;', 'no-builtin-mutation'],
    ['prototype assignment via Object.assign', 'Object.assign(String.prototype, { x: 1 });', 'no-prototype-access'],
    [
      'computed access on a builtin',
      'export const f = (k: string) => (Math as unknown as Record<string, unknown>)[k];',
      'no-computed-global-access',
    ],
    ['a global shadowed only by `declare`', 'declare const fetch: (u: string) => void; fetch("x");', 'no-global-fetch'],
    [
      'process.env through a cast',
      'export const e = (process as unknown as { env: Record<string, string> }).env;',
      'no-process-env',
    ],
    ['export of a global', 'export { fetch };', 'no-global-fetch'],
    ['require.resolve', 'export const p = require.resolve("fs");', 'no-require'],
    [
      'a relative import that leaves src/',
      "import x from '../../../outside.ts';\nexport { x };",
      'import-not-allowlisted',
    ],
    [
      'a json import of another file',
      "import x from './data.json' with { type: 'json' };\nexport { x };",
      'import-not-allowlisted',
    ],
    [
      'a node builtin outside the allowlist',
      "import os from 'node:os';\nexport const h = os.hostname();",
      'import-not-allowlisted',
    ],
    ['export * from fs', "export * from 'node:fs';", 'no-fs'],
    ['an unknown global', 'export const t = performance.now();', 'global-not-allowlisted'],
    ['Function.apply through a callback', 'export const xs = ["1"].map(Function);', 'no-function-constructor'],
    ['storing a builtin in an object', 'export const lib = { A: Array };', 'no-builtin-alias'],
  ])('%s', (_name, body, rule) => {
    expect(rules(body)).toContain(rule);
  });
});

// Issue #11: the ways hostile servers reached the Function and AsyncFunction constructors without a
// `.constructor` member expression. Each is written as the attacker wrote it.
const ATTACKS: [string, string, string][] = [
  [
    'a declaration pattern on an async arrow',
    'const { constructor: AsyncFunction } = (async () => {}) as unknown as { constructor: C };\nexport const run = () => AsyncFunction("return process")();',
    'no-constructor-access',
  ],
  [
    'a parameter pattern',
    'export const grab = ({ constructor }: { constructor: C }) => constructor("return process.env")();',
    'no-constructor-access',
  ],
  [
    'a parameter pattern with a default',
    'export const grab = ({ constructor: F }: { constructor: C } = (() => 0) as unknown as { constructor: C }) => F("x")();',
    'no-constructor-access',
  ],
  [
    'a catch clause pattern',
    'export function f() { try { throw () => 0; } catch ({ constructor: F }) { return (F as C)("return process")(); } }',
    'no-constructor-access',
  ],
  [
    'a for-of head pattern',
    'export function f() { for (const { constructor: F } of [() => 0] as unknown as { constructor: C }[]) return F("x")(); }',
    'no-constructor-access',
  ],
  [
    'an assignment pattern',
    'let F: C | undefined;\n({ constructor: F } = (() => 0) as unknown as { constructor: C });\nexport const r = F?.("x");',
    'no-constructor-access',
  ],
  [
    'an assignment pattern nested in an array with a default',
    'let F: unknown;\n[{ constructor: F } = {}] = [() => 0];\nexport { F };',
    'no-constructor-access',
  ],
  [
    'a nested pattern: constructor of the constructor',
    'const { constructor: { constructor: F } } = "" as unknown as { constructor: { constructor: C } };\nexport const r = F("x");',
    'no-constructor-access',
  ],
  [
    'a pattern key spelled from pieces',
    'const { ["constr" + "uctor"]: F } = (() => 0) as unknown as Record<string, C>;\nexport const r = F!("x");',
    'no-constructor-access',
  ],
  [
    'a pattern key known only at run time',
    'export const f = (k: string, fn: Record<string, C>) => { const { [k]: F } = fn; return F!("x")(); };',
    'no-dynamic-read',
  ],
  ['__proto__ through a pattern', 'const { __proto__: p } = {} as { __proto__: object };\nexport { p };', 'no-proto'],
  [
    'a run-time key read returned to the caller',
    'export const pick = (o: Record<string, unknown>, k: string) => o[k];\nexport const F = pick(() => 0, "constructor") as C;',
    'no-dynamic-read',
  ],
  [
    'a run-time key from the input, stored and called',
    'export const f = (query: string, fn: Record<string, C>) => { const k = query.split(",")[0] ?? ""; const F = fn[k]!; return F("return process")(); };',
    'no-dynamic-read',
  ],
  [
    'a key rebuilt at run time from a spread string',
    'const k = [..."rotcurtsnoc"].reverse().join("");\nexport const F = ((() => 0) as unknown as Record<string, C>)[k];',
    'no-dynamic-read',
  ],
  [
    'a .length that is not a number',
    'const o = { length: "constructor" } as unknown as { length: number };\nexport const F = ((() => 0) as unknown as C[])[o.length];',
    'no-dynamic-read',
  ],
  [
    'a let index that becomes a string',
    'let i = 0;\ni = "constructor" as unknown as number;\nexport const F = ((() => 0) as unknown as C[])[i];',
    'no-dynamic-read',
  ],
  [
    'an "index" passed by a map method of its own',
    'const o = { map: (f: (x: unknown, i: string) => unknown) => f(0, "constructor") };\nexport const F = o.map((_, i) => ((() => 0) as unknown as Record<string, C>)[i]);',
    'no-dynamic-read',
  ],
  [
    'a direct call of a run-time read',
    'export const f = (o: Record<string, C>, k: string) => o[k]!("x");',
    'no-dynamic-read',
  ],
  [
    'call() on a run-time read',
    'export const f = (o: Record<string, C>, k: string) => { o[k]!.call(null, "x"); };',
    'no-dynamic-read',
  ],
  [
    'writing through a run-time read (prototype pollution)',
    'export const f = (o: Record<string, Record<string, boolean>>, k: string) => { o[k]!.isAdmin = true; };',
    'no-dynamic-read',
  ],
  [
    'a thenable the runtime would await',
    'export default defineTool({ name: "t", input: { k: z.string() }, handler: ({ k }) => ({ then: ((() => 0) as unknown as Record<string, unknown>)[k] }) });',
    'no-dynamic-read',
  ],
  [
    'a tagged template handing the value over',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: the source text of a tool file
    'const tag = (_: TemplateStringsArray, v: unknown) => v;\nexport const f = (o: Record<string, unknown>, k: string) => tag`${o[k]}`;',
    'no-dynamic-read',
  ],
  [
    'a guard with a call in between that can delete the own property',
    'export function f(o: Record<string, unknown>, k: string, touch: () => void) { if (!Object.hasOwn(o, k)) return; touch(); return o[k]; }',
    'no-dynamic-read',
  ],
  [
    'an "index" passed by the map method of a parameter',
    'function g(o: { map: (f: (x: unknown, i: string) => unknown) => unknown[] }) { return o.map((_, i) => ((() => 0) as unknown as Record<string, C>)[i]); }\nexport const F = g({ map: (f) => [f(0, "constructor")] })[0];',
    'no-dynamic-read',
  ],
  [
    'an exported let assigned a run-time read',
    'export let F: unknown;\nexport function set(o: Record<string, unknown>, k: string) { F = o[k]; }',
    'no-dynamic-read',
  ],
  [
    'a table lookup that reaches the code through "constructor"',
    'type R = Record<string, unknown>;\nexport const f = (o: R, k: string) => BANNED[k];\nconst BANNED: R = {};',
    'no-dynamic-read',
  ],
  [
    'a guard on another key',
    'export const f = (o: Record<string, unknown>, k: string, j: string) => (Object.hasOwn(o, j) ? o[k] : null);',
    'no-dynamic-read',
  ],
];

describe('security rules: ways to the code constructors without naming them (issue #11)', () => {
  it.each(ATTACKS)('%s', (_name, body, rule) => {
    expect(rules(`type C = (...s: string[]) => () => unknown;\n${body}`)).toContain(rule);
  });
});

describe('security rules: names chosen by the checked code', () => {
  it('a global or module named "constructor" is a finding, not a crash of the check', () => {
    const found = rules(
      "import x from 'constructor';\nexport const f = () => [constructor, x, hasOwnProperty];\nexport const g = (o: { constructor: { has: unknown } }) => o.map((_: unknown, i: number) => i);",
    );
    expect(found).toContain('import-not-allowlisted');
    expect(found).toContain('global-not-allowlisted');
  });
});

describe('security rules: findings name what to do', () => {
  it('names file, line, rule, why and fix', () => {
    const [finding] = analyzeSource(
      'src/tools/run.ts',
      "import { z } from 'zod';\n\nimport { exec } from 'node:child_process';\n",
    );
    expect(finding).toEqual({
      file: 'src/tools/run.ts',
      line: 3,
      rule: 'no-child-process',
      message: 'imports "node:child_process": generated code may not start processes',
      fix: 'remove it; call a web API with ctx.fetch instead',
    });
  });
});
