import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type GenerationConfig, generationConfigFromEnv } from '../src/generation/config.ts';

/** One scripted answer of the fake Messages API. */
export type Scripted =
  /** An assistant message calling `name` with `input` (any JSON, valid or not). */
  | { tool: string; input: unknown }
  /** An assistant message with text only (no tool call). */
  | { text: string }
  /** An HTTP error, e.g. 529 overloaded or 429 rate limited. */
  | { status: number; retryAfterMs?: number }
  /** Never answers (the client's timeout fires). */
  | { hang: true };

/** A request the fake received. */
export interface Received {
  headers: IncomingHttpHeaders;
  body: {
    model: string;
    max_tokens: number;
    stream?: boolean;
    system?: string;
    tools?: { name: string; input_schema: unknown }[];
    tool_choice?: unknown;
    messages: { role: string; content: unknown }[];
  };
}

const ERROR_TYPES: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  429: 'rate_limit_error',
  500: 'api_error',
  529: 'overloaded_error',
};

/**
 * A local HTTP server speaking the Anthropic Messages API (`POST /v1/messages`, JSON and streaming
 * server-sent events, tool use) with scripted answers, so the real SDK talks to it through its base URL.
 */
export class FakeAnthropic {
  readonly received: Received[] = [];
  readonly #script: Scripted[] = [];
  readonly #hanging = new Set<ServerResponse>();
  #server: Server | undefined;
  #n = 0;
  url = '';

  /** The platform's generation settings pointed at this fake (a scripted key and model, 5 s per request). */
  generationConfig(limits: { maxRetries: number; maxRepairs: number }): GenerationConfig {
    return {
      ...generationConfigFromEnv({}),
      anthropicApiKey: 'sk-test-scripted',
      anthropicBaseUrl: this.url,
      model: 'scripted-model',
      timeoutMs: 5000,
      ...limits,
    };
  }

  /** Queues answers, served in order (one per request). */
  script(...answers: Scripted[]): void {
    this.#script.push(...answers);
  }

  /** Answers not served yet. */
  get pending(): number {
    return this.#script.length;
  }

  async start(): Promise<this> {
    this.#server = createServer((req, res) => {
      let raw = '';
      req.on('data', (c: Buffer) => {
        raw += c.toString('utf8');
      });
      req.on('end', () => {
        if (req.method !== 'POST' || !req.url?.startsWith('/v1/messages')) {
          this.#error(res, 404, 'not found');
          return;
        }
        const body = JSON.parse(raw) as Received['body'];
        this.received.push({ headers: req.headers, body });
        const next = this.#script.shift();
        if (!next) {
          this.#error(res, 500, 'the fake has no scripted answer left');
          return;
        }
        if ('hang' in next) {
          this.#hanging.add(res);
          res.on('close', () => this.#hanging.delete(res));
          return;
        }
        if ('status' in next) {
          this.#error(res, next.status, 'scripted failure', next.retryAfterMs);
          return;
        }
        this.#answer(res, body, next);
      });
    });
    await new Promise<void>((resolve) => this.#server?.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
    return this;
  }

  async close(): Promise<void> {
    for (const res of this.#hanging) res.destroy();
    this.#server?.closeAllConnections();
    await new Promise<void>((resolve) => this.#server?.close(() => resolve()));
  }

  #error(res: ServerResponse, status: number, message: string, retryAfterMs?: number): void {
    const headers: Record<string, string> = { 'content-type': 'application/json', 'request-id': `req_${++this.#n}` };
    if (retryAfterMs !== undefined) headers['retry-after-ms'] = String(retryAfterMs);
    res.writeHead(status, headers);
    res.end(JSON.stringify({ type: 'error', error: { type: ERROR_TYPES[status] ?? 'api_error', message } }));
  }

  #answer(
    res: ServerResponse,
    body: Received['body'],
    answer: { tool: string; input: unknown } | { text: string },
  ): void {
    const id = `msg_${++this.#n}`;
    const block =
      'tool' in answer
        ? { type: 'tool_use', id: `toolu_${this.#n}`, name: answer.tool, input: answer.input }
        : { type: 'text', text: answer.text };
    const stop = 'tool' in answer ? 'tool_use' : 'end_turn';
    const usage = { input_tokens: 100, output_tokens: 50 };
    if (!body.stream) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          id,
          type: 'message',
          role: 'assistant',
          model: body.model,
          content: [block],
          stop_reason: stop,
          stop_sequence: null,
          usage,
        }),
      );
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    const send = (event: string, data: unknown) => res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    send('message_start', {
      type: 'message_start',
      message: {
        id,
        type: 'message',
        role: 'assistant',
        model: body.model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: { input_tokens: 100, output_tokens: 1 },
      },
    });
    if (block.type === 'tool_use') {
      send('content_block_start', {
        type: 'content_block_start',
        index: 0,
        content_block: { type: 'tool_use', id: block.id, name: block.name, input: {} },
      });
      // The input arrives as partial JSON in several pieces, as the real API streams it.
      const json = JSON.stringify(block.input);
      for (let i = 0; i < json.length; i += 40) {
        send('content_block_delta', {
          type: 'content_block_delta',
          index: 0,
          delta: { type: 'input_json_delta', partial_json: json.slice(i, i + 40) },
        });
      }
    } else {
      send('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } });
      send('content_block_delta', {
        type: 'content_block_delta',
        index: 0,
        delta: { type: 'text_delta', text: block.text },
      });
    }
    send('content_block_stop', { type: 'content_block_stop', index: 0 });
    send('message_delta', {
      type: 'message_delta',
      delta: { stop_reason: stop, stop_sequence: null },
      usage: { output_tokens: 50 },
    });
    send('message_stop', { type: 'message_stop' });
    res.end();
  }
}
