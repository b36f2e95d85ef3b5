import {
  parseServerSpec,
  type RenderExtras,
  type ServerSpec,
  type ServerTool,
  templateFiles,
} from '@bmms/runner-template';
import { egressHostProblems } from '../../checks/manifest.ts';
import { normalizeToolName, SHADOWED_TOOL_NAMES, tokensOf } from '../../checks/surface.ts';
import { openapiBadBaseUrl, openapiNoServer, openapiOverBudget } from '../../errors.ts';
import type { Plan } from '../../plans.ts';
import type { ApiDocument } from './document.ts';
import { isObj, type Operation } from './operations.ts';
import {
  type Auth,
  type BodyKind,
  type HandlerPlan,
  handlerSource,
  handlerTestSource,
  type InputField,
} from './source.ts';
import { plainText, trimToTokens } from './text.ts';

type Obj = Record<string, unknown>;
type JsonSchema = Record<string, unknown>;

/** How the caller overrides what the document says about auth and servers. */
export interface ConvertOptions {
  /** The API's base URL; default: the document's first server. */
  baseUrl?: string | undefined;
  /** Auth for documents that declare no security scheme (or to override the one they declare). */
  auth?: { type: 'bearer' | 'header' | 'query'; name?: string | undefined; secret: string } | undefined;
  /** The server's description; default: the document's title and summary. */
  description?: string | undefined;
}

/** What the import produced besides the spec: which operation became which tool. */
export interface Converted {
  spec: ServerSpec;
  /** What the repo gets besides the spec: a test per tool (`test/<tool>.test.ts`, `node --test`). */
  extras: RenderExtras;
  tools: { operation: string; tool: string; method: string; path: string }[];
  baseUrl: string;
}

const MAX_DEPTH = 4;
const MAX_PROPERTIES = 60;
const MAX_ENUM = 60;
/** A title is a display name: the operation's summary, cut short. */
const MAX_TITLE_TOKENS = 12;
/** Description budgets tried in turn (tool, top-level parameter) until the whole surface fits the plan. */
const BUDGET_STEPS: readonly [number, number][] = [
  [150, 40],
  [100, 25],
  [70, 15],
  [45, 10],
  [30, 0],
  [15, 0],
];

/** The document's API base URL: `baseUrl`, else its first server (3.x) or host/basePath (2.0), relative ones resolved against `docUrl`. */
export function baseUrlOf(doc: ApiDocument, options: ConvertOptions, docUrl: URL | undefined): string {
  let raw: string | undefined = options.baseUrl;
  if (raw === undefined) {
    if (typeof doc.swagger === 'string') {
      const schemes = Array.isArray(doc.schemes) ? doc.schemes : [];
      const scheme = schemes.includes('https') ? 'https' : typeof schemes[0] === 'string' ? schemes[0] : 'https';
      const host = typeof doc.host === 'string' ? doc.host : docUrl?.host;
      if (host) raw = `${scheme}://${host}${typeof doc.basePath === 'string' ? doc.basePath : ''}`;
    } else {
      const server = Array.isArray(doc.servers) ? doc.servers.find(isObj) : undefined;
      if (server && typeof server.url === 'string') {
        const vars = isObj(server.variables) ? server.variables : {};
        raw = server.url.replace(/\{([^}]+)\}/g, (_, v: string) => {
          const def = isObj(vars[v]) ? (vars[v] as Obj).default : undefined;
          return typeof def === 'string' ? def : `{${v}}`;
        });
        if (docUrl && !/^[a-z]+:\/\//i.test(raw)) raw = new URL(raw, docUrl).href;
      }
    }
  }
  if (raw === undefined || !/^https?:\/\//i.test(raw)) throw openapiNoServer();
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw openapiBadBaseUrl(raw, 'it is not a valid URL');
  }
  if (url.hostname.includes('{')) throw openapiBadBaseUrl(raw, 'it has an unresolved server variable');
  if (url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') {
    throw openapiBadBaseUrl(raw, 'it must not carry a query, fragment or credentials');
  }
  // The server would have to list this host in `egress`, which no check lets through: refuse now, not in the change.
  const [problem] = egressHostProblems(url.host);
  if (problem) {
    throw openapiBadBaseUrl(
      raw,
      `${problem} — pass "baseUrl" with the API's public address (e.g. "https://api.example.com/v1")`,
    );
  }
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

/** A tool name from an operation: letters, digits and `_`, starting with a letter, unique, not a shadowing name. */
function toolNameOf(o: Operation, used: Set<string>): string {
  const source = o.id.includes(' ') ? `${o.method}_${o.path}` : o.id;
  let base = source
    .replace(/\{([^}]*)\}/g, 'by_$1')
    .replace(/[^a-zA-Z0-9_]+/g, '_')
    .replace(/_+/g, '_')
    .replace(/^_+|_+$/g, '');
  if (!/^[a-zA-Z]/.test(base)) base = `op_${base}`;
  if (SHADOWED_TOOL_NAMES.has(normalizeToolName(base))) base = `${base}_api`;
  base = base.slice(0, 60).replace(/_+$/, '');
  let name = base;
  for (let n = 2; used.has(name.toLowerCase()); n++) name = `${base.slice(0, 60)}_${n}`;
  used.add(name.toLowerCase());
  return name;
}

/** The first JSON-ish type of a schema (3.1 type arrays and 3.0 `nullable` collapse to the non-null type). */
function typeOf(schema: Obj): string | undefined {
  if (typeof schema.type === 'string') return schema.type;
  if (Array.isArray(schema.type)) return schema.type.find((t): t is string => typeof t === 'string' && t !== 'null');
  if (isObj(schema.properties)) return 'object';
  return undefined;
}

/**
 * An MCP input schema from an OpenAPI schema: types, enums, items, properties and required survive; examples,
 * vendor extensions and deep nesting do not; a cycle becomes an open object. `descriptions` keeps prose only
 * on the first level (the token budget pays for every word).
 */
function convertSchema(schema: unknown, depth: number, stack: Set<unknown>, descTokens: number): JsonSchema {
  if (!isObj(schema)) return {};
  if (stack.has(schema) || depth > MAX_DEPTH) return typeOf(schema) === 'array' ? { type: 'array' } : {};
  stack.add(schema);
  try {
    if (Array.isArray(schema.allOf)) {
      const merged: Obj = { type: 'object', properties: {}, required: [] as string[] };
      for (const part of schema.allOf) {
        const c = convertSchema(part, depth, stack, 0);
        if (isObj(c.properties)) Object.assign(merged.properties as Obj, c.properties);
        if (Array.isArray(c.required)) (merged.required as string[]).push(...(c.required as string[]));
        if (c.type !== undefined && c.type !== 'object' && !isObj(c.properties))
          return withDescription(c, schema, descTokens);
      }
      if ((merged.required as string[]).length === 0) delete merged.required;
      return withDescription(merged, schema, descTokens);
    }
    const alternatives = Array.isArray(schema.oneOf) ? schema.oneOf : Array.isArray(schema.anyOf) ? schema.anyOf : null;
    if (alternatives) {
      const options = alternatives
        .slice(0, 6)
        .map((a) => convertSchema(a, depth + 1, stack, 0))
        .filter((a) => Object.keys(a).length > 0);
      const out: JsonSchema = options.length > 0 ? { anyOf: options } : {};
      return withDescription(out, schema, descTokens);
    }
    const out: JsonSchema = {};
    const type = typeOf(schema);
    if (type) out.type = type;
    if (Array.isArray(schema.enum)) {
      const values = schema.enum.filter(
        (v) =>
          typeof v === 'number' ||
          typeof v === 'boolean' ||
          (typeof v === 'string' && v.length <= 100 && plainText(v) === v),
      );
      if (values.length > 0 && values.length <= MAX_ENUM) out.enum = values;
    }
    if (typeof schema.format === 'string' && /^[a-z0-9-]{1,30}$/.test(schema.format)) out.format = schema.format;
    for (const key of ['minimum', 'maximum', 'minLength', 'maxLength', 'minItems', 'maxItems'] as const) {
      if (typeof schema[key] === 'number') out[key] = schema[key];
    }
    const def = schema.default;
    if (typeof def === 'number' || typeof def === 'boolean' || (typeof def === 'string' && def.length <= 40)) {
      if (typeof def !== 'string' || plainText(def) === def) out.default = def;
    }
    if (type === 'array') out.items = convertSchema(schema.items, depth + 1, stack, 0);
    if (type === 'object' && isObj(schema.properties)) {
      const props: Obj = {};
      for (const [key, value] of Object.entries(schema.properties).slice(0, MAX_PROPERTIES)) {
        if (isObj(value) && value.readOnly === true) continue;
        props[key] = convertSchema(value, depth + 1, stack, 0);
      }
      out.properties = props;
      const required = Array.isArray(schema.required)
        ? schema.required.filter((r): r is string => typeof r === 'string' && r in props)
        : [];
      if (required.length > 0) out.required = required;
    }
    return withDescription(out, schema, descTokens);
  } finally {
    stack.delete(schema);
  }
}

function withDescription(out: JsonSchema, schema: Obj, descTokens: number): JsonSchema {
  if (descTokens <= 0) return out;
  const text = typeof schema.description === 'string' ? plainText(schema.description) : '';
  const title = typeof schema.title === 'string' ? plainText(schema.title) : '';
  const description = trimToTokens(text || title, descTokens);
  return description ? { description, ...out } : out;
}

interface Param {
  name: string;
  in: 'path' | 'query' | 'header' | 'cookie' | 'body' | 'formData';
  required: boolean;
  schema: unknown;
  description: string;
}

const MANAGED_HEADERS = new Set(['authorization', 'accept', 'content-type', 'content-length', 'host', 'cookie']);

/** Operation parameters (path-level ones overridden by the operation's own), Swagger 2.0 shapes included. */
function paramsOf(o: Operation): Param[] {
  const byKey = new Map<string, Param>();
  for (const raw of [...o.pathParameters, ...(Array.isArray(o.op.parameters) ? o.op.parameters : [])]) {
    if (!isObj(raw) || typeof raw.name !== 'string' || typeof raw.in !== 'string') continue;
    const where = raw.in as Param['in'];
    // Swagger 2.0 keeps the type on the parameter itself; 3.x under schema (or content).
    let schema: unknown = raw.schema;
    if (schema === undefined && isObj(raw.content)) schema = Object.values(raw.content).find(isObj)?.schema;
    if (schema === undefined && where !== 'body') {
      const { name: _n, in: _i, required: _r, description: _d, ...rest } = raw;
      schema = rest;
    }
    byKey.set(`${where}:${raw.name}`, {
      name: raw.name,
      in: where,
      required: raw.required === true || where === 'path',
      schema,
      description: typeof raw.description === 'string' ? raw.description : '',
    });
  }
  return [...byKey.values()];
}

/** The request body of an operation: its schema and how it is sent (3.x requestBody, 2.0 body/formData). */
function bodyOf(
  o: Operation,
  params: Param[],
): { schema: unknown; required: boolean; kind: BodyKind; description: string } | null {
  const rb = o.op.requestBody;
  if (isObj(rb) && isObj(rb.content)) {
    const types = Object.keys(rb.content);
    const json = types.find((t) => /^application\/(?:[\w.+-]+\+)?json\b/i.test(t) || t === '*/*');
    const form = types.find((t) => /^application\/x-www-form-urlencoded\b/i.test(t));
    const chosen = json ?? form ?? types[0];
    if (chosen === undefined) return null;
    const media = (rb.content as Obj)[chosen];
    const kind: BodyKind = json ? 'json' : form ? 'form' : { raw: chosen };
    return {
      schema: isObj(media) ? media.schema : undefined,
      required: rb.required === true,
      kind,
      description: typeof rb.description === 'string' ? rb.description : '',
    };
  }
  const body = params.find((p) => p.in === 'body');
  if (body) return { schema: body.schema, required: body.required, kind: 'json', description: body.description };
  const formData = params.filter((p) => p.in === 'formData');
  if (formData.length > 0) {
    return {
      schema: {
        type: 'object',
        properties: Object.fromEntries(
          formData.map((p) => [p.name, { ...(isObj(p.schema) ? p.schema : {}), description: p.description }]),
        ),
        required: formData.filter((p) => p.required).map((p) => p.name),
      },
      required: formData.some((p) => p.required),
      kind: 'form',
      description: '',
    };
  }
  return null;
}

/** Upper-snake secret name of a security scheme key. */
export function secretNameOf(key: string): string {
  const name = key
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/[^A-Za-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '')
    .toUpperCase();
  return /^[A-Z]/.test(name) ? name : `API_${name || 'KEY'}`;
}

/** How an operation authenticates: the first security requirement made only of schemes we can send. */
function authOf(doc: ApiDocument, o: Operation, options: ConvertOptions): Auth[] {
  if (options.auth) {
    const a = options.auth;
    if (a.type === 'bearer') return [{ kind: 'header', name: 'Authorization', prefix: 'Bearer ', secret: a.secret }];
    return [
      { kind: a.type, name: a.name ?? (a.type === 'header' ? 'X-API-Key' : 'api_key'), prefix: '', secret: a.secret },
    ];
  }
  const components = isObj(doc.components) ? doc.components : {};
  const schemes: Obj = isObj(components.securitySchemes)
    ? components.securitySchemes
    : isObj(doc.securityDefinitions)
      ? doc.securityDefinitions
      : {};
  const requirements = Array.isArray(o.op.security) ? o.op.security : Array.isArray(doc.security) ? doc.security : [];
  for (const req of requirements) {
    if (!isObj(req)) continue;
    const auths: Auth[] = [];
    let ok = true;
    for (const key of Object.keys(req)) {
      const s = schemes[key];
      const a = isObj(s) ? schemeAuth(key, s) : null;
      if (!a) {
        ok = false;
        break;
      }
      auths.push(a);
    }
    if (ok) return auths;
  }
  return [];
}

function schemeAuth(key: string, s: Obj): Auth | null {
  const secret = secretNameOf(key);
  const type = String(s.type ?? '');
  if (type === 'apiKey' && typeof s.name === 'string') {
    if (s.in === 'header') return { kind: 'header', name: s.name, prefix: '', secret };
    if (s.in === 'query') return { kind: 'query', name: s.name, prefix: '', secret };
    if (s.in === 'cookie') return { kind: 'cookie', name: s.name, prefix: '', secret };
    return null;
  }
  if (type === 'http' && String(s.scheme ?? '').toLowerCase() === 'basic') {
    return { kind: 'basic', name: 'Authorization', prefix: 'Basic ', secret };
  }
  if (type === 'basic') return { kind: 'basic', name: 'Authorization', prefix: 'Basic ', secret };
  if (type === 'http' || type === 'oauth2' || type === 'openIdConnect') {
    return { kind: 'header', name: 'Authorization', prefix: 'Bearer ', secret };
  }
  return null;
}

interface Draft {
  operation: Operation;
  name: string;
  fields: (InputField & { rawSchema: unknown; description: string })[];
  auth: Auth[];
  body: BodyKind | null;
  summary: string;
  description: string;
  /** The tool's `outputSchema`, when its success answer is JSON structure (then results carry `structuredContent`). */
  output: JsonSchema | undefined;
  /** How that answer becomes `structuredContent`: an object as it is, an array as `{ items }`. */
  shape: 'object' | 'items' | undefined;
}

const MAX_OUTPUT_DEPTH = 3;
const JSON_MEDIA = /^application\/(?:[\w.+-]+\+)?json\b/i;

/** The schema of an operation's first 2xx answer sent as JSON (3.x `content`, 2.0 `schema` unless it produces no JSON). */
function answerSchemaOf(doc: ApiDocument, o: Operation): unknown {
  const responses = isObj(o.op.responses) ? o.op.responses : {};
  const code = Object.keys(responses)
    .filter((c) => /^2(?:\d\d|XX)$/i.test(c))
    .sort()[0];
  const answer = code === undefined ? undefined : responses[code];
  if (!isObj(answer)) return undefined;
  if (isObj(answer.content)) {
    const media = Object.entries(answer.content).find(([type]) => JSON_MEDIA.test(type))?.[1];
    return isObj(media) ? media.schema : undefined;
  }
  const produces = Array.isArray(o.op.produces) ? o.op.produces : Array.isArray(doc.produces) ? doc.produces : [];
  if (produces.length > 0 && !produces.some((t) => typeof t === 'string' && JSON_MEDIA.test(t))) return undefined;
  return answer.schema;
}

/**
 * A schema of what an answer holds that does not refuse what real APIs send beside their documents: types (null
 * where the document allows it), properties and items a few levels deep; nothing required, no enums, formats or
 * prose (descriptions reach the model through the tool's description and input schema only).
 */
function looseSchema(schema: unknown, depth: number, stack: Set<unknown>): JsonSchema {
  if (!isObj(schema) || stack.has(schema) || depth > MAX_OUTPUT_DEPTH) return {};
  stack.add(schema);
  try {
    if (Array.isArray(schema.allOf)) {
      const properties: Obj = {};
      for (const part of schema.allOf) {
        const loose = looseSchema(part, depth, stack);
        if (!isObj(loose.properties)) return {};
        Object.assign(properties, loose.properties);
      }
      return { type: 'object', properties };
    }
    const type = Array.isArray(schema.oneOf) || Array.isArray(schema.anyOf) ? undefined : typeOf(schema);
    if (type === undefined) return {};
    const nullable = schema.nullable === true || (Array.isArray(schema.type) && schema.type.includes('null'));
    const out: JsonSchema = { type: nullable && depth > 0 ? [type, 'null'] : type };
    if (type === 'array') out.items = looseSchema(schema.items, depth + 1, stack);
    if (type === 'object' && isObj(schema.properties)) {
      out.properties = Object.fromEntries(
        Object.entries(schema.properties)
          .slice(0, MAX_PROPERTIES)
          .map(([key, value]) => [key, looseSchema(value, depth + 1, stack)]),
      );
    }
    return out;
  } finally {
    stack.delete(schema);
  }
}

/**
 * The `outputSchema` of an operation whose success answer is a JSON object, or an array (MCP wants an object: its
 * results carry `{ "items": [...] }`); none for text, no body or an answer of several shapes.
 */
function outputOf(doc: ApiDocument, o: Operation): Pick<Draft, 'output' | 'shape'> {
  const schema = looseSchema(answerSchemaOf(doc, o), 0, new Set());
  if (schema.type === 'object') return { output: schema, shape: 'object' };
  if (schema.type === 'array') return { output: { type: 'object', properties: { items: schema } }, shape: 'items' };
  return { output: undefined, shape: undefined };
}

function draftOf(doc: ApiDocument, o: Operation, used: Set<string>, options: ConvertOptions): Draft {
  const params = paramsOf(o);
  const taken = new Set<string>();
  const keyFor = (name: string, where: string): string => {
    let key = name.replace(/[^a-zA-Z0-9_.-]/g, '_').slice(0, 64) || where;
    if (taken.has(key)) key = `${where}_${key}`.slice(0, 64);
    for (let n = 2; taken.has(key); n++) key = `${key}_${n}`;
    taken.add(key);
    return key;
  };
  const fields: Draft['fields'] = [];
  for (const p of params) {
    if (p.in === 'body' || p.in === 'formData' || p.in === 'cookie') continue;
    if (p.in === 'header' && MANAGED_HEADERS.has(p.name.toLowerCase())) continue;
    fields.push({
      key: keyFor(p.name, p.in),
      in: p.in,
      name: p.name,
      required: p.required,
      type: typeOf(isObj(p.schema) ? p.schema : {}) ?? 'unknown',
      enum: isObj(p.schema) && Array.isArray(p.schema.enum) ? p.schema.enum : undefined,
      rawSchema: p.schema,
      description:
        p.description || (isObj(p.schema) && typeof p.schema.description === 'string' ? p.schema.description : ''),
    });
  }
  const body = bodyOf(o, params);
  if (body) {
    const type = isObj(body.schema)
      ? (typeOf(body.schema) ?? 'unknown')
      : typeof body.kind === 'object'
        ? 'string'
        : 'unknown';
    fields.push({
      key: keyFor('body', 'request'),
      in: 'body',
      name: 'body',
      required: body.required,
      type: typeof body.kind === 'object' ? 'string' : type,
      enum: undefined,
      rawSchema: typeof body.kind === 'object' ? { type: 'string' } : body.schema,
      description: body.description || 'The request body.',
    });
  }
  const summary = plainText(o.summary);
  const description = plainText(typeof o.op.description === 'string' ? o.op.description : '');
  return {
    operation: o,
    name: toolNameOf(o, used),
    fields,
    auth: authOf(doc, o, options),
    body: body?.kind ?? null,
    summary,
    description,
    ...outputOf(doc, o),
  };
}

function toolOf(d: Draft, baseUrl: string, toolTokens: number, paramTokens: number): ServerTool {
  const o = d.operation;
  const head = d.summary ? (/[.!?]$/.test(d.summary) ? d.summary : `${d.summary}.`) : '';
  const rest = d.description && d.description !== d.summary ? d.description : '';
  const fallback = `${o.method.toUpperCase()} ${o.path}`;
  const description = trimToTokens([head, rest].filter(Boolean).join(' ') || fallback, toolTokens) || fallback;
  const properties: Obj = {};
  const required: string[] = [];
  for (const f of d.fields) {
    const schema = convertSchema(f.rawSchema, 1, new Set(), 0);
    const text = trimToTokens(plainText(f.description), paramTokens);
    properties[f.key] = text ? { description: text, ...schema } : schema;
    if (f.required) required.push(f.key);
  }
  const method = o.method.toUpperCase();
  const readOnly = method === 'GET' || method === 'HEAD' || method === 'OPTIONS';
  const title = trimToTokens(d.summary.replace(/[.!?]+$/, ''), MAX_TITLE_TOKENS);
  return {
    name: d.name,
    ...(title ? { title } : {}),
    description,
    inputSchema: {
      type: 'object',
      properties: properties as Record<string, Record<string, never>>,
      ...(required.length > 0 ? { required } : {}),
    },
    ...(d.output ? { outputSchema: d.output as ServerTool['outputSchema'] } : {}),
    annotations: {
      readOnlyHint: readOnly,
      destructiveHint: method === 'DELETE',
      idempotentHint: readOnly || method === 'PUT' || method === 'DELETE',
      openWorldHint: true,
    },
    source: handlerSource(handlerPlanOf(d, baseUrl)),
  };
}

function handlerPlanOf(d: Draft, baseUrl: string): HandlerPlan {
  const o = d.operation;
  return {
    name: d.name,
    method: o.method.toUpperCase(),
    baseUrl,
    path: o.path,
    fields: d.fields,
    auth: d.auth,
    body: d.body,
    structured: d.shape,
  };
}

/** A test per tool and the fake context they call it with, run by `npm test` (= `node --test`). */
function testExtras(drafts: Draft[], baseUrl: string): RenderExtras {
  const files: Record<string, string> = { ...templateFiles('_shared') };
  for (const d of drafts) files[`test/${d.name}.test.ts`] = handlerTestSource(handlerPlanOf(d, baseUrl));
  return { files, scripts: { test: 'node --test' } };
}

/** Description tokens of a tool as the surface check counts them: its description and every description inside its schema. */
function toolTokens(tool: ServerTool): number {
  let n = tokensOf(tool.description) + (tool.title ? tokensOf(tool.title) : 0);
  const walk = (v: unknown, key: string | undefined): void => {
    if (typeof v === 'string') {
      if (key === 'description' || key === 'title') n += tokensOf(v);
    } else if (Array.isArray(v)) for (const item of v) walk(item, undefined);
    else if (isObj(v)) for (const [k, item] of Object.entries(v)) walk(item, k);
  };
  walk(tool.inputSchema, undefined);
  return n;
}

/** Converts the selected operations of a validated document into a ServerSpec that fits `plan`'s description budget. */
export function convertDocument(
  doc: ApiDocument,
  selected: Operation[],
  serverName: string,
  plan: Plan,
  options: ConvertOptions,
  docUrl?: URL,
): Converted {
  const baseUrl = baseUrlOf(doc, options, docUrl);
  const used = new Set<string>();
  const drafts = selected.map((o) => draftOf(doc, o, used, options));
  const budget = Math.floor(plan.descriptionTokens.total * 0.9);
  const perTool = Math.floor(plan.descriptionTokens.perTool * 0.9);
  let tools: ServerTool[] = [];
  let total = 0;
  for (const [toolBudget, paramBudget] of BUDGET_STEPS) {
    const share = Math.max(10, Math.floor(budget / Math.max(1, drafts.length)));
    tools = drafts.map((d) => toolOf(d, baseUrl, Math.min(toolBudget, share, perTool), paramBudget));
    total = tools.reduce((sum, t) => sum + toolTokens(t), 0);
    if (total <= budget && tools.every((t) => toolTokens(t) <= perTool)) break;
  }
  if (total > budget) throw openapiOverBudget(total, budget);
  const info = isObj(doc.info) ? doc.info : {};
  const title = typeof info.title === 'string' ? plainText(info.title) : '';
  const about = typeof info.description === 'string' ? plainText(info.description) : '';
  const description =
    options.description ??
    (trimToTokens(
      [title ? `${title}: ${tools.length} operation(s) of the API.` : '', about].filter(Boolean).join(' '),
      80,
    ) ||
      `Calls ${new URL(baseUrl).host}.`);
  const secrets = [...new Set(drafts.flatMap((d) => d.auth.map((a) => a.secret)))];
  const spec = parseServerSpec({
    name: serverName,
    version: '0.1.0',
    description,
    tools,
    secrets,
    egress: [new URL(baseUrl).host],
  });
  return {
    spec,
    extras: testExtras(drafts, baseUrl),
    baseUrl,
    tools: drafts.map((d) => ({
      operation: d.operation.id,
      tool: d.name,
      method: d.operation.method.toUpperCase(),
      path: d.operation.path,
    })),
  };
}
