import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineTool, type RunningServer, startServer } from '../src/runtime/index.ts';
import { SPANS_HEADER } from '../src/runtime/trace.ts';

const manifest = {
  name: 'trace-demo',
  version: '1.0.0',
  description: 'Demo.',
  tools: [
    { name: 'echo', description: 'Echoes.', inputSchema: { type: 'object', properties: { text: { type: 'string' } } } },
  ],
};
const echo = defineTool({ name: 'echo', input: { text: z.string() }, handler: ({ text }) => text });

describe('tool-call spans reported to the gateway', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startServer({ manifest, tools: [echo], env: { PORT: '0' }, write: () => {}, ownProcess: false });
  });
  afterAll(() => server.close());

  const call = (headers: Record<string, string>, body: unknown) =>
    fetch(`http://${server.address}/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
      body: JSON.stringify(body),
    });
  const toolsCall = (id: number, args: unknown) => ({
    jsonrpc: '2.0',
    id,
    method: 'tools/call',
    params: { name: 'echo', arguments: args },
  });
  const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
  const parent = '00f067aa0ba902b7';

  it('reports one span per tool call, a child of the traceparent it was sent, in a response header', async () => {
    const started = Date.now() * 1000;
    const res = await call({ traceparent: `00-${traceId}-${parent}-01` }, [
      toolsCall(1, { text: 'a' }),
      toolsCall(2, {}),
    ]);
    expect(res.status).toBe(200);
    const reported = JSON.parse(res.headers.get(SPANS_HEADER) ?? 'null');
    expect(reported).toMatchObject({ traceId, parentSpanId: parent });
    expect(reported.spans).toHaveLength(2);
    // In the order they ended.
    const ok = reported.spans.find((s: { error: boolean }) => !s.error);
    const failed = reported.spans.find((s: { error: boolean }) => s.error);
    expect(ok).toMatchObject({ name: 'tools/call echo', error: false });
    expect(failed).toMatchObject({ name: 'tools/call echo', error: true });
    expect(ok.spanId).toMatch(/^[0-9a-f]{16}$/);
    expect(ok.spanId).not.toBe(failed.spanId);
    expect(ok.start).toBeGreaterThanOrEqual(started - 1000);
    expect(ok.end).toBeGreaterThanOrEqual(ok.start);
    // Never an argument or a result.
    expect(res.headers.get(SPANS_HEADER)).not.toContain('"a"');
  });

  it('reports nothing without a valid, sampled traceparent', async () => {
    for (const traceparent of [
      undefined,
      `00-${traceId}-${parent}-00`,
      'garbage',
      `00-${'0'.repeat(32)}-${parent}-01`,
    ]) {
      const res = await call(traceparent ? { traceparent } : {}, toolsCall(1, { text: 'a' }));
      expect(res.status).toBe(200);
      expect(res.headers.get(SPANS_HEADER)).toBeNull();
    }
  });
});
