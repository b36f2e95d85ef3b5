import { createHash } from 'node:crypto';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import { generateSync } from 'json-schema-faker';

/** What an input is meant to test: a valid one, a valid edge case, or one the schema rejects. */
export type CaseKind = 'valid' | 'edge' | 'invalid';

/** One generated input of a tool. */
export interface ContractCase {
  kind: CaseKind;
  /** What it tries, e.g. `text = "" (empty string)` or `without required "text"`. */
  label: string;
  arguments: Record<string, unknown>;
}

/** Per tool at most this many inputs of each kind (the suite's cost stays bounded for 20-tool servers). */
export const MAX_CASES: Record<CaseKind, number> = { valid: 2, edge: 10, invalid: 10 };
/** Longest string an edge case sends (a `maxLength` above it is tried at this length). */
const LONG_STRING = 10_000;

type Schema = Record<string, unknown>;

/** The seed of a tool's inputs: the same server, tool and schema always get the same inputs. */
export function seedOf(serverName: string, tool: string, inputSchema: unknown): number {
  const digest = createHash('sha256')
    .update(`${serverName}\0${tool}\0${JSON.stringify(inputSchema)}`)
    .digest();
  return digest.readUInt32BE(0) || 1;
}

/** Compiles `schema` as JSON Schema 2020-12 (the dialect of MCP 2025-11-25), ignoring `$schema` and formats. */
export function compileSchema(schema: unknown): ValidateFunction {
  const ajv = new Ajv2020({ strict: false, allErrors: false, validateFormats: false });
  const { $schema: _dialect, ...rest } = (isObject(schema) ? schema : {}) as Schema;
  return ajv.compile(rest);
}

/**
 * Inputs for a tool from its input schema, seeded: valid ones (every optional property, then only the required
 * ones) from json-schema-faker; edge cases (each top-level property at its bounds: empty and long strings, each
 * enum value, 0, negative and extreme numbers, empty and full arrays); invalid ones (each required property missing,
 * each property of the wrong type, past its bounds or outside its enum). Every input is checked against the schema,
 * so a valid or edge case validates and an invalid one does not; ones that come out otherwise are dropped.
 */
export function generateCases(inputSchema: unknown, seed: number): ContractCase[] {
  const schema = (isObject(inputSchema) ? inputSchema : {}) as Schema;
  const validate = compileSchema(schema);
  const valid = validInputs(schema, seed, validate);
  const base = valid[0]?.arguments;
  const cases: ContractCase[] = [...valid];
  const seen = new Set(cases.map((c) => JSON.stringify(c.arguments)));
  const add = (kind: CaseKind, label: string, args: Record<string, unknown>) => {
    const key = JSON.stringify(args);
    if (seen.has(key) || cases.filter((c) => c.kind === kind).length >= MAX_CASES[kind]) return;
    if (validate(args) !== (kind !== 'invalid')) return;
    seen.add(key);
    cases.push({ kind, label, arguments: args });
  };
  if (!base) return cases;
  const properties = isObject(schema.properties) ? (schema.properties as Record<string, unknown>) : {};
  const required = Array.isArray(schema.required) ? schema.required.filter((r) => typeof r === 'string') : [];
  // Round-robin over properties, so a tool with many properties has each tried before one is tried twice.
  const edges = Object.entries(properties).map(([name, s]) =>
    edgeValues(isObject(s) ? s : {}).map((e) => ({ name, ...e })),
  );
  for (let i = 0; edges.some((list) => i < list.length); i++) {
    for (const list of edges) {
      const e = list[i];
      if (e) add('edge', `${e.name} = ${e.label}`, { ...base, [e.name]: e.value });
    }
  }
  for (const name of required) {
    const { [name]: _gone, ...rest } = base;
    add('invalid', `without required "${name}"`, rest);
  }
  const wrong = Object.entries(properties).map(([name, s]) =>
    invalidValues(isObject(s) ? s : {}).map((e) => ({ name, ...e })),
  );
  for (let i = 0; wrong.some((list) => i < list.length); i++) {
    for (const list of wrong) {
      const e = list[i];
      if (e) add('invalid', `${e.name} = ${e.label}`, { ...base, [e.name]: e.value });
    }
  }
  return cases;
}

/** Up to two valid inputs: with every optional property, then with only the required ones. */
function validInputs(schema: Schema, seed: number, validate: ValidateFunction): ContractCase[] {
  const out: ContractCase[] = [];
  const tries: { label: string; options: Record<string, unknown> }[] = [
    { label: 'every property', options: { alwaysFakeOptionals: true } },
    { label: 'required properties only', options: { optionalsProbability: 0, fillProperties: false } },
  ];
  for (const { label, options } of tries) {
    for (let attempt = 0; attempt < 5; attempt++) {
      let value: unknown;
      try {
        value = generateSync(tame(schema) as never, { seed: seed + attempt, maxDepth: 3, ...options });
      } catch {
        break;
      }
      if (!isObject(value) || !validate(value)) continue;
      if (!out.some((c) => JSON.stringify(c.arguments) === JSON.stringify(value))) {
        out.push({ kind: 'valid', label: `valid, ${label} (seed ${seed + attempt})`, arguments: value });
      }
      break;
    }
  }
  return out;
}

/** Longest string and array a valid input gets (edge cases go to the bounds on their own). */
const VALID_MAX_LENGTH = 64;
const VALID_MAX_ITEMS = 5;

/**
 * A copy of `schema` whose strings and arrays stay small (`maxLength`, `maxItems` lowered, never below the minimum):
 * a valid input is about shape, not size, and a 1 MB string per call would make the check slow.
 */
function tame(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(tame);
  if (!isObject(schema)) return schema;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(schema)) out[key] = key === 'enum' || key === 'const' ? value : tame(value);
  const cap = (max: string, min: string, limit: number) => {
    const floor = Math.max(num(schema[min]) ?? 0, limit);
    if (num(schema[max]) === undefined || (schema[max] as number) > floor) out[max] = floor;
  };
  const types = typesOf(schema);
  if (types.has('string') || num(schema.maxLength) !== undefined) cap('maxLength', 'minLength', VALID_MAX_LENGTH);
  if (types.has('array') || num(schema.maxItems) !== undefined) cap('maxItems', 'minItems', VALID_MAX_ITEMS);
  return out;
}

interface Tried {
  label: string;
  value: unknown;
}

/** Values at the edges of one property's schema (each still has to validate in place). */
function edgeValues(s: Schema): Tried[] {
  const out: Tried[] = [];
  if (Array.isArray(s.enum)) for (const v of s.enum) out.push({ label: `${JSON.stringify(v)} (enum value)`, value: v });
  const types = typesOf(s);
  if (types.has('string')) {
    const min = num(s.minLength) ?? 0;
    const max = Math.min(num(s.maxLength) ?? LONG_STRING, LONG_STRING);
    out.push({ label: '"" (empty string)', value: '' });
    if (min > 0) out.push({ label: `${min} characters (minLength)`, value: 'a'.repeat(min) });
    out.push({ label: `${max} characters${s.maxLength !== undefined ? ' (maxLength)' : ''}`, value: 'x'.repeat(max) });
    out.push({ label: '" " (whitespace only)', value: ' ' });
    out.push({ label: 'non-ASCII text', value: 'Ünïcødé ✓ 日本語 🙂' });
  }
  if (types.has('integer') || types.has('number')) {
    const integer = !types.has('number');
    const step = integer ? 1 : 0.5;
    if (num(s.minimum) !== undefined) out.push({ label: `${s.minimum} (minimum)`, value: s.minimum });
    if (num(s.maximum) !== undefined) out.push({ label: `${s.maximum} (maximum)`, value: s.maximum });
    if (num(s.exclusiveMinimum) !== undefined) {
      const v = (s.exclusiveMinimum as number) + step;
      out.push({ label: `${v} (just above exclusiveMinimum)`, value: v });
    }
    if (num(s.exclusiveMaximum) !== undefined) {
      const v = (s.exclusiveMaximum as number) - step;
      out.push({ label: `${v} (just below exclusiveMaximum)`, value: v });
    }
    out.push({ label: '0', value: 0 }, { label: '-1', value: -1 });
    if (!integer) out.push({ label: '0.5 (a fraction)', value: 0.5 });
    const big = integer ? Number.MAX_SAFE_INTEGER : 1e308;
    out.push({ label: `${big} (very large)`, value: big }, { label: `${-big} (very small)`, value: -big });
  }
  if (types.has('boolean')) out.push({ label: 'true', value: true }, { label: 'false', value: false });
  if (types.has('array')) {
    const min = num(s.minItems) ?? 0;
    const item = isObject(s.items) ? (s.items as Schema) : {};
    out.push({ label: '[] (empty array)', value: [] });
    const sample = sampleOf(item);
    if (sample !== undefined) {
      if (min > 0) out.push({ label: `${min} item(s) (minItems)`, value: Array(min).fill(sample) });
      const max = num(s.maxItems);
      if (max !== undefined && max <= 1000)
        out.push({ label: `${max} items (maxItems)`, value: Array(max).fill(sample) });
    }
  }
  if (types.has('object')) out.push({ label: '{} (empty object)', value: {} });
  if (types.has('null')) out.push({ label: 'null', value: null });
  return out;
}

/** Values one property's schema rejects: the wrong type, past a bound, outside the enum. */
function invalidValues(s: Schema): Tried[] {
  const out: Tried[] = [];
  const types = typesOf(s);
  const wrongType: Tried[] = [
    { label: '"not a number" (a string)', value: 'not a number' },
    { label: '12345 (a number)', value: 12345 },
    { label: '{"unexpected":true} (an object)', value: { unexpected: true } },
    { label: '["unexpected"] (an array)', value: ['unexpected'] },
    { label: 'true (a boolean)', value: true },
    { label: 'null', value: null },
  ];
  // One value of another type first: it is the mistake a model makes most often.
  const first = wrongType.find(
    (w) => !types.has(jsonType(w.value)) && !(types.has('number') && jsonType(w.value) === 'integer'),
  );
  if (first && types.size > 0) out.push(first);
  if (Array.isArray(s.enum)) out.push({ label: '"not-in-the-enum" (outside the enum)', value: 'not-in-the-enum' });
  if (num(s.maximum) !== undefined)
    out.push({ label: `${(s.maximum as number) + 1} (above maximum)`, value: (s.maximum as number) + 1 });
  if (num(s.minimum) !== undefined)
    out.push({ label: `${(s.minimum as number) - 1} (below minimum)`, value: (s.minimum as number) - 1 });
  if (num(s.maxLength) !== undefined && (s.maxLength as number) < LONG_STRING) {
    const n = (s.maxLength as number) + 1;
    out.push({ label: `${n} characters (above maxLength)`, value: 'x'.repeat(n) });
  }
  if (num(s.minLength) !== undefined && (s.minLength as number) > 0)
    out.push({ label: '"" (below minLength)', value: '' });
  if (num(s.minItems) !== undefined && (s.minItems as number) > 0)
    out.push({ label: '[] (below minItems)', value: [] });
  if (types.has('integer') && !types.has('number')) out.push({ label: '1.5 (not an integer)', value: 1.5 });
  // Besides, null (a model's other usual mistake); more wrong types would add calls, not findings.
  if (types.size > 0 && !types.has('null') && first?.value !== null) out.push({ label: 'null', value: null });
  return out;
}

/** A small valid value of an item schema, for arrays of a given length. */
function sampleOf(s: Schema): unknown {
  if (Array.isArray(s.enum) && s.enum.length > 0) return s.enum[0];
  if ('const' in s) return s.const;
  const types = typesOf(s);
  if (types.has('string')) return 'a'.repeat(Math.max(num(s.minLength) ?? 1, 1));
  if (types.has('integer') || types.has('number')) return num(s.minimum) ?? (num(s.exclusiveMinimum) ?? 0) + 1;
  if (types.has('boolean')) return true;
  if (types.has('object')) return {};
  return undefined;
}

function typesOf(s: Schema): Set<string> {
  if (typeof s.type === 'string') return new Set([s.type]);
  if (Array.isArray(s.type)) return new Set(s.type.filter((t): t is string => typeof t === 'string'));
  return new Set();
}

function jsonType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
