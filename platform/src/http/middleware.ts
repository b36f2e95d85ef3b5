import { randomUUID } from 'node:crypto';
import type { PrismaClient } from '@bmms/prisma';
import type { ErrorRequestHandler, Request, RequestHandler } from 'express';
import { bearerToken, principalForKey, principalForSession } from '../accounts/principal.ts';
import type { WebSessions } from '../accounts/sessions.ts';
import {
  ApiError,
  csrfFailed,
  echoed,
  forbidden,
  internalError,
  invalidJson,
  invalidRequest,
  payloadTooLarge,
  unauthorized,
} from '../errors.ts';
import type { Logger } from '../logger.ts';
import { DOCUMENT_FIELDS, firstUnstorable, unstorableRequest } from '../storable.ts';
import type { PublicBase } from './public-url.ts';

/** What finding the caller of an API request needs. */
export interface CallerDeps {
  /** API keys, users and memberships. */
  db: PrismaClient;
  /** Browser sign-in sessions. */
  sessions: WebSessions;
}

/** What an absolute URL of the platform needs. */
export interface PublicBaseDeps {
  /** The platform's public base URL (BMMS_PUBLIC_URL, else the listening address): never from a request header. */
  publicBase: PublicBase;
}

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
export function requireApiKey(ctx: CallerDeps): RequestHandler {
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

/**
 * Refuses a request whose parsed body or query holds a string the database cannot store (a NUL, an unpaired
 * surrogate) with `400 invalid_request` naming the first such field, before any handler reads or writes anything.
 * Mounted after the body parsers of the REST API and the sign-in routes; path parameters are checked by `input`
 * (they exist only once a route matched). An OpenAPI document in a body is data (see DOCUMENT_FIELDS).
 */
export function storableInput(): RequestHandler {
  return (req, _res, next) => {
    const bad = firstUnstorable(req.body, 'body', DOCUMENT_FIELDS) ?? firstUnstorable(req.query, 'query');
    if (bad) throw unstorableRequest(bad);
    next();
  };
}

/** The platform's absolute base URL for a request: see PublicBase (Host only when it is an allowed host). */
export function baseUrlOf(ctx: PublicBaseDeps, req: Request): string {
  return ctx.publicBase.of(req);
}

/** Renders every error as {"error":{"code","message"}}; unexpected ones are logged and hidden. */
export function errorHandler(log: Logger): ErrorRequestHandler {
  return (err, req, res, _next) => {
    let apiError = err instanceof ApiError ? err : requestFault(err, req);
    if (!apiError) {
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

/** What a request got wrong that Express, its router or a body parser threw about (not an ApiError); else null. */
function requestFault(err: unknown, req: Request): ApiError | null {
  if (isBodyParserError(err) && err.type === 'entity.parse.failed') {
    return invalidJson(`the request body is not valid JSON: ${err.message}`);
  }
  if (isBodyParserError(err) && err.type === 'entity.too.large') {
    const limit = (err as { limit?: unknown }).limit;
    return payloadTooLarge(typeof limit === 'number' ? sizeOf(limit) : '1 MB');
  }
  if (isBodyParserError(err) && typeof err.status === 'number' && err.status < 500) {
    // An unsupported charset or content encoding, an aborted or mis-sized body: the request is at fault.
    return invalidRequest(err.message);
  }
  const encoding = undecodedEncoding(err, req);
  if (encoding) {
    return invalidRequest(
      `the request body is not valid ${encoding} data (${(err as Error).message}): send it compressed as its Content-Encoding says, or without Content-Encoding`,
    );
  }
  if (isMalformedUrl(err)) {
    return invalidRequest(
      `the URL has malformed percent-encoding${segmentOf(err)}: write "%" as %25, and percent-encode only whole UTF-8 characters`,
    );
  }
  return null;
}

/** A body limit as people write it: `1 MB`, `16 KB`. */
function sizeOf(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${Math.round(bytes / (1024 * 1024))} MB` : `${Math.round(bytes / 1024)} KB`;
}

function isBodyParserError(err: unknown): err is { type: string; status?: number; message: string } {
  return typeof err === 'object' && err !== null && typeof (err as { type?: unknown }).type === 'string';
}

/** Content encodings the body parsers decompress (any other is refused by them as unsupported). */
const DECOMPRESSED = new Set(['gzip', 'deflate', 'br', 'zstd']);

/**
 * The Content-Encoding of a request body that did not decompress, when `err` is the zlib error of that (body-parser
 * passes it on with status 400 and no `type`): the request is at fault. Else null.
 */
function undecodedEncoding(err: unknown, req: Request): string | null {
  const encoding = req.get('content-encoding')?.toLowerCase();
  const zlibError =
    err instanceof Error &&
    (err as { status?: unknown }).status === 400 &&
    typeof (err as { errno?: unknown }).errno === 'number';
  return zlibError && encoding !== undefined && DECOMPRESSED.has(encoding) ? encoding : null;
}

/** The URIError the router throws for a path parameter it cannot percent-decode (it sets status 400). */
function isMalformedUrl(err: unknown): err is URIError {
  return err instanceof URIError && (err as { status?: unknown }).status === 400;
}

/** ` in "%ZZ"`: the segment the router could not decode (named in its message), cut short, or nothing. */
function segmentOf(err: URIError): string {
  const segment = /^Failed to decode param '(.*)'$/s.exec(err.message)?.[1];
  return segment === undefined ? '' : ` in "${echoed(segment)}"`;
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
