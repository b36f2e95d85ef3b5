import { randomUUID } from 'node:crypto';
import type { ErrorRequestHandler, Request, RequestHandler } from 'express';
import { bearerToken, principalForKey, principalForSession } from '../accounts/principal.ts';
import type { PlatformContext } from '../context.ts';
import {
  ApiError,
  csrfFailed,
  forbidden,
  internalError,
  invalidJson,
  invalidRequest,
  payloadTooLarge,
  unauthorized,
} from '../errors.ts';
import type { Logger } from '../logger.ts';
import { withRequestContext } from './request-context.ts';

/** Gives every request an id (kept from a sane incoming X-Request-Id) and echoes it. */
export function requestId(): RequestHandler {
  return (req, res, next) => {
    const incoming = req.get('x-request-id');
    const id = incoming && /^[A-Za-z0-9._-]{8,64}$/.test(incoming) ? incoming : randomUUID();
    res.locals.requestId = id;
    res.setHeader('X-Request-Id', id);
    // The audit log reads the caller's address from here, wherever in the request a mutation happens.
    withRequestContext({ requestId: id, ip: req.ip ?? null }, next);
  };
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Requires `Authorization: Bearer <api key>` (a key with scope `*` or `api`) or a browser session cookie
 * (unsafe methods also need its `X-CSRF-Token`); sets res.locals.principal.
 */
export function requireApiKey(ctx: PlatformContext): RequestHandler {
  return async (req, res, next) => {
    const key = bearerToken(req.get('authorization'));
    if (key) {
      const principal = await principalForKey(ctx.db, key);
      if (!principal) throw unauthorized('the API key is unknown or revoked');
      if (!principal.scopes.includes('*') && !principal.scopes.includes('api')) {
        throw forbidden(`this API key's scopes (${principal.scopes.join(' ')}) do not include "api"`);
      }
      res.locals.principal = principal;
      return next();
    }
    const session = await ctx.sessions.resolve(req);
    if (!session) throw unauthorized();
    if (!SAFE_METHODS.has(req.method) && !ctx.sessions.checkCsrf(session.token, req.get('x-csrf-token'))) {
      throw csrfFailed();
    }
    const principal = await principalForSession(ctx.db, session.userId, req.get('x-bmms-org'));
    if (!principal) throw forbidden('your account is not a member of this organization');
    res.locals.principal = principal;
    next();
  };
}

/** The platform's absolute base URL for a request: see PublicBase (Host only when it is an allowed host). */
export function baseUrlOf(ctx: PlatformContext, req: Request): string {
  return ctx.publicBase.of(req);
}

/** Renders every error as {"error":{"code","message"}}; unexpected ones are logged and hidden. */
export function errorHandler(log: Logger): ErrorRequestHandler {
  return (err, _req, res, _next) => {
    let apiError: ApiError;
    if (err instanceof ApiError) apiError = err;
    else if (isBodyParserError(err) && err.type === 'entity.parse.failed') {
      apiError = invalidJson(`the request body is not valid JSON: ${err.message}`);
    } else if (isBodyParserError(err) && err.type === 'entity.too.large') {
      const limit = (err as { limit?: unknown }).limit;
      apiError = payloadTooLarge(typeof limit === 'number' ? sizeOf(limit) : '1 MB');
    } else if (isBodyParserError(err) && typeof err.status === 'number' && err.status < 500) {
      // An unsupported charset or content encoding, an aborted or mis-sized body: the request is at fault.
      apiError = invalidRequest(err.message);
    } else {
      log.error('unhandled error', { requestId: res.locals.requestId, err });
      apiError = internalError(String(res.locals.requestId));
    }
    if (res.headersSent) {
      res.destroy();
      return;
    }
    for (const [k, v] of Object.entries(apiError.headers ?? {})) res.setHeader(k, v);
    res.status(apiError.status).json({
      error: {
        code: apiError.code,
        message: apiError.message,
        ...(apiError.details ? { details: apiError.details } : {}),
      },
    });
  };
}

/** A body limit as people write it: `1 MB`, `16 KB`. */
function sizeOf(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${Math.round(bytes / (1024 * 1024))} MB` : `${Math.round(bytes / 1024)} KB`;
}

function isBodyParserError(err: unknown): err is { type: string; status?: number; message: string } {
  return typeof err === 'object' && err !== null && typeof (err as { type?: unknown }).type === 'string';
}

/** One access-log line per request. */
export function accessLog(log: Logger): RequestHandler {
  return (req, res, next) => {
    const t0 = performance.now();
    res.on('finish', () => {
      log.info('request', {
        requestId: res.locals.requestId,
        method: req.method,
        path: req.originalUrl.split('?')[0],
        status: res.statusCode,
        ms: Math.round(performance.now() - t0),
      });
    });
    next();
  };
}
