import { MAX_SPANS } from '@bmms/runner-template';
import {
  type Attributes,
  type HrTime,
  type SpanContext,
  SpanKind,
  SpanStatusCode,
  TraceFlags,
} from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';

/** The largest spans header the gateway reads; a longer one is dropped whole. */
export const MAX_SPANS_HEADER_BYTES = 4096;

const SPAN_ID = /^[0-9a-f]{16}$/;
const SPAN_NAME = /^tools\/call(?: [a-zA-Z][a-zA-Z0-9_-]{0,63})?$/;
const ZERO_SPAN = '0'.repeat(16);

/** What the gateway knows of the call the instance answered, to judge the spans it reports. */
export interface InstanceCall {
  /** The gateway's span: the instance's spans must be in its trace and children of it. */
  parent: SpanContext;
  /** The gateway span's start (epoch µs): an instance span is clamped into [start, now]. */
  startMicros: number;
  server: string;
  resource: ReadableSpan['resource'];
}

interface Reported {
  traceId?: unknown;
  parentSpanId?: unknown;
  spans?: unknown;
}

/**
 * The spans an instance reported in its answer's spans header, as exportable spans. The instance is not trusted:
 * the header is bounded, its trace and parent must be the ones the gateway sent, span ids must be well formed
 * and unique, names are `tools/call <tool>`, times are clamped to the gateway's own span, and at most MAX_SPANS
 * are kept. Anything else is dropped; a hostile instance can at most add wrong spans under its own call.
 */
export function instanceSpans(header: string | string[] | undefined, call: InstanceCall): ReadableSpan[] {
  if (typeof header !== 'string' || header.length > MAX_SPANS_HEADER_BYTES) return [];
  let reported: Reported;
  try {
    reported = JSON.parse(header) as Reported;
  } catch {
    return [];
  }
  if (typeof reported !== 'object' || reported === null) return [];
  if (reported.traceId !== call.parent.traceId || reported.parentSpanId !== call.parent.spanId) return [];
  if (!Array.isArray(reported.spans)) return [];
  const now = nowMicros();
  const seen = new Set<string>([call.parent.spanId]);
  const out: ReadableSpan[] = [];
  for (const raw of reported.spans.slice(0, MAX_SPANS)) {
    const span = readSpan(raw, seen);
    if (!span) continue;
    const start = clamp(span.start, call.startMicros, now);
    const end = clamp(span.end, start, now);
    out.push(readableSpan(call, span.spanId, span.name, start, end, span.error));
  }
  return out;
}

interface ValidSpan {
  spanId: string;
  name: string;
  start: number;
  end: number;
  error: boolean;
}

function readSpan(raw: unknown, seen: Set<string>): ValidSpan | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const s = raw as { spanId?: unknown; name?: unknown; start?: unknown; end?: unknown; error?: unknown };
  if (typeof s.spanId !== 'string' || !SPAN_ID.test(s.spanId) || s.spanId === ZERO_SPAN || seen.has(s.spanId)) {
    return undefined;
  }
  if (typeof s.start !== 'number' || typeof s.end !== 'number' || !Number.isFinite(s.start + s.end)) return undefined;
  seen.add(s.spanId);
  const name = typeof s.name === 'string' && SPAN_NAME.test(s.name) ? s.name : 'tools/call';
  return { spanId: s.spanId, name, start: s.start, end: s.end, error: s.error === true };
}

function readableSpan(
  call: InstanceCall,
  spanId: string,
  name: string,
  start: number,
  end: number,
  error: boolean,
): ReadableSpan {
  const context: SpanContext = { traceId: call.parent.traceId, spanId, traceFlags: TraceFlags.SAMPLED };
  const attributes: Attributes = { 'mcp.method.name': 'tools/call', 'bmms.server': call.server };
  const tool = name.slice('tools/call '.length);
  if (tool) attributes['gen_ai.tool.name'] = tool;
  if (error) attributes['error.type'] = 'tool_error';
  return {
    name,
    kind: SpanKind.SERVER,
    spanContext: () => context,
    parentSpanContext: call.parent,
    startTime: hrTime(start),
    endTime: hrTime(end),
    duration: hrTime(end - start),
    status: { code: error ? SpanStatusCode.ERROR : SpanStatusCode.UNSET },
    attributes,
    links: [],
    events: [],
    ended: true,
    resource: call.resource,
    instrumentationScope: { name: '@bmms/runner-template' },
    droppedAttributesCount: 0,
    droppedEventsCount: 0,
    droppedLinksCount: 0,
  };
}

/** Epoch microseconds. */
export function nowMicros(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}

const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), Math.max(lo, hi));
const hrTime = (micros: number): HrTime => [Math.floor(micros / 1e6), Math.round(micros % 1e6) * 1000];
