import http from 'node:http';
import type { Request, RequestHandler, Response } from 'express';
import { bearerToken, principalForKey } from '../accounts/principal.ts';
import type { PlatformContext } from '../context.ts';
import { ApiError, notFound, serverUnavailable } from '../errors.ts';
import { baseUrlOf } from '../http/middleware.ts';
import { parsePreviewName } from '../previews.ts';
import { isValidServerName } from '../services/names.ts';

/** Request headers an instance may see. The client's Authorization header is never forwarded. */
const FORWARDED_REQUEST_HEADERS = [
  'content-type',
  'content-length',
  'accept',
  'mcp-protocol-version',
  'mcp-session-id',
  'last-event-id',
  'user-agent',
];

/** Response headers passed back to the client. */
const FORWARDED_RESPONSE_HEADERS = ['content-type', 'cache-control', 'mcp-session-id', 'allow', 'content-length'];

/** The instance enforces each tool's own timeout (manifest limits.timeoutMs ≤ 900 s); this only bounds a hung socket. */
const UPSTREAM_TIMEOUT_MS = 905_000;
/** How long a call to a server scaled to zero waits for it to start. */
const WAKE_TIMEOUT_MS = 30_000;

/**
 * The MCP gateway at /s/<name>/mcp: authenticates the caller (bearer API key of the server's org),
 * takes a lease on the server's current route and proxies the call to its instance over the unix
 * socket, so a rolling deploy drains in-flight calls before the old instance stops.
 */
export function mcpGateway(ctx: PlatformContext): RequestHandler {
  return async (req, res) => {
    const name = req.params.name as string;
    const challenge = `Bearer realm="BuildMyMCPServer", resource="${baseUrlOf(ctx, req)}/s/${name}/mcp"`;
    const token = bearerToken(req.get('authorization'));
    const principal = token ? await principalForKey(ctx.db, token) : null;
    if (!principal) {
      throw new ApiError(
        'unauthorized',
        401,
        token ? 'the API key is unknown or revoked' : 'send "Authorization: Bearer <api key>"',
        {
          headers: { 'WWW-Authenticate': token ? `${challenge}, error="invalid_token"` : challenge },
        },
      );
    }
    checkOrigin(req);
    const preview = parsePreviewName(name);
    const serverName = preview?.server ?? name;
    const server = isValidServerName(serverName)
      ? await ctx.db.server.findUnique({ where: { name: serverName } })
      : null;
    if (!server || server.orgId !== principal.orgId) throw notFound(`MCP server "${name}"`);
    let lease = ctx.routes.acquire(name);
    if (!lease && !preview && ctx.reconciler.isSleeping(name)) {
      // Scaled to zero: this call starts the server again and waits for it (bounded).
      ctx.reconciler.wakeForCall(name);
      if (await ctx.routes.waitFor(name, WAKE_TIMEOUT_MS)) lease = ctx.routes.acquire(name);
    }
    if (!lease && preview) {
      const change = await ctx.db.changeRequest.findUnique({
        where: { serverId_number: { serverId: server.id, number: preview.number } },
      });
      if (change?.state === 'open') {
        throw serverUnavailable(
          `the preview of change #${preview.number} is not serving: it starts once the change's static checks passed, and stays down when its own smoke test failed (see the change's checks)`,
          5,
        );
      }
      throw notFound(`a preview of change #${preview.number} (only open changes have one)`);
    }
    if (!lease) {
      ctx.reconciler.wake(name);
      const deployed = server.observedRevision !== null || server.lastAttemptedRevision !== null;
      throw serverUnavailable(
        deployed
          ? `"${name}" is starting; retry in a moment`
          : `"${name}" has no deployed revision yet: merge a change with green checks to deploy it`,
        deployed ? 1 : 5,
      );
    }
    try {
      await proxy(req, res, lease.target.socketPath, res.locals.requestId as string);
    } finally {
      lease.release();
    }
  };
}

/** Browsers send Origin: a foreign one is refused (DNS-rebinding protection). */
function checkOrigin(req: Request): void {
  const origin = req.get('origin');
  if (!origin) return;
  let host: string;
  try {
    host = new URL(origin).host;
  } catch {
    throw new ApiError('forbidden_origin', 403, 'the Origin header is malformed');
  }
  if (host !== req.host) throw new ApiError('forbidden_origin', 403, `origin ${origin} may not call this server`);
}

function proxy(req: Request, res: Response, socketPath: string, requestId: string): Promise<void> {
  return new Promise((resolve) => {
    const headers: http.OutgoingHttpHeaders = { 'x-request-id': requestId };
    for (const h of FORWARDED_REQUEST_HEADERS) {
      const v = req.headers[h];
      if (v !== undefined) headers[h] = v;
    }
    const upstream = http.request({
      socketPath,
      path: '/mcp',
      method: req.method,
      headers,
      timeout: UPSTREAM_TIMEOUT_MS,
    });
    let settled = false;
    const done = () => {
      if (!settled) {
        settled = true;
        resolve();
      }
    };
    upstream.on('response', (up) => {
      res.status(up.statusCode ?? 502);
      for (const h of FORWARDED_RESPONSE_HEADERS) {
        const v = up.headers[h];
        if (v !== undefined) res.setHeader(h, v);
      }
      up.pipe(res);
      up.on('end', done);
      up.on('error', () => {
        res.destroy();
        done();
      });
    });
    upstream.on('timeout', () => upstream.destroy(new Error('the server did not answer in time')));
    upstream.on('error', (err) => {
      if (!res.headersSent) {
        res
          .status(502)
          .json({ error: { code: 'bad_gateway', message: `the server's instance failed: ${err.message}` } });
      } else res.destroy();
      done();
    });
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy();
      done();
    });
    req.pipe(upstream);
  });
}
