import { type Attributes, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { RequestHandler } from 'express';
import { parseTraceparent } from './traceparent.ts';
import type { Tracing } from './tracing.ts';

/**
 * One span per REST request, named by its route template (`GET /api/v1/servers/:name`, never the concrete path),
 * continuing the caller's `traceparent`; its status is the HTTP status (5xx is an error).
 */
export function requestSpans(tracing: Tracing, mount: string): RequestHandler {
  return (req, res, next) => {
    const remote = parseTraceparent(req.headers.traceparent);
    const parent = remote ? trace.setSpanContext(ROOT_CONTEXT, remote) : ROOT_CONTEXT;
    const attributes: Attributes = { 'http.request.method': req.method, 'url.scheme': req.protocol };
    const requestId: unknown = res.locals.requestId;
    if (typeof requestId === 'string') attributes['bmms.request_id'] = requestId;
    const span = tracing.tracer.startSpan(req.method, { kind: SpanKind.SERVER, attributes }, parent);
    res.once('close', () => {
      const route: unknown = (req as { route?: { path?: unknown } }).route?.path;
      const template = typeof route === 'string' ? `${mount}${route}` : undefined;
      if (template) {
        span.setAttribute('http.route', template);
        span.updateName(`${req.method} ${template}`);
      }
      span.setAttribute('http.response.status_code', res.statusCode);
      if (res.statusCode >= 500) {
        span.setAttribute('error.type', String(res.statusCode));
        span.setStatus({ code: SpanStatusCode.ERROR });
      }
      span.end();
    });
    next();
  };
}
