import { TraceFlags } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { describe, expect, it } from 'vitest';
import { type InstanceCall, instanceSpans, MAX_SPANS_HEADER_BYTES, nowMicros } from './instance-spans.ts';

const traceId = 'a'.repeat(32);
const parentId = 'b'.repeat(16);
const call = (): InstanceCall => ({
  parent: { traceId, spanId: parentId, traceFlags: TraceFlags.SAMPLED },
  startMicros: nowMicros() - 1_000_000,
  server: 'demo',
  resource: resourceFromAttributes({ 'service.name': 'bmms-instance' }),
});
const header = (spans: unknown[], over: Record<string, unknown> = {}) =>
  JSON.stringify({ traceId, parentSpanId: parentId, spans, ...over });
const span = (spanId: string, extra: Record<string, unknown> = {}) => ({
  spanId,
  name: 'tools/call echo',
  start: nowMicros() - 500_000,
  end: nowMicros() - 100_000,
  error: false,
  ...extra,
});

describe('spans reported by an instance', () => {
  it('become children of the gateway span in its trace', () => {
    const [s] = instanceSpans(header([span('c'.repeat(16))]), call());
    expect(s?.spanContext()).toMatchObject({ traceId, spanId: 'c'.repeat(16) });
    expect(s?.parentSpanContext?.spanId).toBe(parentId);
    expect(s?.name).toBe('tools/call echo');
    expect(s?.attributes).toEqual({
      'mcp.method.name': 'tools/call',
      'bmms.server': 'demo',
      'gen_ai.tool.name': 'echo',
    });
  });

  it('are dropped whole when the trace or parent is not the one the gateway sent, or the header is too large', () => {
    const one = [span('c'.repeat(16))];
    expect(instanceSpans(header(one, { traceId: 'd'.repeat(32) }), call())).toEqual([]);
    expect(instanceSpans(header(one, { parentSpanId: 'd'.repeat(16) }), call())).toEqual([]);
    expect(instanceSpans(header(one).padEnd(MAX_SPANS_HEADER_BYTES + 1, ' '), call())).toEqual([]);
    expect(instanceSpans('not json', call())).toEqual([]);
    expect(instanceSpans(['a', 'b'], call())).toEqual([]);
  });

  it('keep only well-formed, unique ids, bounded names and count, and times inside the gateway span', () => {
    const spans = [
      span('c'.repeat(16), { name: 'tools/call <script>', start: 0, end: 1e18 }),
      span('c'.repeat(16)),
      span(parentId),
      span('0'.repeat(16)),
      span('XYZ'),
      span('e'.repeat(16), { start: 'soon' }),
      ...Array.from({ length: 20 }, (_, i) => span(i.toString(16).padStart(16, 'f'))),
    ];
    const c = call();
    const got = instanceSpans(header(spans), c);
    expect(header(spans).length).toBeLessThan(MAX_SPANS_HEADER_BYTES);
    // Of the first 16 reported, 11 are well formed (a duplicate, the parent's id, zeros, a bad id, a bad time are not).
    expect(got.length).toBe(11);
    expect(new Set(got.map((s) => s.spanContext().spanId)).size).toBe(got.length);
    const first = got[0];
    expect(first?.name).toBe('tools/call');
    const micros = (t: [number, number]) => t[0] * 1e6 + t[1] / 1000;
    expect(micros(first?.startTime as [number, number])).toBeGreaterThanOrEqual(c.startMicros - 1);
    expect(micros(first?.endTime as [number, number])).toBeLessThanOrEqual(nowMicros() + 1);
    for (const s of got) expect(s.spanContext().spanId).toMatch(/^[0-9a-f]{16}$/);
    expect(got.map((s) => s.spanContext().spanId)).not.toContain(parentId);
  });
});
