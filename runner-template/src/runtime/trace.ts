import { randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { TOOL_NAME } from '../spec.ts';

/**
 * Tool-call spans without an OpenTelemetry SDK: the instance may not send anything out, so it reports its spans
 * to the gateway in a response header (SPANS_HEADER) and the platform exports them with its own.
 */

/** The response header carrying the instance's spans to the gateway (which strips it). */
export const SPANS_HEADER = 'x-bmms-spans';
/** At most this many spans per request are reported (a batch of tool calls); the gateway enforces it too. */
export const MAX_SPANS = 16;

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);

/** The trace a request runs under, from its W3C `traceparent`, and the spans it ended so far. */
export interface RequestTrace {
  traceId: string;
  /** The gateway's span: the parent of every span of this request. */
  parentSpanId: string;
  readonly spans: ReportedSpan[];
}

/** One ended span as the gateway reads it: ids, name, epoch microseconds, whether it failed. */
export interface ReportedSpan {
  spanId: string;
  name: string;
  start: number;
  end: number;
  error: boolean;
}

/** The request's trace when it carries a valid, sampled `traceparent` (the gateway sends one only when tracing). */
export function traceOf(traceparent: string | string[] | undefined): RequestTrace | undefined {
  if (typeof traceparent !== 'string') return undefined;
  const m = TRACEPARENT.exec(traceparent);
  if (!m) return undefined;
  const [, traceId, parentSpanId, flags] = m as unknown as [string, string, string, string];
  if (traceId === ZERO_TRACE || parentSpanId === ZERO_SPAN || (Number.parseInt(flags, 16) & 1) === 0) return undefined;
  return { traceId, parentSpanId, spans: [] };
}

/** Epoch microseconds, with sub-millisecond precision. */
export function nowMicros(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}

/** Records an ended span of the request and rewrites the spans header (set before the answer's head is written). */
export function reportSpan(trace: RequestTrace, res: ServerResponse, span: Omit<ReportedSpan, 'spanId'>): void {
  if (trace.spans.length >= MAX_SPANS || res.headersSent) return;
  trace.spans.push({ spanId: randomBytes(8).toString('hex'), ...span });
  res.setHeader(
    SPANS_HEADER,
    JSON.stringify({
      traceId: trace.traceId,
      parentSpanId: trace.parentSpanId,
      spans: trace.spans,
    }),
  );
}

/** Runs a tool call inside a span of the request's trace (its outcome: failed when it threw or returned isError). */
export async function traced<T extends { isError?: boolean }>(
  trace: RequestTrace,
  res: ServerResponse,
  tool: string,
  call: () => Promise<T>,
): Promise<T> {
  const start = nowMicros();
  let error = true;
  try {
    const result = await call();
    error = result.isError === true;
    return result;
  } finally {
    const name = TOOL_NAME.test(tool) ? `tools/call ${tool}` : 'tools/call';
    reportSpan(trace, res, { name, start, end: nowMicros(), error });
  }
}
