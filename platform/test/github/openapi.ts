/**
 * GitHub's published OpenAPI description (`@octokit/openapi`) as the judge of the local GitHub stand-in: every
 * response it sends is validated against the schema of that operation and status, and an instance builder fills
 * the fields a schema requires that the stand-in has no opinion on, so a response is complete by construction and
 * correct by validation.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Ajv, type ValidateFunction } from 'ajv';
import ajvFormats from 'ajv-formats';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Schema = { [key: string]: unknown };

const DOC_ID = 'github';
const doc = JSON.parse(
  readFileSync(createRequire(import.meta.url).resolve('@octokit/openapi/generated/api.github.com.json'), 'utf8'),
) as {
  paths: Record<string, Record<string, Schema>>;
  components: Record<string, Record<string, Schema>>;
};

/**
 * GitHub writes `nullable: true` beside an `enum` without null (check-run `conclusion`) and means "or null", as its
 * API answers; OpenAPI 3.0.3 read literally would refuse that null, so null joins such enums.
 */
function nullableEnums(node: unknown): void {
  if (typeof node !== 'object' || node === null) return;
  if (Array.isArray(node)) {
    for (const item of node) nullableEnums(item);
    return;
  }
  const schema = node as Schema;
  if (schema.nullable === true && Array.isArray(schema.enum) && !schema.enum.includes(null)) schema.enum.push(null);
  // A few schemas (an installation's `suspended_by`, an allOf) say `nullable` without a `type`, which Ajv refuses to
  // compile: the flag is dropped, so such a field is validated by what it combines (stricter, never looser).
  if (schema.nullable === true && schema.type === undefined) delete schema.nullable;
  for (const value of Object.values(schema)) nullableEnums(value);
}
nullableEnums(doc);

/**
 * A few error answers (a 409 of the contents API) are `oneOf` basic-error or repository-rule-violation-error, two
 * schemas every error body matches both of, so `oneOf` read literally refuses any answer: such a pair means "either".
 */
function errorAlternatives(node: unknown): void {
  if (typeof node !== 'object' || node === null) return;
  const schema = node as Schema;
  const errors = ['#/components/schemas/basic-error', '#/components/schemas/repository-rule-violation-error'];
  const branches = schema.oneOf;
  if (Array.isArray(branches) && branches.every((b) => errors.includes((b as Schema).$ref as string))) {
    schema.anyOf = branches;
    delete schema.oneOf;
  }
  for (const value of Object.values(schema)) errorAlternatives(value);
}
errorAlternatives(doc);

const ajv = new Ajv({ strict: false, allErrors: true });
// A CommonJS module: its default import is module.exports, whose `default` is the plugin.
ajvFormats.default(ajv);
ajv.addSchema(doc, DOC_ID);

const pointerEscape = (s: string) => s.replace(/~/g, '~0').replace(/\//g, '~1');

/** An operation of the description: its method and path template. */
interface Operation {
  method: string;
  path: string;
  responses: Record<string, Schema>;
}

const operations = new Map<string, Operation>();
for (const [path, item] of Object.entries(doc.paths)) {
  for (const [method, op] of Object.entries(item)) {
    const id = op.operationId;
    if (typeof id === 'string') operations.set(id, { method, path, responses: op.responses as Record<string, Schema> });
  }
}

/** Follows a local `$ref` (`#/components/…`) of `root` to what it points at, with its JSON pointer. */
function deref(node: Schema, pointer: string, root: unknown = doc): { node: Schema; pointer: string } {
  let current = node;
  let at = pointer;
  while (typeof current.$ref === 'string') {
    at = current.$ref.slice(1);
    current = at
      .split('/')
      .slice(1)
      .reduce<unknown>(
        (o, k) => (o as Record<string, unknown>)[k.replace(/~1/g, '/').replace(/~0/g, '~')],
        root,
      ) as Schema;
  }
  return { node: current, pointer: at };
}

/** The JSON pointer of the response schema of `operationId` at `status`, or null when it declares no JSON body. */
export function responseSchemaPointer(operationId: string, status: number): string | null {
  const op = operations.get(operationId);
  if (!op) throw new Error(`no operation ${operationId} in GitHub's OpenAPI description`);
  const response = op.responses[String(status)];
  if (!response) return null;
  const base = `/paths/${pointerEscape(op.path)}/${op.method}/responses/${status}`;
  const { node, pointer } = deref(response, base);
  const content = node.content as Record<string, { schema?: Schema }> | undefined;
  if (!content?.['application/json']?.schema) return null;
  return `${pointer}/content/application~1json/schema`;
}

/** Whether the operation declares `status` at all. */
export function declares(operationId: string, status: number): boolean {
  return String(status) in (operations.get(operationId)?.responses ?? {});
}

const validators = new Map<string, ValidateFunction>();

/** GitHub's error body, for statuses an operation does not list (401 on every route, 404 of some). */
const BASIC_ERROR = '/components/schemas/basic-error';

/**
 * Validates a response body against the operation's schema for `status` (GitHub's `basic-error` for an error status
 * the operation does not list; `null` operation: an error before any route); returns the problems, empty when valid.
 */
export function validateResponse(operationId: string | null, status: number, body: unknown): string[] {
  const listed = operationId !== null && declares(operationId, status);
  // A redirect (a renamed or transferred repository's old name) carries GitHub's basic-error body on any route.
  const redirect = status === 301 || status === 307;
  if (!listed && status < 400 && !redirect) return [`${operationId} declares no ${status} response`];
  const pointer = listed ? responseSchemaPointer(operationId, status) : BASIC_ERROR;
  if (pointer === null) return body === undefined || body === '' ? [] : [`${operationId} ${status} has no body`];
  let validate = validators.get(pointer);
  if (!validate) {
    validate = ajv.compile({ $ref: `${DOC_ID}#${pointer}` });
    validators.set(pointer, validate);
  }
  if (validate(body)) return [];
  return (validate.errors ?? []).slice(0, 10).map((e) => `${e.instancePath || '/'} ${e.message ?? ''}`);
}

/** The schema at a JSON pointer of a description, `$ref`s followed. */
function schemaAt(pointer: string, root: unknown): Schema {
  return deref({ $ref: `#${pointer}` }, pointer, root).node;
}

/**
 * The smallest instance of a schema that validates: required properties only, nullable ones null, the first
 * enum value or `oneOf`/`anyOf` branch, neutral numbers and strings in the schema's format.
 */
export function minimalInstance(schema: Schema, depth = 0, root: unknown = doc): Json {
  const s = typeof schema.$ref === 'string' ? schemaAt(schema.$ref.slice(1), root) : schema;
  if (depth > 40) return null;
  if (Array.isArray(s.allOf)) {
    const parts = (s.allOf as Schema[]).map((part) => minimalInstance(part, depth + 1, root));
    return Object.assign({}, ...parts.filter((p) => typeof p === 'object' && p !== null && !Array.isArray(p)));
  }
  for (const key of ['oneOf', 'anyOf'] as const) {
    if (Array.isArray(s[key])) return minimalInstance((s[key] as Schema[])[0] ?? {}, depth + 1, root);
  }
  // OpenAPI 3.0 says `nullable: true`, 3.1 (the webhooks' description) a type list with "null".
  if (s.nullable === true || (Array.isArray(s.type) && s.type.includes('null'))) return null;
  if (Array.isArray(s.enum)) return s.enum[0] as Json;
  switch (Array.isArray(s.type) ? s.type[0] : s.type) {
    case 'object': {
      const out: { [key: string]: Json } = {};
      const properties = (s.properties ?? {}) as Record<string, Schema>;
      for (const key of (s.required ?? []) as string[]) {
        out[key] = minimalInstance(properties[key] ?? {}, depth + 1, root);
      }
      return out;
    }
    case 'array':
      return [];
    case 'integer':
    case 'number':
      return typeof s.minimum === 'number' ? s.minimum : 1;
    case 'boolean':
      return false;
    case 'string':
      return s.format === 'date-time'
        ? '2026-01-01T00:00:00Z'
        : s.format === 'uri'
          ? 'https://example.invalid/'
          : s.format === 'email'
            ? 'nobody@example.invalid'
            : '';
    default:
      return s.properties ? minimalInstance({ ...s, type: 'object' }, depth + 1, root) : '';
  }
}

/** A component schema's minimal instance with `fields` laid over it (objects merged deeply, the rest replaced). */
export function instanceOf(component: string, fields: Record<string, unknown>): Json {
  return overlay(minimalInstance({ $ref: `#/components/schemas/${component}` }), fields);
}

function overlay(base: Json, fields: unknown): Json {
  if (typeof fields !== 'object' || fields === null || Array.isArray(fields)) return fields as Json;
  const out: { [key: string]: Json } =
    typeof base === 'object' && base !== null && !Array.isArray(base) ? { ...base } : {};
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    out[key] = overlay(out[key] ?? null, value);
  }
  return out;
}

/**
 * GitHub's webhook description (`@octokit/openapi-webhooks`, OpenAPI 3.1): the payload schema of every event and
 * action, the judge of what the stand-in delivers.
 */
const WEBHOOKS_ID = 'github-webhooks';
const webhooksDoc = JSON.parse(
  readFileSync(
    createRequire(import.meta.url).resolve('@octokit/openapi-webhooks/generated/api.github.com.json'),
    'utf8',
  ),
) as {
  webhooks: Record<string, { post: { requestBody: { content: { 'application/json': { schema: Schema } } } } }>;
};
ajv.addSchema(webhooksDoc, WEBHOOKS_ID);

/** The component schema of a webhook event's payload (`push`, `pull-request-closed`, …), as GitHub documents it. */
function webhookComponent(key: string): string {
  const hook = webhooksDoc.webhooks[key];
  if (!hook) throw new Error(`no webhook ${key} in GitHub's webhook description`);
  const ref = hook.post.requestBody.content['application/json'].schema.$ref;
  if (typeof ref !== 'string') throw new Error(`webhook ${key} has no component schema`);
  return ref.replace('#/components/schemas/', '');
}

/** Validates a webhook payload against GitHub's schema of that event and action; returns the problems. */
export function validateWebhook(key: string, payload: unknown): string[] {
  const pointer = `/components/schemas/${webhookComponent(key)}`;
  const id = `${WEBHOOKS_ID}#${pointer}`;
  let validate = validators.get(id);
  if (!validate) {
    validate = ajv.compile({ $ref: id });
    validators.set(id, validate);
  }
  if (validate(payload)) return [];
  return (validate.errors ?? []).slice(0, 10).map((e) => `${e.instancePath || '/'} ${e.message ?? ''}`);
}

/** A webhook payload of `key`: the schema's minimal instance with `fields` laid over it. */
export function webhookInstance(key: string, fields: Record<string, unknown>): Json {
  const base = minimalInstance({ $ref: `#/components/schemas/${webhookComponent(key)}` }, 0, webhooksDoc);
  return overlay(base, fields);
}
