// Traces over OTLP/HTTP to a local receiver: REST requests, check runs and deploys are spans of the platform; an
// MCP call continues the client's trace (from its traceparent header or the request's `_meta`), and the instance's
// tool span, reported to the gateway, is exported as the child of the gateway's span. Without an endpoint, nothing
// is sent.
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CallRecord } from '../src/gateway/calls.ts';
import { poll, TestStack } from './harness.ts';

interface OtlpValue {
  stringValue?: string;
  intValue?: number | string;
  boolValue?: boolean;
}
interface OtlpAttribute {
  key: string;
  value: OtlpValue;
}
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: OtlpAttribute[];
  events?: { name: string }[];
  status?: { code?: number };
}
interface OtlpRequest {
  resourceSpans: { resource: { attributes: OtlpAttribute[] }; scopeSpans: { spans: OtlpSpan[] }[] }[];
}

/** A received span with its service name and attributes as a plain object. */
interface Received {
  service: string;
  traceId: string;
  spanId: string;
  parentSpanId: string | undefined;
  name: string;
  kind: number;
  attributes: Record<string, string | number | boolean | undefined>;
  events: string[];
  statusCode: number;
}

const otlpValue = (v: OtlpValue) => v.stringValue ?? (v.intValue !== undefined ? Number(v.intValue) : v.boolValue);
const attributesOf = (list: OtlpAttribute[] = []) => Object.fromEntries(list.map((a) => [a.key, otlpValue(a.value)]));

/** A tiny OTLP/HTTP (JSON) trace receiver on 127.0.0.1. */
class Receiver {
  readonly spans: Received[] = [];
  requests = 0;
  contentTypes = new Set<string>();
  readonly #server: Server;

  constructor() {
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.requests++;
        this.contentTypes.add(String(req.headers['content-type']));
        if (req.url === '/v1/traces') this.#take(JSON.parse(Buffer.concat(chunks).toString('utf8')) as OtlpRequest);
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }

  #take(body: OtlpRequest): void {
    for (const rs of body.resourceSpans) {
      const service = String(attributesOf(rs.resource.attributes)['service.name']);
      for (const ss of rs.scopeSpans) {
        for (const s of ss.spans) {
          this.spans.push({
            service,
            traceId: s.traceId,
            spanId: s.spanId,
            parentSpanId: s.parentSpanId || undefined,
            name: s.name,
            kind: s.kind,
            attributes: attributesOf(s.attributes),
            events: (s.events ?? []).map((e) => e.name),
            statusCode: s.status?.code ?? 0,
          });
        }
      }
    }
  }

  /** Waits until a span matching `match` arrived (the exporter batches: up to its schedule delay). */
  waitFor(what: string, match: (s: Received) => boolean): Promise<Received> {
    return poll(async () => this.spans.find(match), 30_000, what);
  }
}

const hex = (bytes: number) => randomBytes(bytes).toString('hex');

/** A raw MCP tools/call through the gateway. */
async function callEcho(stack: TestStack, text: string, opts: { traceparent?: string; meta?: string } = {}) {
  const params: Record<string, unknown> = { name: 'echo', arguments: { text } };
  if (opts.meta) params._meta = { traceparent: opts.meta };
  const headers: Record<string, string> = {
    authorization: `Bearer ${stack.key}`,
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
  };
  if (opts.traceparent) headers.traceparent = opts.traceparent;
  const res = await fetch(`${stack.url}/s/traced/mcp`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params }),
  });
  const body = (await res.json()) as { result?: { content: { text: string }[] } };
  return { status: res.status, headers: res.headers, text: body.result?.content[0]?.text };
}

describe('tracing', () => {
  const receiver = new Receiver();
  let stack: TestStack;
  const records: CallRecord[] = [];

  beforeAll(async () => {
    const base = await receiver.listen();
    stack = await TestStack.start({ tracing: { url: `${base}/v1/traces` } });
    stack.platform.ctx.calls.add((record) => records.push(record));
    await stack.createAndDeploy('traced');
  }, 240_000);
  afterAll(async () => {
    await stack?.destroy();
    await receiver.close();
  });

  it('continues the client traceparent through the gateway to the instance tool span', async () => {
    const traceId = hex(16);
    const clientSpan = hex(8);
    const answer = await callEcho(stack, 'hello', { traceparent: `00-${traceId}-${clientSpan}-01` });
    expect(answer).toMatchObject({ status: 200, text: 'hello' });
    // The instance's spans travel to the gateway in a header the client never sees.
    expect(answer.headers.get('x-bmms-spans')).toBeNull();

    const gateway = await receiver.waitFor(
      'the gateway span',
      (s) => s.traceId === traceId && s.kind === 2 && s.service === 'bmms-platform',
    );
    expect(gateway).toMatchObject({
      parentSpanId: clientSpan,
      name: 'tools/call echo',
      statusCode: 0,
      attributes: {
        'mcp.method.name': 'tools/call',
        'gen_ai.tool.name': 'echo',
        'bmms.server': 'traced',
        'http.response.status_code': 200,
      },
    });
    const tool = await receiver.waitFor(
      'the instance tool span',
      (s) => s.traceId === traceId && s.service === 'bmms-instance',
    );
    expect(tool).toMatchObject({
      parentSpanId: gateway.spanId,
      name: 'tools/call echo',
      attributes: { 'mcp.method.name': 'tools/call', 'gen_ai.tool.name': 'echo', 'bmms.server': 'traced' },
    });
    // Never an argument or a result in any span.
    expect(JSON.stringify(receiver.spans)).not.toContain('hello');
    // The gateway's call record carries the trace id (logs and metrics link to the trace).
    expect(records.find((r) => r.traceId === traceId)).toMatchObject({ tool: 'echo', status: 200 });
  });

  it('continues a traceparent sent in the request _meta', async () => {
    const traceId = hex(16);
    const clientSpan = hex(8);
    const answer = await callEcho(stack, 'meta', { meta: `00-${traceId}-${clientSpan}-01` });
    expect(answer).toMatchObject({ status: 200, text: 'meta' });
    const gateway = await receiver.waitFor(
      'the gateway span',
      (s) => s.traceId === traceId && s.kind === 2 && s.service === 'bmms-platform',
    );
    expect(gateway.parentSpanId).toBe(clientSpan);
    const tool = await receiver.waitFor('the tool span', (s) => s.traceId === traceId && s.service === 'bmms-instance');
    expect(tool.parentSpanId).toBe(gateway.spanId);
  });

  it('starts a new trace for a call without traceparent, and marks a failed call', async () => {
    const res = await fetch(`${stack.url}/s/traced/mcp`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${stack.key}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'echo', arguments: {} } }),
    });
    expect(res.status).toBe(200);
    const record = await poll(
      async () => records.find((r) => r.requestId === res.headers.get('x-request-id')),
      5000,
      'record',
    );
    expect(record.traceId).toMatch(/^[0-9a-f]{32}$/);
    const gateway = await receiver.waitFor(
      'the failed call span',
      (s) => s.traceId === record.traceId && s.kind === 2 && s.service === 'bmms-platform',
    );
    expect(gateway.parentSpanId).toBeUndefined();
    expect(gateway.statusCode).toBe(2);
    // Invalid arguments are a tool error since 2025-11-25 (SEP-1303), not JSON-RPC -32602.
    expect(gateway.attributes['rpc.jsonrpc.error_code']).toBeUndefined();
    expect(gateway.attributes['error.type']).toBe('tool_error');
    // The instance's span of the refused call failed too.
    const tool = await receiver.waitFor(
      'its tool span',
      (s) => s.traceId === record.traceId && s.service === 'bmms-instance',
    );
    expect(tool).toMatchObject({ parentSpanId: gateway.spanId, statusCode: 2 });
  });

  it('has spans for REST requests (by route template), check runs and deploys', async () => {
    const traceId = hex(16);
    const got = await stack.api('GET', '/api/v1/servers/traced', undefined, {
      headers: { traceparent: `00-${traceId}-${hex(8)}-01` },
    });
    expect(got.status).toBe(200);
    const api = await receiver.waitFor('the API span', (s) => s.traceId === traceId);
    expect(api).toMatchObject({
      name: 'GET /api/v1/servers/:name',
      kind: 2,
      attributes: { 'http.route': '/api/v1/servers/:name', 'http.response.status_code': 200 },
    });
    await receiver.waitFor('the create request span', (s) => s.name === 'POST /api/v1/servers');
    const suite = await receiver.waitFor(
      'a check suite span',
      (s) => s.name === 'check suite' && s.attributes['bmms.server'] === 'traced',
    );
    const typecheck = await receiver.waitFor(
      'the typecheck span',
      (s) => s.name === 'check typecheck' && s.traceId === suite.traceId,
    );
    expect(typecheck).toMatchObject({ parentSpanId: suite.spanId, attributes: { 'bmms.check.conclusion': 'success' } });
    const deploy = await receiver.waitFor(
      'the deploy span',
      (s) => s.name === 'deploy' && s.attributes['bmms.server'] === 'traced',
    );
    expect(deploy.events).toEqual(expect.arrayContaining(['bundled', 'started', 'probed', 'routed']));
    expect(deploy.statusCode).toBe(0);
    expect([...receiver.contentTypes]).toEqual(['application/json']);
  });

  it('sends nothing when no endpoint is configured', async () => {
    await stack.stop();
    const before = receiver.requests;
    const spans = receiver.spans.length;
    await stack.boot({});
    await stack.waitReady('traced');
    const answer = await callEcho(stack, 'quiet', { traceparent: `00-${hex(16)}-${hex(8)}-01` });
    expect(answer).toMatchObject({ status: 200, text: 'quiet' });
    expect(answer.headers.get('x-bmms-spans')).toBeNull();
    await stack.stop();
    expect(receiver.requests).toBe(before);
    expect(receiver.spans.length).toBe(spans);
    // destroy() closes it again: harmless.
  });
});
