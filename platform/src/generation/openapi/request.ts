import { z } from 'zod';
import { invalidJson } from '../../errors.ts';

/** The body of POST /servers that imports an OpenAPI document (`name` is checked by the server-name rule). */
export const importRequestSchema = z.strictObject({
  name: z.unknown().optional(),
  openapi: z.union([z.string(), z.record(z.string(), z.unknown())]),
  operations: z.array(z.string().min(1).max(300)).min(1).max(1000).optional(),
  baseUrl: z.string().max(2000).optional(),
  description: z.string().min(1).max(2000).optional(),
  auth: z
    .strictObject({
      type: z.enum(['bearer', 'header', 'query']),
      name: z
        .string()
        .regex(/^[A-Za-z0-9_-]{1,100}$/)
        .optional(),
      secret: z.string().regex(/^[A-Z][A-Z0-9_]*$/, 'must be UPPER_SNAKE_CASE, e.g. API_TOKEN'),
    })
    .optional(),
  github: z
    .strictObject({ owner: z.string(), repo: z.string().optional(), private: z.boolean().optional() })
    .optional(),
});

/** A parsed import request (see `importRequestSchema`). */
export type ImportRequest = z.output<typeof importRequestSchema>;

/** The body of POST /openapi/operations: only the document. */
export const describeRequestSchema = importRequestSchema.pick({ openapi: true });

/** Bodies up to this size are parsed on the main thread; larger ones only by the import worker. */
export const MAIN_THREAD_BODY_BYTES = 1024 * 1024;

/**
 * A request body too large to parse on the main thread (an OpenAPI document of up to 32 MB): its bytes, which the
 * import worker parses and checks against the route's schema, answering as `input` would.
 */
export class UnreadBody {
  readonly bytes: Uint8Array;
  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
  }
}

/** The route's body when it is still unread (see `UnreadBody`). */
export const unreadBody = (body: unknown): UnreadBody | undefined => (body instanceof UnreadBody ? body : undefined);

/** Parses a JSON request body as the API's JSON body parser does: strict (an object or an array); empty is `{}`. */
export function parseJsonBody(bytes: Uint8Array): unknown {
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
  if (text.trim() === '') return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw invalidJson(`the request body is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof value !== 'object' || value === null) {
    throw invalidJson('the request body is not valid JSON: it must be an object or an array');
  }
  return value;
}
