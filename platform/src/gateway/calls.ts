import type { Logger } from '../logger.ts';

/**
 * One MCP request through the gateway, as the logs and metrics see it: what was called, by whom, how it ended
 * and how long it took. Never the arguments, the result, a token or a secret.
 */
export interface CallRecord {
  /** When the gateway received the request (epoch ms). */
  at: number;
  /** The server's name, without a preview suffix. */
  server: string;
  serverId: string;
  orgId: string;
  /** The preview's change number when the call went to a preview (`<name>--<n>`). */
  preview: number | undefined;
  /** The revision that answered, when a route was leased. */
  revision: string | undefined;
  /** The JSON-RPC method of the request (the first one of a batch); undefined for GET/DELETE. */
  method: string | undefined;
  /** The called tool, for `tools/call`. */
  tool: string | undefined;
  /** The HTTP status the client got. */
  status: number;
  /** The JSON-RPC error code of the answer, when it was an error. */
  rpcErrorCode: number | undefined;
  /** True when a tool answered with `isError: true` (or the call failed before the instance answered). */
  failed: boolean;
  latencyMs: number;
  requestBytes: number;
  responseBytes: number;
  /** The MCP client's `clientInfo.name`, as sent at `initialize` (remembered per session and caller). */
  clientName: string | undefined;
  /** The OAuth client id, or `api-key:<id>` for an API key. */
  clientId: string;
  userId: string;
  requestId: string;
  /** The W3C trace id the call ran under, when tracing is on. */
  traceId: string | undefined;
}

/**
 * Set in `res.locals` of a request the gateway tells its observers about: the platform's HTTP request histogram
 * leaves it out, since `bmms_gateway_call_duration_seconds` already measures it.
 */
export const OBSERVED_CALL = 'bmmsObservedCall';

/** Who wants to hear of every call (the log writer, the metrics). Must return at once: it runs on the call path. */
export type CallObserver = (call: CallRecord) => void;

/** The observers of gateway calls; one that throws is logged and does not disturb the others or the call. */
export class CallObservers {
  readonly #observers: CallObserver[] = [];
  readonly #log: Logger;
  readonly #enabled: boolean;

  /** With `enabled` false (BMMS_CALL_OBSERVERS=off) nobody is ever told of a call and nothing is measured. */
  constructor(log: Logger, enabled = true) {
    this.#log = log;
    this.#enabled = enabled;
  }

  /** Adds an observer (ignored when observing is off); returns a function that removes it. */
  add(observer: CallObserver): () => void {
    if (!this.#enabled) return () => {};
    this.#observers.push(observer);
    return () => {
      const i = this.#observers.indexOf(observer);
      if (i >= 0) this.#observers.splice(i, 1);
    };
  }

  /** False with BMMS_CALL_OBSERVERS=off: calls are then not traced either. */
  get enabled(): boolean {
    return this.#enabled;
  }

  /** Whether anybody listens (the gateway skips measuring the answer otherwise). */
  get active(): boolean {
    return this.#observers.length > 0;
  }

  emit(call: CallRecord): void {
    for (const observer of this.#observers) {
      try {
        observer(call);
      } catch (err) {
        this.#log.error('call observer failed', { err });
      }
    }
  }
}

/** The most of an answer the gateway keeps to read its outcome (a larger answer's outcome is read from its head). */
const HEAD_BYTES = 64 * 1024;

/** What an answer without a JSON-RPC error or a tool error reads as (shared: nothing is allocated for it). */
const NO_ERROR: Readonly<{ rpcErrorCode: number | undefined; isError: boolean }> = Object.freeze({
  rpcErrorCode: undefined,
  isError: false,
});

/** Counts an answer's bytes and keeps its head, to read the JSON-RPC outcome once it has been sent. */
export class AnswerMeter {
  bytes = 0;
  /** The first chunk; the following ones of the head in `rest` (most answers are one chunk). */
  private first: Buffer | undefined = undefined;
  private rest: Buffer[] | undefined = undefined;
  private headBytes = 0;

  /** Called with every chunk sent to the client. */
  observe(chunk: Buffer): void {
    this.bytes += chunk.length;
    if (this.headBytes >= HEAD_BYTES) return;
    if (this.first === undefined) this.first = chunk;
    else if (this.rest) this.rest.push(chunk);
    else this.rest = [chunk];
    this.headBytes += chunk.length;
  }

  /** The JSON-RPC error code and whether a tool result was an error, read from a JSON or SSE answer. */
  outcome(contentType: string | undefined): Readonly<{ rpcErrorCode: number | undefined; isError: boolean }> {
    const none = NO_ERROR;
    if (this.first === undefined || this.headBytes > HEAD_BYTES) return none;
    const head = this.rest ? Buffer.concat([this.first, ...this.rest]) : this.first;
    // Most answers are plain results: with neither word in them there is nothing to parse.
    if (!mentionsError(head)) return none;
    const text = head.toString('utf8');
    const messages = contentType?.startsWith('text/event-stream') ? sseMessages(text) : [parseJson(text)];
    for (const message of messages.flat()) {
      if (typeof message !== 'object' || message === null) continue;
      const m = message as { error?: { code?: unknown }; result?: { isError?: unknown } };
      if (m.error && typeof m.error.code === 'number') return { rpcErrorCode: m.error.code, isError: true };
      if (m.result?.isError === true) return { rpcErrorCode: undefined, isError: true };
    }
    return none;
  }
}

const QUOTE = 0x22;
const ERROR = Buffer.from('error"');
const IS_ERROR = Buffer.from('isError"');

/** Below this size an answer is searched in JavaScript; a larger one by two native searches. */
const SCAN_BYTES = 4096;

/**
 * Whether `bytes` hold `"error"` or `"isError"`. A small answer (nearly all of them) is searched in one pass in
 * JavaScript, cheaper on the call path than a native search per word or than decoding it first.
 */
export function mentionsError(bytes: Buffer): boolean {
  const end = bytes.length;
  if (end > SCAN_BYTES) return bytes.includes('"error"') || bytes.includes('"isError"');
  for (let i = 0; i < end; i++) {
    if (bytes[i] === QUOTE && (followedBy(bytes, i + 1, ERROR) || followedBy(bytes, i + 1, IS_ERROR))) return true;
  }
  return false;
}

function followedBy(bytes: Buffer, at: number, word: Buffer): boolean {
  if (at + word.length > bytes.length) return false;
  for (let j = 0; j < word.length; j++) if (bytes[at + j] !== word[j]) return false;
  return true;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The JSON messages of an SSE stream's `data:` lines. */
function sseMessages(text: string): unknown[] {
  const out: unknown[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('data:')) out.push(parseJson(line.slice(5).trim()));
  }
  return out;
}

/** The first JSON-RPC request of a message or batch: its method, tool and client name. */
export function describeRequest(messages: unknown): {
  method: string | undefined;
  tool: string | undefined;
  clientName: string | undefined;
} {
  const first = Array.isArray(messages) ? messages[0] : messages;
  if (typeof first !== 'object' || first === null) return { method: undefined, tool: undefined, clientName: undefined };
  const m = first as { method?: unknown; params?: { name?: unknown; clientInfo?: { name?: unknown } } };
  const method = typeof m.method === 'string' ? m.method.slice(0, 100) : undefined;
  const tool = method === 'tools/call' && typeof m.params?.name === 'string' ? m.params.name.slice(0, 200) : undefined;
  const clientName =
    method === 'initialize' && typeof m.params?.clientInfo?.name === 'string'
      ? m.params.clientInfo.name.slice(0, 100)
      : undefined;
  return { method, tool, clientName };
}

/** The client names seen at `initialize`, per session id or caller, so later calls carry them (bounded, LRU). */
export class ClientNames {
  readonly #names = new Map<string, string>();
  readonly #max: number;

  constructor(max = 10_000) {
    this.#max = max;
  }

  remember(key: string, name: string): void {
    this.#names.delete(key);
    this.#names.set(key, name);
    if (this.#names.size > this.#max) this.#names.delete(this.#names.keys().next().value as string);
  }

  /** How many names are remembered. */
  get size(): number {
    return this.#names.size;
  }

  get(key: string): string | undefined {
    return this.#names.get(key);
  }
}
