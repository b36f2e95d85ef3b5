import { unixRequest } from '@bmms/reconciler';
import { CallToolResultSchema, LATEST_PROTOCOL_VERSION } from '@modelcontextprotocol/sdk/types.js';
import type { PreviewEndpoint } from '../../previews.ts';

/** A `tools/call` result as the specification shapes it. */
export interface ToolResult {
  content: unknown[];
  structuredContent?: Record<string, unknown>;
  isError?: boolean;
}

/** How a preview answered one `tools/call`, sorted by what went wrong if anything did. */
export type Answer =
  | { kind: 'result'; result: ToolResult }
  | { kind: 'error'; code: number; message: string }
  | { kind: 'malformed'; detail: string }
  | { kind: 'http'; status: number; body: string }
  | { kind: 'timeout'; ms: number }
  | { kind: 'unreachable'; detail: string };

let nextId = 1;

/** Sends one `tools/call` to the preview and sorts its answer; waits at most `timeoutMs`. */
export async function callPreview(
  endpoint: PreviewEndpoint,
  tool: string,
  args: Record<string, unknown>,
  timeoutMs: number,
): Promise<Answer> {
  const id = nextId++;
  let res: Awaited<ReturnType<typeof unixRequest>>;
  try {
    res = await unixRequest(endpoint.socketPath, {
      method: 'POST',
      path: '/mcp',
      headers: {
        ...endpoint.headers(),
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-protocol-version': LATEST_PROTOCOL_VERSION,
      },
      body: JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: tool, arguments: args } }),
      timeoutMs,
    });
  } catch (err) {
    const detail = err instanceof Error ? err.message : String(err);
    return /no answer within/.test(detail) ? { kind: 'timeout', ms: timeoutMs } : { kind: 'unreachable', detail };
  }
  const text = res.body.toString('utf8');
  if (res.status !== 200) return { kind: 'http', status: res.status, body: text.slice(0, 300) };
  return readAnswer(text, String(res.headers['content-type'] ?? ''), id);
}

/** A JSON-RPC answer from a JSON body or the first message event of an SSE body, checked against the spec. */
export function readAnswer(text: string, contentType: string, id: number): Answer {
  let message: unknown;
  try {
    const json = contentType.includes('text/event-stream') ? firstEvent(text) : text;
    message = JSON.parse(json ?? '');
  } catch {
    return { kind: 'malformed', detail: `the answer is not JSON-RPC: ${JSON.stringify(text.slice(0, 200))}` };
  }
  if (!isObject(message) || message.jsonrpc !== '2.0' || message.id !== id) {
    return {
      kind: 'malformed',
      detail: `not a JSON-RPC answer to request ${id}: ${JSON.stringify(message).slice(0, 200)}`,
    };
  }
  if (isObject(message.error)) {
    const { code, message: text } = message.error;
    if (typeof code !== 'number' || typeof text !== 'string') {
      return { kind: 'malformed', detail: `a JSON-RPC error without a numeric code and a message` };
    }
    return { kind: 'error', code, message: text };
  }
  const parsed = CallToolResultSchema.safeParse(message.result);
  if (!parsed.success) {
    return { kind: 'malformed', detail: `the result is not a CallToolResult: ${parsed.error.issues[0]?.message}` };
  }
  return { kind: 'result', result: parsed.data as ToolResult };
}

function firstEvent(text: string): string | undefined {
  return text
    .split('\n')
    .filter((l) => l.startsWith('data:'))
    .map((l) => l.slice(5).trim())
    .find((d) => d.length > 0);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
