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
      'computed keys from data',
      'export const pick = (row: Record<string, string>, key: string) => row[key] ?? row["x-" + key];',
    ],
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
