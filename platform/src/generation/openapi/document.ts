import SwaggerParser from '@apidevtools/swagger-parser';
import { parseDocument } from 'yaml';
import {
  ApiError,
  type DocumentIssue,
  openapiHostNotAllowed,
  openapiInvalid,
  openapiUnreachable,
  openapiUnreadable,
} from '../../errors.ts';
import { operationCount, operationOf, removeComponent, removeOperation, repairDocument } from './repair.ts';

/** A validated OpenAPI 3.x or Swagger 2.0 document with every `$ref` resolved (cycles stay as shared objects). */
export type ApiDocument = Record<string, unknown>;

/** Where documents given by URL may come from, and how they are fetched. */
export interface DocumentSource {
  /** Hosts (`host` or `host:port`) a document URL may name. */
  allowedHosts: readonly string[];
  fetch?: typeof fetch;
  /** Largest document accepted, in bytes (default 32 MB). */
  maxBytes?: number;
  timeoutMs?: number;
}

/** A document as given: its parsed value and, for a URL, where it came from. */
export interface RawDocument {
  value: Record<string, unknown>;
  url: URL | undefined;
}

const MAX_BYTES = 32 * 1024 * 1024;

/** Parses JSON or YAML text; a syntax error names the line and column. */
export function parseText(text: string): Record<string, unknown> {
  const trimmed = text.trimStart();
  let value: unknown;
  if (trimmed.startsWith('{')) {
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw openapiUnreadable(`invalid JSON: ${(err as Error).message}`);
    }
  } else {
    const doc = parseDocument(text, { uniqueKeys: true });
    const first = doc.errors[0];
    if (first) {
      const at = first.linePos?.[0];
      throw openapiUnreadable(
        `invalid YAML${at ? ` at line ${at.line}, column ${at.col}` : ''}: ${first.message.split('\n')[0]}`,
      );
    }
    value = doc.toJS({ maxAliasCount: 1000 });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw openapiInvalid([{ path: '#', message: 'must be an object (an OpenAPI or Swagger document)' }]);
  }
  return value as Record<string, unknown>;
}

function hostAllowed(url: URL, allowed: readonly string[]): boolean {
  return allowed.some((entry) => entry.toLowerCase() === url.host || entry.toLowerCase() === url.hostname);
}

/** Reads `openapi` as given in a request: a document object, its JSON/YAML text, or an http(s) URL on an allowed host. */
export async function readDocument(input: unknown, source: DocumentSource): Promise<RawDocument> {
  if (typeof input === 'object' && input !== null && !Array.isArray(input)) {
    return { value: structuredClone(input as Record<string, unknown>), url: undefined };
  }
  if (typeof input !== 'string' || input.trim() === '') {
    throw openapiUnreadable('"openapi" must be the document (an object, or JSON/YAML text) or its http(s) URL');
  }
  if (!/^https?:\/\//i.test(input.trim())) return { value: parseText(input), url: undefined };
  let url: URL;
  try {
    url = new URL(input.trim());
  } catch {
    throw openapiUnreadable(`"${input.slice(0, 200)}" is not a valid URL`);
  }
  if (!hostAllowed(url, source.allowedHosts)) throw openapiHostNotAllowed(url.host, source.allowedHosts);
  const max = source.maxBytes ?? MAX_BYTES;
  let text: string;
  try {
    const res = await (source.fetch ?? fetch)(url, {
      redirect: 'error',
      signal: AbortSignal.timeout(source.timeoutMs ?? 20_000),
      headers: { accept: 'application/json, application/yaml, text/yaml, */*' },
    });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const length = Number(res.headers.get('content-length') ?? 0);
    if (length > max) throw new Error(`larger than ${max} bytes`);
    const body = Buffer.from(await res.arrayBuffer());
    if (body.length > max) throw new Error(`larger than ${max} bytes`);
    text = body.toString('utf8');
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code;
    throw openapiUnreachable(url.href, cause ?? (err as Error).message);
  }
  return { value: parseText(text), url };
}

const pointerKey = (key: string): string => key.replace(/~/g, '~0').replace(/\//g, '~1');

/** `$ref`s left after internal resolution: references to other files or URLs, which are never followed. */
function externalRefs(root: unknown): DocumentIssue[] {
  const found: DocumentIssue[] = [];
  const seen = new Set<unknown>();
  const walk = (value: unknown, path: string): void => {
    if (typeof value !== 'object' || value === null || seen.has(value) || found.length >= 20) return;
    seen.add(value);
    if (Array.isArray(value)) {
      for (const [i, item] of value.entries()) walk(item, `${path}/${i}`);
      return;
    }
    for (const [key, item] of Object.entries(value)) {
      if (key === '$ref' && typeof item === 'string') {
        found.push({
          path: `${path}/$ref`,
          message: `"${item.slice(0, 200)}" points outside the document; external references are not followed: inline it`,
        });
      } else walk(item, `${path}/${pointerKey(key)}`);
    }
  };
  walk(root, '#');
  return found;
}

/** Renders an Ajv instance path (`/paths/~1a/get`) as a JSON pointer fragment (`#/paths/~1a/get`). */
const pointer = (instancePath: string): string => `#${instancePath}`;

/** A validated document and what was repaired or skipped to make it one. */
export interface LoadedApi {
  doc: ApiDocument;
  /** Every repair and every skipped operation, with the JSON path where it sits in the document as given. */
  warnings: DocumentIssue[];
}

/** Validates and dereferences a document that must be valid as a whole (see `validateTolerant`); throws on any problem. */
export async function validateDocument(value: Record<string, unknown>): Promise<ApiDocument> {
  checkVersion(value);
  return validateWhole(value);
}

/**
 * Validates a document per operation: what has one obvious reading is repaired (`repairDocument`), an operation that is
 * still invalid is skipped, and each repair and skip is a warning. Refuses the document (`openapi_invalid`, every
 * problem with its JSON path) only when no operation is left. External references are never followed.
 */
export async function validateTolerant(value: Record<string, unknown>): Promise<LoadedApi> {
  checkVersion(value);
  const doc = structuredClone(value);
  const warnings: DocumentIssue[] = [];
  const found: DocumentIssue[] = [];
  const note = (issues: DocumentIssue[]) => {
    for (const i of issues) if (!found.some((f) => f.path === i.path && f.message === i.message)) found.push(i);
  };
  for (let round = 0; round < 100; round++) {
    const repaired = repairDocument(doc);
    warnings.push(...repaired.warnings);
    let issues = repaired.broken;
    if (issues.length === 0) {
      try {
        const valid = await validateWhole(structuredClone(doc));
        // Nothing usable: every problem at once, the repairs included (they may be why).
        if (operationCount(valid) === 0) {
          throw openapiInvalid([
            ...warnings,
            { path: '#/paths', message: 'the document has no operation to turn into a tool' },
          ]);
        }
        return { doc: valid, warnings };
      } catch (err) {
        if (!(err instanceof ApiError) || err.code !== 'openapi_invalid') throw err;
        issues = (err.details as { issues?: DocumentIssue[] } | undefined)?.issues ?? [];
      }
    }
    issues = mostSpecific(issues);
    note(issues);
    const skipped = skipBroken(doc, issues);
    warnings.push(...skipped);
    if (skipped.length === 0 || operationCount(doc) === 0) throw openapiInvalid(found);
  }
  throw openapiInvalid(found);
}

/** Drops an issue when another one sits deeper inside it (the schema validator reports every enclosing `oneOf` too). */
function mostSpecific(issues: DocumentIssue[]): DocumentIssue[] {
  return issues.filter((i) => !issues.some((o) => o !== i && o.path.startsWith(`${i.path}/`)));
}

/** Skips the operations the issues sit in (or drops the components they sit in); the warnings that says so. */
function skipBroken(doc: Record<string, unknown>, issues: DocumentIssue[]): DocumentIssue[] {
  const out: DocumentIssue[] = [];
  const done = new Set<string>();
  for (const issue of issues) {
    const where = operationOf(issue.path);
    if (where) {
      const key = `${where.path} ${where.method ?? '*'}`;
      if (done.has(key) || removeOperation(doc, where)) {
        done.add(key);
        const what = where.method ? `${where.method.toUpperCase()} ${where.path}` : `every operation of ${where.path}`;
        out.push({ path: issue.path, message: `${issue.message}: ${what} skipped` });
      }
    } else if (removeComponent(doc, issue.path)) {
      out.push({ path: issue.path, message: `${issue.message}: this component is ignored` });
    }
  }
  return out;
}

function checkVersion(value: Record<string, unknown>): void {
  if (typeof value.openapi !== 'string' && value.swagger !== '2.0') {
    throw openapiInvalid([
      { path: '#', message: 'is neither OpenAPI 3.x (no "openapi" version) nor Swagger 2.0 ("swagger": "2.0")' },
    ]);
  }
  if (typeof value.openapi === 'string' && !/^3\.[01]\.\d+$/.test(value.openapi)) {
    throw openapiInvalid([
      { path: '#/openapi', message: `version "${value.openapi}" is not supported (3.0.x or 3.1.x)` },
    ]);
  }
}

/**
 * Validates a document against the OpenAPI 3.0/3.1 or Swagger 2.0 schema and resolves every internal `$ref`
 * (circular ones too). External references are never followed: a document cannot make the platform read
 * files or reach other hosts. Throws `openapi_invalid` naming the JSON path of each problem.
 */
async function validateWhole(value: Record<string, unknown>): Promise<ApiDocument> {
  try {
    const api = await SwaggerParser.validate(value as never, {
      resolve: { external: false },
      dereference: { circular: true },
    });
    const external = externalRefs(api);
    if (external.length > 0) throw openapiInvalid(external);
    return api as unknown as ApiDocument;
  } catch (err) {
    if (err instanceof ApiError) throw err;
    const details = (err as { details?: unknown }).details;
    if (Array.isArray(details)) {
      const seen = new Set<string>();
      const issues: DocumentIssue[] = [];
      for (const d of details as { instancePath?: string; message?: string }[]) {
        const issue = { path: pointer(d.instancePath ?? ''), message: d.message ?? 'is invalid' };
        const key = `${issue.path} ${issue.message}`;
        if (seen.has(key)) continue;
        seen.add(key);
        issues.push(issue);
      }
      throw openapiInvalid(issues);
    }
    const message = (err as Error).message ?? String(err);
    const ref = /"(#[^"]*)"/.exec(message)?.[1];
    throw openapiInvalid([{ path: ref ?? '#', message: message.split('\n')[0] ?? 'is invalid' }]);
  }
}
