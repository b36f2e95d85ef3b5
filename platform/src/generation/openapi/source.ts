/** How a request body is sent: JSON, form-encoded, or a string under a given content type. */
export type BodyKind = 'json' | 'form' | { raw: string };

/** One credential an operation sends: where, under which name, with which prefix, from which secret. */
export interface Auth {
  kind: 'header' | 'query' | 'cookie' | 'basic';
  name: string;
  prefix: string;
  secret: string;
}

/** One input of a tool and where it goes in the request. */
export interface InputField {
  /** The key in the tool's input. */
  key: string;
  in: 'path' | 'query' | 'header' | 'body';
  /** The name in the request (parameter name). */
  name: string;
  required: boolean;
  type: string;
  enum: unknown[] | undefined;
}

/** What a generated handler needs to know about its operation. */
export interface HandlerPlan {
  name: string;
  method: string;
  baseUrl: string;
  path: string;
  fields: InputField[];
  auth: Auth[];
  body: BodyKind | null;
  /**
   * The tool declares an `outputSchema`: it returns the API's JSON object, or its JSON array as `{ items }` (the
   * result's `structuredContent`), not text.
   */
  structured: 'object' | 'items' | undefined;
}

const q = (s: string): string => JSON.stringify(s);
const at = (key: string): string => `input[${q(key)}]`;

/** The zod expression of one input (first level only; deeper structure is the manifest's JSON Schema). */
function zodOf(f: InputField): string {
  let z: string;
  const strings = f.enum?.filter((v): v is string => typeof v === 'string') ?? [];
  if (f.type === 'string' && strings.length > 0 && strings.length === f.enum?.length) {
    z = `z.enum([${strings.map(q).join(', ')}])`;
  } else if (f.type === 'string') z = 'z.string()';
  else if (f.type === 'integer') z = 'z.number().int()';
  else if (f.type === 'number') z = 'z.number()';
  else if (f.type === 'boolean') z = 'z.boolean()';
  else if (f.type === 'array') z = 'z.array(z.unknown())';
  else if (f.type === 'object') z = 'z.record(z.string(), z.unknown())';
  else z = 'z.unknown()';
  return f.required ? z : `${z}.optional()`;
}

/** Splits `/repos/{owner}/{repo}` into a TypeScript expression concatenating literals and encoded inputs. */
function pathExpression(path: string, fields: InputField[]): string {
  const byName = new Map(fields.filter((f) => f.in === 'path').map((f) => [f.name, f]));
  const parts = path.split(/\{([^}]+)\}/);
  const pieces = parts.map((piece, i) => {
    if (i % 2 === 0) return piece === '' ? null : q(piece);
    const f = byName.get(piece);
    return f ? `encodeURIComponent(String(${at(f.key)}))` : q(`{${piece}}`);
  });
  return pieces.filter((p): p is string => p !== null).join(' + ') || q('/');
}

/**
 * The TypeScript of `src/tools/<tool>.ts` for one operation: a zod input, and a handler that builds the URL,
 * query, headers and body from the input, adds the credential from its secret, and calls `ctx.fetch`.
 */
export function handlerSource(plan: HandlerPlan): string {
  const shape = plan.fields.map((f) => `    ${q(f.key)}: ${zodOf(f)},`);
  const query = plan.fields.filter((f) => f.in === 'query');
  const headers = plan.fields.filter((f) => f.in === 'header');
  const body = plan.fields.find((f) => f.in === 'body');
  const uses = plan.fields.length > 0;
  const lines: string[] = [
    plan.structured
      ? "import { defineTool, type JsonValue } from '@bmms/runner-template/runtime';"
      : "import { defineTool } from '@bmms/runner-template/runtime';",
    "import { z } from 'zod';",
    '',
    `const BASE_URL = ${q(plan.baseUrl)};`,
    '',
    '/** Adds a query parameter: arrays repeat the name, objects go as JSON, absent values are skipped. */',
    'function addQuery(query: URLSearchParams, name: string, value: unknown): void {',
    '  if (value === undefined || value === null) return;',
    '  if (Array.isArray(value)) {',
    '    for (const item of value) addQuery(query, name, item);',
    '    return;',
    '  }',
    "  query.append(name, typeof value === 'object' ? JSON.stringify(value) : String(value));",
    '}',
    '',
    'export default defineTool({',
    `  name: ${q(plan.name)},`,
    plan.fields.length > 0 ? `  input: {\n${shape.join('\n')}\n  },` : '  input: {},',
    `  async handler(${uses ? 'input' : '_input'}, ctx) {`,
    `    const path = ${pathExpression(plan.path, plan.fields)};`,
    '    const query = new URLSearchParams();',
    ...query.map((f) => `    addQuery(query, ${q(f.name)}, ${at(f.key)});`),
    "    const headers: Record<string, string> = { accept: 'application/json' };",
    ...headers.map(
      (f) => `    if (${at(f.key)} !== undefined) headers[${q(f.name.toLowerCase())}] = String(${at(f.key)});`,
    ),
  ];
  for (const a of plan.auth) {
    const value =
      a.kind === 'basic'
        ? `${q(a.prefix)} + btoa(ctx.secret(${q(a.secret)}))`
        : a.prefix === ''
          ? `ctx.secret(${q(a.secret)})`
          : `${q(a.prefix)} + ctx.secret(${q(a.secret)})`;
    if (a.kind === 'query') lines.push(`    query.set(${q(a.name)}, ${value});`);
    else if (a.kind === 'cookie') lines.push(`    headers.cookie = ${q(`${a.name}=`)} + encodeURIComponent(${value});`);
    else lines.push(`    headers[${q(a.name.toLowerCase())}] = ${value};`);
  }
  lines.push('    let body: string | undefined;');
  if (body && plan.body) {
    const value = at(body.key);
    lines.push(`    if (${value} !== undefined) {`);
    if (plan.body === 'json') {
      lines.push("      headers['content-type'] = 'application/json';", `      body = JSON.stringify(${value});`);
    } else if (plan.body === 'form') {
      lines.push(
        "      headers['content-type'] = 'application/x-www-form-urlencoded';",
        '      const form = new URLSearchParams();',
        `      const fields: unknown = ${value};`,
        "      if (typeof fields === 'object' && fields !== null) {",
        '        for (const [name, item] of Object.entries(fields)) addQuery(form, name, item);',
        '      }',
        '      body = form.toString();',
      );
    } else {
      lines.push(`      headers['content-type'] = ${q(plan.body.raw)};`, `      body = String(${value});`);
    }
    lines.push('    }');
  }
  lines.push(
    '    const search = query.toString();',
    "    const url = BASE_URL + path + (search === '' ? '' : '?' + search);",
    `    const response = await ctx.fetch(url, { method: ${q(plan.method)}, headers, body });`,
    '    const text = await response.text();',
    `    if (!response.ok) throw new Error(${q(`${plan.method} `)} + path + ' failed: HTTP ' + String(response.status) + (text === '' ? '' : ': ' + text.slice(0, 2000)));`,
    ...(plan.structured
      ? structuredReturn(plan)
      : ["    return text === '' ? 'HTTP ' + String(response.status) : text;"]),
    '  },',
    '});',
    '',
  );
  return lines.join('\n');
}

/**
 * The end of a handler whose tool declares an `outputSchema`: the answer's JSON object is returned as it is, a JSON
 * array as `{ items }` (the result's `structuredContent`, and its JSON text); any other answer is a tool error naming it.
 */
function structuredReturn(plan: HandlerPlan): string[] {
  const items = plan.structured === 'items';
  const fits = items
    ? '!Array.isArray(answer)'
    : "typeof answer !== 'object' || answer === null || Array.isArray(answer)";
  return [
    '    let answer: unknown;',
    '    try {',
    '      answer = JSON.parse(text);',
    '    } catch {',
    '      answer = undefined;',
    '    }',
    `    if (${fits}) {`,
    `      throw new Error(${q(`${plan.method} `)} + path + ' answered HTTP ' + String(response.status) + ' with ' + (text === '' ? 'no body' : text.slice(0, 200)) + ${q(`, not the JSON ${items ? 'array' : 'object'} its document describes`)});`,
    '    }',
    items ? '    return { items: answer as JsonValue[] };' : '    return answer as { [key: string]: JsonValue };',
  ];
}

/** A value the tool's zod input accepts for a field: the first enum value, else one of its type. */
function sampleOf(f: InputField): unknown {
  const first = f.enum?.[0];
  if (f.type === 'string')
    return typeof first === 'string' && f.enum?.every((v) => typeof v === 'string') ? first : 'x';
  if (f.type === 'integer' || f.type === 'number') return 1;
  if (f.type === 'boolean') return true;
  if (f.type === 'array') return [];
  if (f.type === 'object') return {};
  return 'x';
}

const SECRET_VALUE = 'test-secret';

/**
 * The TypeScript of `test/<tool>.test.ts` for one operation (run by `node --test` with `test/fake-ctx.ts`): the tool
 * called with its required inputs sends one request with the operation's method, path and credentials to the API,
 * and returns the API's answer; without its required inputs it is refused.
 */
export function handlerTestSource(plan: HandlerPlan): string {
  const input = Object.fromEntries(plan.fields.filter((f) => f.required).map((f) => [f.key, sampleOf(f)]));
  const byName = new Map(plan.fields.filter((f) => f.in === 'path').map((f) => [f.name, f]));
  const path = plan.path.replace(/\{([^}]+)\}/g, (whole, name: string) => {
    const f = byName.get(name);
    return f ? encodeURIComponent(String(input[f.key])) : whole;
  });
  const url = new URL(plan.baseUrl + path);
  const secrets = Object.fromEntries(plan.auth.map((a) => [a.secret, SECRET_VALUE]));
  const checks = plan.auth.map((a) => {
    const value = a.kind === 'basic' ? `${a.prefix}${btoa(SECRET_VALUE)}` : `${a.prefix}${SECRET_VALUE}`;
    if (a.kind === 'query') return `  assert.equal(sent.url.searchParams.get(${q(a.name)}), ${q(value)});`;
    if (a.kind === 'cookie')
      return `  assert.match(sent.headers.get('cookie') ?? '', /${a.name.replace(/\W/g, '\\$&')}=/);`;
    return `  assert.equal(sent.headers.get(${q(a.name)}), ${q(value)});`;
  });
  const required = Object.keys(input).length > 0;
  return [
    "import assert from 'node:assert/strict';",
    "import { it } from 'node:test';",
    `import tool from '../src/tools/${plan.name}.ts';`,
    `import { call, fakeContext, json${required ? ', rejects' : ''} } from './fake-ctx.ts';`,
    '',
    `it(${q(`${plan.name} sends ${plan.method} ${plan.path} and returns the answer`)}, async () => {`,
    `  const ctx = fakeContext({ secrets: ${JSON.stringify(secrets)}, respond: () => json(${plan.structured === 'items' ? '[{ ok: true }]' : '{ ok: true }'}) });`,
    `  const result = await call(tool, ${JSON.stringify(input)}, ctx);`,
    '  const sent = ctx.requests[0];',
    '  assert.ok(sent);',
    '  assert.equal(ctx.requests.length, 1);',
    `  assert.equal(sent.method, ${q(plan.method)});`,
    `  assert.equal(sent.url.origin + sent.url.pathname, ${q(url.origin + url.pathname)});`,
    ...checks,
    plan.structured === 'items'
      ? '  assert.deepEqual(result, { items: [{ ok: true }] });'
      : plan.structured === 'object'
        ? '  assert.deepEqual(result, { ok: true });'
        : '  assert.deepEqual(JSON.parse(String(result)), { ok: true });',
    ...(required ? ['  assert.ok(rejects(tool, {}));'] : []),
    '});',
    '',
  ].join('\n');
}
