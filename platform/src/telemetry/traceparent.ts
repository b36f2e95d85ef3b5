import { type SpanContext, TraceFlags } from '@opentelemetry/api';

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(?:-|$)/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);

/** A W3C `traceparent` (version 00, or a later version read as 00) as a remote span context; undefined when invalid. */
export function parseTraceparent(value: unknown): SpanContext | undefined {
  if (typeof value !== 'string' || value.length > 256) return undefined;
  const m = TRACEPARENT.exec(value.trim());
  if (!m) return undefined;
  const [, traceId, spanId, flags] = m as unknown as [string, string, string, string];
  if (traceId === ZERO_TRACE || spanId === ZERO_SPAN) return undefined;
  return { traceId, spanId, traceFlags: Number.parseInt(flags, 16) & TraceFlags.SAMPLED, isRemote: true };
}

/** The `traceparent` header naming `span` as the parent. */
export function formatTraceparent(span: SpanContext): string {
  return `00-${span.traceId}-${span.spanId}-0${span.traceFlags & TraceFlags.SAMPLED}`;
}

/** The `traceparent` of a JSON-RPC request's `params._meta` (the first message of a batch). */
export function metaTraceparent(messages: unknown): unknown {
  const first = Array.isArray(messages) ? messages[0] : messages;
  if (typeof first !== 'object' || first === null) return undefined;
  const meta = (first as { params?: { _meta?: unknown } }).params?._meta;
  return typeof meta === 'object' && meta !== null ? (meta as { traceparent?: unknown }).traceparent : undefined;
}
