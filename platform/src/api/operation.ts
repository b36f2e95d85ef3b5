import type { Request } from 'express';
import type { core, z } from 'zod';
import type { Role } from '../accounts/roles.ts';
import { invalidRequest } from '../errors.ts';
import { DOCUMENT_FIELDS, firstUnstorable, unstorableRequest } from '../storable.ts';

/** An HTTP method of the REST API. */
export type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';

/** A documented answer: its description and, unless it is empty, its schema. */
export interface Answer {
  description: string;
  /** The JSON body (absent: no body, as for 204). */
  schema?: z.ZodType;
  /** Media type of the body; JSON unless said otherwise. */
  mediaType?: 'application/json' | 'text/event-stream' | 'text/html';
}

/**
 * One REST operation: where it is, what it takes (checked by `input` before the handler trusts it) and what it
 * answers. The OpenAPI document at /api/v1/openapi.json is generated from the list of these.
 */
export interface Operation {
  method: Method;
  /** The path under /api/v1, OpenAPI style: `/servers/{name}`. */
  path: `/${string}`;
  summary: string;
  description?: string;
  tags: string[];
  /** The weakest role allowed (`operator`: the owner of the platform operator's org); null: no credential at all. */
  role: Role | 'operator' | null;
  params?: z.ZodObject;
  query?: z.ZodObject;
  body?: z.ZodType;
  /** For a body of several shapes (a union): the shape a request means, so its errors speak of that one. */
  shapeOf?: (body: unknown) => z.ZodType;
  /** The success answers, by status. */
  answers: Record<number, Answer>;
  /** Failures beyond the ones every operation has (400, 401, 403, 404), by status: the codes that come with it. */
  errors?: Partial<Record<409 | 410 | 413 | 422 | 429 | 502 | 503, string>>;
}

/** Declares an operation, keeping its schema types for `input`. */
export const operation = <const O extends Operation>(o: O): O => o;

type Out<S, Otherwise> = S extends z.ZodType ? z.output<S> : Otherwise;

/** What a handler gets from `input`: path parameters, query and body, each parsed by the operation's schema. */
export interface Input<O extends Operation> {
  params: Out<O['params'], Record<string, string>>;
  query: Out<O['query'], Record<string, never>>;
  body: Out<O['body'], undefined>;
}

/** The most problems one error message lists (`details.issues` has them all). */
const MAX_LISTED = 5;

/**
 * Parses a request's path parameters, query and body with `op`'s schemas. Anything that does not fit is
 * `400 invalid_request` whose message names each field (`body.name: expected string, got number`) and whose
 * `details.issues` lists `{path, message}`; `details.field` is the first body field at fault.
 */
export function input<O extends Operation>(req: Request, op: O): Input<O> {
  assertRouteOf(req, op);
  // Body and query were checked by `storableInput`; path parameters exist only now that the route matched.
  const unstorable = firstUnstorable({ ...req.params }, 'params');
  if (unstorable) throw unstorableRequest(unstorable);
  const issues: { path: string; message: string }[] = [];
  const parse = (where: 'params' | 'query' | 'body', schema: z.ZodType | undefined, value: unknown): unknown => {
    if (!schema) return where === 'body' ? undefined : value;
    const result = schema.safeParse(value, { reportInput: true });
    if (result.success) return result.data;
    for (const issue of result.error.issues) issues.push(...described(where, issue));
    return undefined;
  };
  // An empty body counts as {} (express leaves `req.body` undefined when there is none).
  const body: unknown = req.body === undefined ? {} : req.body;
  const parsed = {
    params: parse('params', op.params, { ...req.params }),
    query: parse('query', op.query, { ...(req.query as Record<string, unknown>) }),
    body: parse('body', op.body && (op.shapeOf?.(body) ?? op.body), body),
  };
  if (issues.length > 0) throw invalidInput(issues);
  return parsed as Input<O>;
}

/**
 * Parses a request body alone with `schema`, failing exactly as `input` does: for a body that is read off the main
 * thread (an OpenAPI document of up to 32 MB, parsed by the import worker).
 */
export function parsedBody<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
  // What `storableInput` checks of a body parsed on the main thread.
  const unstorable = firstUnstorable(body, 'body', DOCUMENT_FIELDS);
  if (unstorable) throw unstorableRequest(unstorable);
  const result = schema.safeParse(body, { reportInput: true });
  if (result.success) return result.data;
  throw invalidInput(result.error.issues.flatMap((issue) => described('body', issue)));
}

/** `400 invalid_request` naming each field at fault (at most MAX_LISTED in the message, all in `details.issues`). */
function invalidInput(issues: { path: string; message: string }[]) {
  const listed = issues.slice(0, MAX_LISTED).map((i) => `${i.path}: ${i.message}`);
  if (issues.length > MAX_LISTED) listed.push(`and ${issues.length - MAX_LISTED} more`);
  const field = issues.find((i) => i.path.startsWith('body.'))?.path.slice('body.'.length);
  return invalidRequest(listed.join('; '), { ...(field ? { field } : {}), issues });
}

/** A handler must parse with its own route's operation: a mix-up is a bug, loud on the first request. */
function assertRouteOf(req: Request, op: Operation): void {
  const path: unknown = (req as { route?: { path?: unknown } }).route?.path;
  if (typeof path !== 'string') return;
  const method = req.method === 'HEAD' ? 'get' : req.method.toLowerCase();
  const documented = path.replace(/:(\w+)/g, '{$1}');
  if (method !== op.method || documented !== op.path) {
    throw new Error(`${req.method} ${path} parses its input as ${op.method.toUpperCase()} ${op.path}`);
  }
}

/** One zod issue as the API words it, at its full path (`body.auth.secret`, `query.state`). */
function described(where: string, issue: core.$ZodIssue): { path: string; message: string }[] {
  const at = (path: readonly PropertyKey[]) => [where, ...path.map(String)].join('.');
  switch (issue.code) {
    case 'unrecognized_keys':
      return issue.keys.map((key) => ({ path: at([...issue.path, key]), message: 'unknown field' }));
    case 'invalid_type':
      return [{ path: at(issue.path), message: typeMessage(jsonType(issue.expected), issue.input) }];
    case 'invalid_union': {
      // A value of the wrong type for every branch (`string | object`): say so in one go.
      const types = issue.errors.map((branch) =>
        branch.length === 1 && branch[0]?.code === 'invalid_type' && branch[0].path.length === 0
          ? branch[0].expected
          : null,
      );
      if (types.length > 0 && types.every((t) => t !== null)) {
        const expected = [...new Set(types.map(jsonType))].join(' or ');
        return [{ path: at(issue.path), message: typeMessage(expected, issue.input) }];
      }
      // A body that takes one of several shapes: the shape it came closest to says what is wrong (the one that
      // knows most of its fields, then the one with the fewest problems).
      const unknownKeys = (issues: core.$ZodIssue[]) =>
        issues.reduce((n, i) => n + (i.code === 'unrecognized_keys' && i.path.length === 0 ? i.keys.length : 0), 0);
      const [closest] = issue.errors.toSorted((a, b) => unknownKeys(a) - unknownKeys(b) || a.length - b.length);
      if (!closest?.length) return [{ path: at(issue.path), message: issue.message }];
      return closest.flatMap((inner) => described(where, { ...inner, path: [...issue.path, ...inner.path] }));
    }
    default:
      return [{ path: at(issue.path), message: issue.message }];
  }
}

/** What a value of the wrong type (or none) is told. */
function typeMessage(expected: string, value: unknown): string {
  return value === undefined ? `missing (expected ${expected})` : `expected ${expected}, got ${kindOf(value)}`;
}

/** A zod type name as JSON calls it. */
function jsonType(expected: string): string {
  return ({ record: 'object', int: 'integer' } as Record<string, string>)[expected] ?? expected;
}

/** The JSON type of a value, as an error message names it. */
function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}
