import type { IncomingHttpHeaders } from 'node:http';
import { SPANS_HEADER, TOOL_NAME } from '@bmms/runner-template';
import { type Attributes, ROOT_CONTEXT, SpanKind, SpanStatusCode, TraceFlags, trace } from '@opentelemetry/api';
import type { Request } from 'express';
import { instanceSpans } from '../telemetry/instance-spans.ts';
import { formatTraceparent, metaTraceparent, parseTraceparent } from '../telemetry/traceparent.ts';
import type { Tracing } from '../telemetry/tracing.ts';

/** The gateway's span of one MCP request. */
export interface CallSpan {
  traceId: string;
  /** The `traceparent` sent to the instance: the gateway's span is the parent of the instance's. */
  traceparent: string;
  /** Takes the spans the instance reported in its answer's head (the header is never passed to the client). */
  instanceAnswered(headers: IncomingHttpHeaders): void;
  /** Ends the span with the call's outcome. */
  end(status: number, rpcErrorCode: number | undefined, failed: boolean): void;
}

/** Whether the client sent a `traceparent` (header or the request's `_meta`), valid or not: it asked to be traced. */
export function hasTraceparent(req: Request, messages: unknown): boolean {
  return req.headers.traceparent !== undefined || metaTraceparent(messages) !== undefined;
}

const METHOD = /^[a-zA-Z][a-zA-Z0-9/_.-]{0,63}$/;

/**
 * Starts the span of an MCP request, continuing the client's trace: its `traceparent` header, else the one in
 * the JSON-RPC request's `params._meta`. Attributes name the method, tool and server, never arguments or results.
 */
export function startCallSpan(
  tracing: Tracing,
  req: Request,
  messages: unknown,
  call: { server: string; method: string | undefined; tool: string | undefined; at: number },
): CallSpan {
  const remote = parseTraceparent(req.headers.traceparent) ?? parseTraceparent(metaTraceparent(messages));
  const parent = remote ? trace.setSpanContext(ROOT_CONTEXT, remote) : ROOT_CONTEXT;
  const method = call.method && METHOD.test(call.method) ? call.method : undefined;
  const tool = call.tool && TOOL_NAME.test(call.tool) ? call.tool : undefined;
  const attributes: Attributes = { 'bmms.server': call.server, 'http.request.method': req.method };
  if (method) attributes['mcp.method.name'] = method;
  if (tool) attributes['gen_ai.tool.name'] = tool;
  const name = method ? `${method}${tool ? ` ${tool}` : ''}` : `MCP ${req.method}`;
  const span = tracing.tracer.startSpan(name, { kind: SpanKind.SERVER, attributes, startTime: call.at }, parent);
  const context = span.spanContext();
  const startMicros = call.at * 1000;
  return {
    traceId: context.traceId,
    traceparent: formatTraceparent(context),
    instanceAnswered(headers) {
      const header = headers[SPANS_HEADER];
      // An instance reports only under a sampled traceparent; anything else is not ours to export.
      if (header === undefined || (context.traceFlags & TraceFlags.SAMPLED) === 0) return;
      const reported = instanceSpans(header, {
        parent: context,
        startMicros,
        server: call.server,
        resource: tracing.instanceResource,
      });
      if (reported.length > 0) tracing.exportSpans(reported);
    },
    end(status, rpcErrorCode, failed) {
      span.setAttribute('http.response.status_code', status);
      if (rpcErrorCode !== undefined) span.setAttribute('rpc.jsonrpc.error_code', rpcErrorCode);
      if (failed) {
        // A JSON-RPC error's code; an HTTP error's status; else the tool answered isError: true (as the instance's span says).
        const type = rpcErrorCode !== undefined ? String(rpcErrorCode) : status >= 400 ? String(status) : 'tool_error';
        span.setAttribute('error.type', type);
        span.setStatus({ code: SpanStatusCode.ERROR });
      }
      span.end();
    },
  };
}
