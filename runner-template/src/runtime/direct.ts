import type { IncomingMessage, ServerResponse } from 'node:http';
import { isJsonContentType } from '@modelcontextprotocol/sdk/shared/mediaType.js';
import {
  CallToolResultSchema,
  ErrorCode,
  McpError,
  RELATED_TASK_META_KEY,
  SUPPORTED_PROTOCOL_VERSIONS,
} from '@modelcontextprotocol/sdk/types.js';

/**
 * The common case of a stateless Streamable HTTP request, answered without the SDK's per-request Server and
 * transport: one JSON-RPC `tools/call` or `tools/list` request, well-formed, with the headers the transport
 * requires. Everything else (initialize, notifications, batches, other methods, anything unusual) is left to the
 * SDK, so the protocol stays the SDK's; `test/direct.test.ts` sends the same requests to both paths and requires
 * byte-identical answers.
 *
 * Building an SDK Server, a transport and a web-standard Request per call was most of an instance's CPU per call
 * behind the gateway; this path does the same validation with plain checks.
 */

/** The transport's limit on a request body (the SDK's DEFAULT_MAX_REQUEST_BODY_SIZE, 4 MiB). */
const MAX_BODY_BYTES = 4 * 1024 * 1024;

/** A JSON-RPC request this path answers: one `tools/call` or `tools/list`. */
export type DirectRequest =
  | { kind: 'call'; id: string | number; name: string; arguments: Record<string, unknown> | undefined }
  | { kind: 'list'; id: string | number };

/** What reading a request gave: answered already (an error the SDK would give too), or its parsed body. */
export type Incoming = { answered: true } | { answered: false; body: unknown };

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The transport's error answer (status, JSON-RPC error without an id), as `createJsonErrorResponse` writes it. */
function sendTransportError(res: ServerResponse, status: number, code: number, message: string): void {
  send(res, status, { jsonrpc: '2.0', error: { code, message }, id: null });
}

/** A JSON answer with its length (as the SDK's transport sends it: no chunked encoding). */
function send(res: ServerResponse, status: number, message: unknown): void {
  const text = JSON.stringify(message);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/**
 * True when the SDK's transport would go on to read the body: POST with the Accept and Content-Type it requires.
 * Otherwise the SDK answers (406, 415) and this path stays out of the way.
 */
function passesTransportHeaders(req: IncomingMessage): boolean {
  const accept = req.headers.accept;
  if (!accept?.includes('application/json') || !accept.includes('text/event-stream')) return false;
  return isJsonContentType(req.headers['content-type']);
}

/**
 * Reads the body as the SDK's transport does (a declared or actual size over 4 MiB is refused, the text decoded
 * as UTF-8 without a BOM, then parsed as JSON) and answers the errors it would give. Requests whose headers the
 * transport refuses are not read: the SDK answers them.
 */
export async function readIncoming(req: IncomingMessage, res: ServerResponse): Promise<Incoming | undefined> {
  if (!passesTransportHeaders(req)) return undefined;
  const tooLarge = () =>
    sendTransportError(res, 413, -32000, `Payload Too Large: Request body must not exceed ${MAX_BODY_BYTES} bytes`);
  if (Number(req.headers['content-length']) > MAX_BODY_BYTES) {
    tooLarge();
    return { answered: true };
  }
  const chunks: Buffer[] = [];
  let received = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    received += chunk.length;
    if (received > MAX_BODY_BYTES) {
      tooLarge();
      return { answered: true };
    }
    chunks.push(chunk);
  }
  try {
    const text = new TextDecoder().decode(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
    return { answered: false, body: JSON.parse(text) };
  } catch {
    sendTransportError(res, 400, -32700, 'Parse error: Invalid JSON');
    return { answered: true };
  }
}

/** `_meta` as the SDK accepts it without further ado: an object, a valid progress token, no related task. */
function plainMeta(meta: unknown): boolean {
  if (meta === undefined) return true;
  if (!isPlainObject(meta) || meta[RELATED_TASK_META_KEY] !== undefined) return false;
  const token = meta.progressToken;
  return token === undefined || typeof token === 'string' || Number.isSafeInteger(token);
}

/**
 * The request when the body is exactly one `tools/call` or `tools/list` this path answers as the SDK would; for
 * anything else (or anything unusual about these two) undefined, and the SDK handles it.
 */
export function classify(req: IncomingMessage, body: unknown): DirectRequest | undefined {
  const version = req.headers['mcp-protocol-version'];
  if (version !== undefined && !SUPPORTED_PROTOCOL_VERSIONS.includes(version as string)) return undefined;
  if (!isPlainObject(body) || body.jsonrpc !== '2.0') return undefined;
  for (const key in body) if (key !== 'jsonrpc' && key !== 'id' && key !== 'method' && key !== 'params') return;
  const id = body.id;
  if (typeof id !== 'string' && !Number.isSafeInteger(id)) return undefined;
  const params = body.params;
  if (body.method === 'tools/call') {
    if (!isPlainObject(params) || typeof params.name !== 'string' || !plainMeta(params._meta)) return undefined;
    for (const key in params) if (key !== 'name' && key !== 'arguments' && key !== '_meta') return undefined;
    const args = params.arguments;
    if (args !== undefined && !isPlainObject(args)) return undefined;
    return { kind: 'call', id: id as string | number, name: params.name, arguments: args };
  }
  if (body.method === 'tools/list') {
    if (params !== undefined) {
      if (!isPlainObject(params) || !plainMeta(params._meta)) return undefined;
      for (const key in params) if (key !== 'cursor' && key !== '_meta') return undefined;
      if (params.cursor !== undefined && typeof params.cursor !== 'string') return undefined;
    }
    return { kind: 'list', id: id as string | number };
  }
  return undefined;
}

/** The answer to a request whose handler resolved: the result, checked like the SDK's Server checks a call's. */
export function sendResult(res: ServerResponse, request: DirectRequest, result: unknown): void {
  if (request.kind === 'call') {
    const checked = CallToolResultSchema.safeParse(result);
    if (!checked.success) {
      sendError(
        res,
        request,
        new McpError(ErrorCode.InvalidParams, `Invalid tools/call result: ${checked.error.message}`),
      );
      return;
    }
    result = checked.data;
  }
  send(res, 200, { result, jsonrpc: '2.0', id: request.id });
}

/** The answer to a request whose handler threw, rendered as the SDK's Protocol renders it. */
export function sendError(res: ServerResponse, request: DirectRequest, error: unknown): void {
  const e = (typeof error === 'object' && error !== null ? error : {}) as {
    code?: unknown;
    message?: unknown;
    data?: unknown;
  };
  const code = Number.isSafeInteger(e.code) ? (e.code as number) : ErrorCode.InternalError;
  send(res, 200, {
    jsonrpc: '2.0',
    id: request.id,
    error: { code, message: e.message ?? 'Internal error', ...(e.data !== undefined && { data: e.data }) },
  });
}
