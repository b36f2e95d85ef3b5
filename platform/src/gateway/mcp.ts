import http from 'node:http';
import type { Request, RequestHandler, Response } from 'express';
import { API_KEY_PREFIX } from '../accounts/keys.ts';
import { bearerToken, principalForKey } from '../accounts/principal.ts';
import type { PlatformContext } from '../context.ts';
import { ApiError, notFound, serverUnavailable } from '../errors.ts';
import { baseUrlOf } from '../http/middleware.ts';
import { directHost } from '../http/public-url.ts';
import { DEFAULT_SCOPE, resourceMetadataUrl, resourceUrl, scopesOf } from '../oauth/resources.ts';
import { InvalidTokenError } from '../oauth/server.ts';
import { parsePreviewName } from '../previews.ts';
import { isValidServerName } from '../services/names.ts';

/** Request headers an instance may see. The client's Authorization header is never forwarded (the gateway sends its own). */
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

/** The largest JSON-RPC request body the gateway reads (it inspects tools/call for scopes). */
const MAX_BODY_BYTES = 4 * 1024 * 1024;

/** Who is calling, after the gateway checked the token or key. */
interface Caller {
  userId: string;
  /** The org of the API key; an OAuth caller's org is the server's (membership checked). */
  orgId: string | undefined;
  scopes: string[];
  client: string;
}

/**
 * The MCP gateway at /s/<name>/mcp: authenticates the caller (an OAuth access token issued for exactly
 * this server's URL, or an API key of the server's org), checks the scopes the server and the called tool
 * require, takes a lease on the server's current route and proxies the call to its instance over the unix
 * socket with an internal credential (the client's token never goes further), so a rolling deploy drains
 * in-flight calls before the old instance stops.
 */
export function mcpGateway(ctx: PlatformContext): RequestHandler {
  return async (req, res) => {
    const name = req.params.name as string;
    const base = baseUrlOf(ctx, req);
    const metadata = resourceMetadataUrl(base, name);
    const challenge = (extra: string) =>
      `Bearer resource_metadata="${metadata}", scope="${DEFAULT_SCOPE}"${extra ? `, ${extra}` : ''}`;
    const token = bearerToken(req.get('authorization'));
    if (!token) {
      throw new ApiError(
        'unauthorized',
        401,
        'send "Authorization: Bearer <access token>" (OAuth; discover it from the resource metadata) or an API key',
        { headers: { 'WWW-Authenticate': challenge('') } },
      );
    }
    const invalid = (message: string) =>
      new ApiError('invalid_token', 401, message, {
        headers: { 'WWW-Authenticate': challenge(`error="invalid_token", error_description="${message}"`) },
      });
    let caller: Caller;
    if (token.startsWith(API_KEY_PREFIX)) {
      const principal = await principalForKey(ctx.db, token);
      if (!principal) throw invalid('the API key is unknown or revoked');
      caller = {
        userId: principal.userId,
        orgId: principal.orgId,
        scopes: principal.scopes,
        client: `api-key:${principal.apiKeyId ?? ''}`,
      };
    } else {
      try {
        const claims = await ctx.oauth.verifyAccessToken(token, resourceUrl(base, name));
        caller = { userId: claims.sub, orgId: undefined, scopes: claims.scopes, client: claims.clientId };
      } catch (err) {
        if (err instanceof InvalidTokenError) throw invalid(err.message);
        throw err;
      }
    }
    checkOrigin(req, base);
    const preview = parsePreviewName(name);
    const serverName = preview?.server ?? name;
    const server = isValidServerName(serverName)
      ? await ctx.db.server.findUnique({ where: { name: serverName } })
      : null;
    if (!server || (caller.orgId !== undefined && server.orgId !== caller.orgId)) {
      throw notFound(`MCP server "${name}"`);
    }
    if (caller.orgId === undefined) {
      const member = await ctx.db.membership.findUnique({
        where: { orgId_userId: { orgId: server.orgId, userId: caller.userId } },
      });
      if (!member) {
        throw new ApiError(
          'forbidden',
          403,
          `your account is no longer a member of the organization that owns "${name}"`,
        );
      }
    }
    const body = await readBody(req);
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
      const scopes = scopesOf(await ctx.oauth.manifests.at(serverName, lease.target.revision));
      const needed = [...scopes.required, ...calledTools(body).flatMap((tool) => scopes.tools.get(tool) ?? [])];
      const missing = needed.filter((s) => !caller.scopes.includes(s) && !caller.scopes.includes('*'));
      if (missing.length > 0) {
        const wanted = [...new Set([...scopes.required, ...needed, ...caller.scopes.filter((s) => s !== '*')])];
        const message = `this call needs scope ${[...new Set(missing)].join(' ')}`;
        throw new ApiError('insufficient_scope', 403, message, {
          headers: {
            'WWW-Authenticate': `Bearer error="insufficient_scope", scope="${wanted.join(' ')}", resource_metadata="${metadata}", error_description="${message}"`,
          },
        });
      }
      const credential = ctx.credentials.mint({
        server: serverName,
        sub: caller.userId,
        scopes: caller.scopes,
        client: caller.client,
      });
      await proxy(req, res, lease.target.socketPath, res.locals.requestId as string, credential, body);
    } finally {
      lease.release();
    }
  };
}

/** Reads a POST body (bounded); undefined for other methods. */
async function readBody(req: Request): Promise<Buffer | undefined> {
  if (req.method !== 'POST') return undefined;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new ApiError('payload_too_large', 413, 'the request body is larger than 4 MB');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** The tools a JSON-RPC body calls (one message or a batch); [] when it is not JSON. */
function calledTools(body: Buffer | undefined): string[] {
  if (!body || body.length === 0) return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return [];
  }
  return [parsed]
    .flat()
    .filter(
      (m): m is { method: string; params: { name: string } } =>
        typeof m === 'object' &&
        m !== null &&
        (m as { method?: unknown }).method === 'tools/call' &&
        typeof (m as { params?: { name?: unknown } }).params?.name === 'string',
    )
    .map((m) => m.params.name);
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);
const isLoopbackAddress = (address: string | undefined) =>
  address !== undefined && (/^(::ffff:)?127\./.test(address) || address === '::1');

/**
 * DNS-rebinding protection: a call that reached the platform on a loopback address must name a loopback
 * host (or the platform's own public host, for a proxy on the same machine) in its own `Host` header
 * (X-Forwarded-Host is anyone's to send); a browser's Origin must be the host it called or the public one.
 */
function checkOrigin(req: Request, base: string): void {
  const called = directHost(req);
  const publicHost = URL.parse(base);
  const named = called !== undefined && (LOOPBACK.has(called.hostname) || called.hostname === publicHost?.hostname);
  if (isLoopbackAddress(req.socket.localAddress) && !named) {
    throw new ApiError('forbidden_origin', 403, `host ${called?.host ?? '(none)'} may not call this server`);
  }
  const origin = req.get('origin');
  if (!origin) return;
  const host = URL.parse(origin)?.host;
  if (!host) throw new ApiError('forbidden_origin', 403, 'the Origin header is malformed');
  if (host !== called?.host && host !== publicHost?.host) {
    throw new ApiError('forbidden_origin', 403, `origin ${origin} may not call this server`);
  }
}

function proxy(
  req: Request,
  res: Response,
  socketPath: string,
  requestId: string,
  credential: string,
  body: Buffer | undefined,
): Promise<void> {
  return new Promise((resolve) => {
    const headers: http.OutgoingHttpHeaders = { 'x-request-id': requestId, authorization: `Bearer ${credential}` };
    for (const h of FORWARDED_REQUEST_HEADERS) {
      const v = req.headers[h];
      if (v !== undefined) headers[h] = v;
    }
    if (body !== undefined) headers['content-length'] = String(body.length);
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
    if (body !== undefined) upstream.end(body);
    else req.pipe(upstream);
  });
}
