import { isAscii } from 'node:buffer';
import http from 'node:http';
import type { PrismaClient } from '@bmms/prisma';
import { connectOptions, type Reconciler, type RouteLease, type RouteTable, tcpAddress } from '@bmms/reconciler';
import type { Manifest } from '@bmms/runner-template';
import type { Request, RequestHandler, Response } from 'express';
import { API_KEY_PREFIX } from '../accounts/keys.ts';
import { bearerToken } from '../accounts/principal.ts';
import type { OrgPlans } from '../billing/org-plans.ts';
import {
  badGateway,
  forbidden,
  forbiddenOrigin,
  insufficientScope,
  invalidToken,
  notFound,
  payloadTooLarge,
  serverUnavailable,
  unauthorized,
} from '../errors.ts';
import { baseUrlOf, type PublicBaseDeps } from '../http/middleware.ts';
import { directHost } from '../http/public-url.ts';
import { DEFAULT_SCOPE, resourceMetadataUrl, resourceUrl, type ServerScopes, scopesOf } from '../oauth/resources.ts';
import { type AuthorizationServer, InvalidTokenError } from '../oauth/server.ts';
import type { Plan } from '../plans.ts';
import { parsePreviewName } from '../previews.ts';
import type { CallCapture, ReplayRecorder } from '../replay/recorder.ts';
import { isValidServerName } from '../services/names.ts';
import { activeTracing } from '../telemetry/tracing.ts';
import type { UsageMeter } from '../usage/meter.ts';
import type { Quotas } from '../usage/quota.ts';
import { AnswerMeter, type CallObservers, ClientNames, describeRequest, OBSERVED_CALL } from './calls.ts';
import type { GatewayCredentials } from './credentials.ts';
import type { GatewayDirectory } from './directory.ts';
import { type FairShare, QueueFullError, type Release } from './fair-share.ts';
import { type GatewayRateLimits, type RateLimitDecision, setRateLimitHeaders } from './rate-limit.ts';
import { type CallSpan, hasTraceparent, startCallSpan } from './tracing.ts';
import { boundConnect, CONNECT_TIMED_OUT, upstreamAgent } from './upstream.ts';

/** What the MCP gateway needs: everything on the call path comes from memory, the database only on a miss. */
export interface GatewayDeps extends PublicBaseDeps {
  /** Keys, memberships and servers, cached (no database on the call path). */
  directory: GatewayDirectory;
  /** Each server's current instance; a call takes a lease on it. */
  routes: RouteTable;
  /** Wakes a server scaled to zero, or one without an instance. */
  reconciler: Reconciler;
  /** Verifies access tokens; its manifest cache says which scopes a tool requires. */
  oauth: AuthorizationServer;
  /** The internal credentials sent to instances instead of the client's token. */
  credentials: GatewayCredentials;
  /** Who hears of every call (logs, metrics): one record per request, after it ended. */
  calls: CallObservers;
  /** Why there is no route: a preview's change, a server's deploy history. */
  db: PrismaClient;
  /** Counts every request that got an answer, per org, server, method, tool and status (memory only). */
  usage: UsageMeter;
  /** Which plan the server's org is on (cached). */
  plans: Pick<OrgPlans, 'cached' | 'of'>;
  /** The plan's monthly calls, from the meter's counts. */
  quotas: Quotas;
  /** Requests per client address and per token (sliding windows), when configured. */
  rateLimits: GatewayRateLimits;
  /** Admission of calls when the gateway is saturated: a server over its fair share waits its turn. */
  fairShare: FairShare;
  /** Records a sample of production tool calls for the `replay` check, where the owner consented (memory only). */
  replay?: Pick<ReplayRecorder, 'begin'>;
}

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

/** Where a call was sent: the route it names, and the OAuth resource that URL is. */
export interface GatewayTarget {
  /** The route: a server, or a preview `<server>--pr-<n>`. */
  name: string;
  /** The MCP URL called: the audience an access token must carry. */
  resource: string;
  /** Its RFC 9728 metadata URL, named in every challenge. */
  metadata: string;
  /** The base URL whose authorization server (`<issuerBase>/oauth`) must have issued the token. */
  issuerBase: string;
  /** The base URL called: a browser's Origin and, on a loopback address, the Host may name its host. */
  base: string;
  /** Tokens issued before this time (ms) are refused: a custom domain's verification, for tokens minted earlier. */
  notBefore?: number;
}

/** The target of `/s/<name>/mcp` on the platform's own base URL (path mode). */
export function pathTarget(ctx: PublicBaseDeps): (req: Request) => GatewayTarget {
  return (req) => {
    const name = req.params.name as string;
    const base = baseUrlOf(ctx, req);
    return {
      name,
      resource: resourceUrl(base, name),
      metadata: resourceMetadataUrl(base, name),
      issuerBase: base,
      base,
    };
  };
}

/**
 * The MCP gateway at /s/<name>/mcp (and at `/mcp` of a custom domain, `targetOf` saying which): authenticates the caller (an OAuth access token issued for exactly
 * this server's URL, or an API key of the server's org), checks the scopes the server and the called tool
 * require, takes a lease on the server's current route and proxies the call to its instance over the unix
 * socket with an internal credential (the client's token never goes further), so a rolling deploy drains
 * in-flight calls before the old instance stops. Keys, memberships, servers and routes come from memory
 * (ctx.directory, ctx.routes): a call reads the database only when a cached fact expired or was invalidated.
 */
export function mcpGateway(
  ctx: GatewayDeps,
  targetOf: (req: Request) => GatewayTarget = pathTarget(ctx),
): RequestHandler {
  const clientNames = new ClientNames();
  const { fairShare } = ctx;
  return async (req, res) => {
    const at = Date.now();
    const started = performance.now();
    const byAddress = ctx.rateLimits.address?.take(req.ip ?? '');
    if (byAddress && !byAddress.allowed) return refuseByRate(res, byAddress);
    const target = targetOf(req);
    const { name, metadata } = target;
    const caller = await authenticate(ctx, req, target);
    const byToken = ctx.rateLimits.token?.take(`${caller.client} ${caller.userId}`);
    if (byToken && !byToken.allowed) return refuseByRate(res, byToken, byAddress);
    setRateLimitHeaders(res, byAddress, byToken);
    checkOrigin(req, target.base);
    const preview = parsePreviewName(name);
    const serverName = preview?.server ?? name;
    const server = isValidServerName(serverName) ? await ctx.directory.server(serverName) : null;
    if (!server || (caller.orgId !== undefined && server.orgId !== caller.orgId)) {
      throw notFound(`MCP server "${name}"`);
    }
    if (caller.orgId === undefined && !(await ctx.directory.isMember(server.orgId, caller.userId))) {
      throw forbidden(`your account is no longer a member of the organization that owns "${name}"`);
    }
    // Parked here (its body unread) while its server floods a saturated platform: see fair-share.ts.
    const release = await admission(fairShare, name, res);
    if (!release) return;
    // Every request whose body was read and that got an answer is metered, whatever it was (what the client was
    // told is its status): one listener ends the call's admission and meters it once its answer was sent in full.
    const metered = ctx.usage.enabled;
    let described: ReturnType<typeof describeRequest> | undefined;
    let batch: unknown[] | undefined;
    res.once('close', () => {
      release();
      if (metered && described && res.writableFinished) {
        meterRequest(ctx, server, preview !== null, described, batch, res.statusCode);
      }
    });
    const body = await readBody(req);
    if (body === GONE) return;
    const messages = body === UNPARSABLE ? undefined : body?.messages;
    described = describeRequest(messages);
    batch = batchOf(messages);
    if (metered && preview === null && (described.method === 'tools/call' || callsTools(batch))) {
      // The plan is nearly always cached: no await (and no promise) on the call path then.
      const plan = ctx.plans.cached(server.orgId) ?? (await ctx.plans.of(server.orgId));
      if (refusedByQuota(ctx, res, server.orgId, plan, messages)) return;
    }
    const tracing = ctx.calls.enabled ? activeTracing() : undefined;
    // A call that carries a traceparent is always traced; the others within BMMS_TRACE_CALLS_PER_SECOND.
    const traced = tracing && (hasTraceparent(req, messages) || tracing.sampleCall());
    const span = traced ? startCallSpan(tracing, req, messages, { ...described, server: serverName, at }) : undefined;
    const meter = ctx.calls.active || span ? new AnswerMeter() : undefined;
    let revision: string | undefined;
    if (meter) {
      if (ctx.calls.active) res.locals[OBSERVED_CALL] = true;
      const sessionKey = () => `${caller.client}\u0000${caller.userId}\u0000${req.get('mcp-session-id') ?? ''}`;
      if (described.clientName) clientNames.remember(sessionKey(), described.clientName);
      // `on`, not `once`: 'close' is emitted once, and `once` would allocate a wrapper per call.
      res.on('close', () => {
        const outcome = meter.outcome(res.getHeader('content-type') as string | undefined);
        span?.end(res.statusCode, outcome.rpcErrorCode, outcome.isError || res.statusCode >= 400);
        ctx.calls.emit({
          at,
          server: serverName,
          serverId: server.id,
          orgId: server.orgId,
          preview: preview?.number,
          revision,
          method: described.method,
          tool: described.tool,
          status: res.statusCode,
          rpcErrorCode: outcome.rpcErrorCode,
          failed: outcome.isError || res.statusCode >= 400,
          latencyMs: performance.now() - started,
          requestBytes: body === UNPARSABLE || body === undefined ? 0 : body.bytes.length,
          responseBytes: meter.bytes,
          clientName: described.clientName ?? (clientNames.size > 0 ? clientNames.get(sessionKey()) : undefined),
          clientId: caller.client,
          userId: caller.userId,
          requestId: res.locals.requestId as string,
          traceId: span?.traceId,
        });
      });
    }
    if (body === UNPARSABLE) {
      // What the instance answers to a body it cannot parse; it never reaches the instance.
      res.status(400).json({ jsonrpc: '2.0', error: { code: -32700, message: 'Parse error: Invalid JSON' }, id: null });
      return;
    }
    const lease = await leaseRoute(ctx, name, server.id, preview?.number);
    revision = lease.target.revision;
    try {
      const scopes = scopesOfManifest(await ctx.oauth.manifests.at(serverName, lease.target.revision));
      checkScopes(scopes, calledTools(body?.messages), caller, metadata);
      const credential = ctx.credentials.forCall({
        server: serverName,
        sub: caller.userId,
        scopes: caller.scopes,
        client: caller.client,
      });
      const requestId = res.locals.requestId as string;
      const capture = recordingOf(
        ctx,
        res,
        { id: server.id, name: serverName },
        preview === null ? messages : undefined,
        lease.target.revision,
      );
      await proxy(req, res, lease.target.socketPath, requestId, credential, body?.bytes, meter, span, capture).catch(
        (err: unknown) => restarting(ctx, err, name, preview === null),
      );
    } finally {
      lease.release();
    }
  };
}

/** A call that found no instance behind its route: the socket is gone, or nothing listens on it any more. */
class InstanceGoneError extends Error {}

/**
 * What a call whose instance was stopped or crashed under its route answers (a leader that died with its
 * instances, an exit not handled yet): 503, since it never reached an instance and a retry is safe; the reconciler
 * hears of it (a production server's, once a second at most). Any other error goes on as it was.
 */
function restarting(ctx: Pick<GatewayDeps, 'reconciler'>, err: unknown, name: string, production: boolean): never {
  if (!(err instanceof InstanceGoneError)) throw err;
  if (production) wakeAtMostOncePerSecond(ctx, name);
  throw serverUnavailable(`"${name}" is restarting; retry in a moment`, 1);
}

const isInstanceGone = (err: NodeJS.ErrnoException) =>
  err.code === 'ENOENT' || err.code === 'ECONNREFUSED' || err.code === 'EHOSTUNREACH' || err.code === CONNECT_TIMED_OUT;

const lastWakes = new Map<string, number>();
function wakeAtMostOncePerSecond(ctx: Pick<GatewayDeps, 'reconciler'>, name: string): void {
  const now = Date.now();
  if (now - (lastWakes.get(name) ?? 0) < 1000) return;
  if (lastWakes.size >= 10_000) lastWakes.clear();
  lastWakes.set(name, now);
  ctx.reconciler.wake(name);
}

/** A capture of a production tools/call's answer for the replay recorder, when the call is sampled. */
function recordingOf(
  ctx: GatewayDeps,
  res: Response,
  server: { id: string; name: string },
  messages: unknown,
  revision: string,
): CallCapture | undefined {
  if (messages === undefined) return undefined;
  const capture = ctx.replay?.begin(server, revision, messages);
  if (capture)
    res.once('close', () => capture.finish(res.getHeader('content-type') as string | undefined, res.statusCode));
  return capture;
}

/**
 * Admits the call under the server's fair share of a saturated platform: a Release at once or after a wait;
 * undefined when the client went away while it waited. A server with too many calls waiting gets 503.
 */
async function admission(fairShare: FairShare, name: string, res: Response): Promise<Release | undefined> {
  let admitted: ReturnType<FairShare['admit']>;
  try {
    admitted = fairShare.admit(name);
  } catch (err) {
    if (!(err instanceof QueueFullError)) throw err;
    throw serverUnavailable(
      `"${name}" is getting more calls than the platform can take while it serves other servers too (${err.queued} waiting): retry shortly`,
      1,
    );
  }
  if (typeof admitted === 'function') return admitted;
  const waiting = admitted;
  const gone = () => waiting.cancel();
  res.once('close', gone);
  const release = await waiting.admitted;
  res.off('close', gone);
  if (release && (res.destroyed || res.writableEnded)) {
    release();
    return undefined;
  }
  return release;
}

/**
 * The messages of a JSON-RPC batch of more than one (protocol versions before 2025-06-18 allow them, and the SDK
 * still serves them): each of its requests is metered, checked against the quota and scoped on its own, never only
 * the first (a leading `ping` would otherwise carry any number of tool calls past the quota).
 */
function batchOf(messages: unknown): unknown[] | undefined {
  return Array.isArray(messages) && messages.length > 1 ? messages : undefined;
}

const callsTools = (batch: unknown[] | undefined): boolean => batch !== undefined && calledTools(batch).length > 0;

/** Counts a request that got its answer: once, or each message of a batch with the answer's status. */
function meterRequest(
  ctx: Pick<GatewayDeps, 'usage'>,
  server: { orgId: string; id: string },
  preview: boolean,
  described: ReturnType<typeof describeRequest>,
  batch: unknown[] | undefined,
  status: number,
): void {
  if (!batch) {
    ctx.usage.record(server.orgId, server.id, preview, described.method, described.tool, status);
    return;
  }
  for (const message of batch) {
    const { method, tool } = describeRequest(message);
    ctx.usage.record(server.orgId, server.id, preview, method, tool, status);
  }
}

/** A JSON-RPC error answer to `messages` (its id, when it has one): what an MCP client shows. */
function rpcError(messages: unknown, message: string, data: Record<string, unknown>) {
  const first = Array.isArray(messages) ? messages[0] : messages;
  const id = typeof first === 'object' && first !== null ? ((first as { id?: unknown }).id ?? null) : null;
  return { jsonrpc: '2.0', id, error: { code: LIMIT_ERROR_CODE, message, data } };
}

/** The JSON-RPC error code of a call refused by a limit (an implementation-defined server error). */
export const LIMIT_ERROR_CODE = -32029;

/** Answers 429 with the IETF RateLimit fields, Retry-After and a JSON-RPC error: `decision` refused the call. */
function refuseByRate(res: Response, decision: RateLimitDecision, other?: RateLimitDecision): void {
  setRateLimitHeaders(res, other, decision);
  res.setHeader('Retry-After', String(decision.resetSeconds));
  res.status(429).json(
    rpcError(
      undefined,
      `too many requests: at most ${decision.limit} in ${decision.policy.split('w=')[1]} s; retry in ${decision.resetSeconds} s`,
      {
        code: 'rate_limited',
        retryAfter: decision.resetSeconds,
      },
    ),
  );
}

/** Answers 429 (Retry-After: until the month resets) when the org's plan has no tool calls left this month. */
function refusedByQuota(
  ctx: Pick<GatewayDeps, 'quotas'>,
  res: Response,
  orgId: string,
  plan: Plan,
  messages: unknown,
): boolean {
  const refusal = ctx.quotas.check(orgId, plan);
  if (!refusal) return false;
  res.set('Retry-After', String(refusal.retryAfterSeconds));
  res.status(429).json(rpcError(messages, refusal.message, refusal.data));
  return true;
}

/** Who calls: an API key of the server's org, or an OAuth access token issued for exactly this server's URL. */
async function authenticate(
  ctx: Pick<GatewayDeps, 'directory' | 'oauth'>,
  req: Request,
  target: GatewayTarget,
): Promise<Caller> {
  const { metadata } = target;
  const challenge = (extra: string) =>
    `Bearer resource_metadata="${metadata}", scope="${DEFAULT_SCOPE}"${extra ? `, ${extra}` : ''}`;
  const token = bearerToken(req.get('authorization'));
  if (!token) {
    throw unauthorized(
      'send "Authorization: Bearer <access token>" (OAuth; discover it from the resource metadata) or an API key',
      challenge(''),
    );
  }
  const invalid = (message: string) =>
    invalidToken(message, challenge(`error="invalid_token", error_description="${message}"`));
  if (token.startsWith(API_KEY_PREFIX)) {
    const principal = await ctx.directory.keyPrincipal(token);
    if (!principal) throw invalid('the API key is unknown or revoked');
    return {
      userId: principal.userId,
      orgId: principal.orgId,
      scopes: principal.scopes,
      client: `api-key:${principal.apiKeyId ?? ''}`,
    };
  }
  try {
    const claims = await ctx.oauth.verifyAccessToken(token, target.resource, target.issuerBase);
    if (target.notBefore !== undefined && claims.iat * 1000 < target.notBefore - 1000) {
      throw new InvalidTokenError('the access token was issued before this domain served this server');
    }
    return { userId: claims.sub, orgId: undefined, scopes: claims.scopes, client: claims.clientId };
  } catch (err) {
    if (err instanceof InvalidTokenError) throw invalid(err.message);
    throw err;
  }
}

/** A lease on the route of `name`: waking a server scaled to zero, or saying why there is none (503/404). */
async function leaseRoute(
  ctx: Pick<GatewayDeps, 'routes' | 'reconciler' | 'db'>,
  name: string,
  serverId: string,
  previewNumber: number | undefined,
): Promise<RouteLease> {
  let lease = ctx.routes.acquire(name);
  if (lease) return lease;
  // Scaled to zero: this call starts the server again (through the leading process) and waits for it (bounded).
  if (previewNumber === undefined && (await ctx.reconciler.wakeForCall(name))) {
    if (await ctx.routes.waitFor(name, WAKE_TIMEOUT_MS)) lease = ctx.routes.acquire(name);
    if (lease) return lease;
  }
  if (previewNumber !== undefined) {
    const change = await ctx.db.changeRequest.findUnique({
      where: { serverId_number: { serverId, number: previewNumber } },
    });
    if (change?.state === 'open') {
      throw serverUnavailable(
        `the preview of change #${previewNumber} is not serving: it starts once the change's static checks passed, and stays down when its own smoke test failed (see the change's checks)`,
        5,
      );
    }
    throw notFound(`a preview of change #${previewNumber} (only open changes have one)`);
  }
  ctx.reconciler.wake(name);
  const server = await ctx.db.server.findUnique({
    where: { id: serverId },
    select: { observedRevision: true, lastAttemptedRevision: true },
  });
  const deployed = server !== null && (server.observedRevision !== null || server.lastAttemptedRevision !== null);
  throw serverUnavailable(
    deployed
      ? `"${name}" is starting; retry in a moment`
      : `"${name}" has no deployed revision yet: merge a change with green checks to deploy it`,
    deployed ? 1 : 5,
  );
}

/** Scopes per manifest, computed once (manifests are cached by revision, so the object is stable). */
const scopesByManifest = new WeakMap<object, ServerScopes>();
const DEFAULT_SCOPES = scopesOf(null);
function scopesOfManifest(manifest: Manifest | null): ServerScopes {
  if (!manifest) return DEFAULT_SCOPES;
  let scopes = scopesByManifest.get(manifest);
  if (!scopes) {
    scopes = scopesOf(manifest);
    scopesByManifest.set(manifest, scopes);
  }
  return scopes;
}

/** Refuses (403 insufficient_scope) a call that needs a scope the caller lacks: the server's or a called tool's. */
function checkScopes(scopes: ServerScopes, tools: string[], caller: Caller, metadata: string): void {
  const needed = [...scopes.required, ...tools.flatMap((tool) => scopes.tools.get(tool) ?? [])];
  const missing = needed.filter((s) => !caller.scopes.includes(s) && !caller.scopes.includes('*'));
  if (missing.length === 0) return;
  const wanted = [...new Set([...scopes.required, ...needed, ...caller.scopes.filter((s) => s !== '*')])];
  throw insufficientScope(
    missing,
    (message) =>
      `Bearer error="insufficient_scope", scope="${wanted.join(' ')}", resource_metadata="${metadata}", error_description="${message}"`,
  );
}

/** A POST body as the gateway read it: the JSON it parsed, and the bytes it forwards (exactly that JSON). */
interface ParsedBody {
  messages: unknown;
  bytes: Buffer;
}

/**
 * Reads a POST body (bounded) and parses it the way the instance does (the MCP SDK decodes UTF-8 with
 * TextDecoder, which drops a byte-order mark and replaces invalid sequences, then JSON.parse). What cannot be
 * parsed is refused here with the instance's own JSON-RPC parse error, and what is forwarded is the text the
 * gateway parsed, re-encoded: the instance can never see a different message than the one whose scopes were
 * checked. Undefined for other methods.
 */
async function readBody(req: Request): Promise<ParsedBody | typeof UNPARSABLE | typeof GONE | undefined> {
  if (req.method !== 'POST') return undefined;
  const raw = await readRaw(req);
  if (raw === GONE) return GONE;
  const text = utf8.decode(raw);
  let messages: unknown;
  try {
    messages = JSON.parse(text);
  } catch {
    return UNPARSABLE;
  }
  // ASCII decodes to itself; anything else (a byte-order mark, other encodings' bytes) is forwarded as parsed.
  return { messages, bytes: isAscii(raw) ? raw : Buffer.from(text, 'utf8') };
}

/** The request body's bytes, at most MAX_BODY_BYTES (stream events: an async iterator costs more per call). */
function readRaw(req: Request): Promise<Buffer | typeof GONE> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        cleanup();
        req.resume();
        reject(payloadTooLarge('4 MB'));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks));
    };
    // The client went away before its body ended (reset, or closed mid-upload): nobody to answer, nothing wrong here.
    const onGone = () => {
      cleanup();
      resolve(GONE);
    };
    const onClose = () => {
      if (!req.complete) onGone();
    };
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onGone);
      req.off('close', onClose);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onGone);
    req.on('close', onClose);
  });
}

const UNPARSABLE = Symbol('unparsable');
/** A request whose client left before its body ended. */
const GONE = Symbol('gone');

/** The instance's decoder: UTF-8, byte-order mark dropped, invalid sequences replaced (never throws). */
const utf8 = new TextDecoder('utf-8');

/** The tools a JSON-RPC message (or batch) calls. */
function calledTools(messages: unknown): string[] {
  if (messages === undefined) return [];
  return [messages]
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

/** The platform's base URL, parsed once per distinct value (it is the same string on nearly every call). */
let lastBase: { text: string; url: URL | null } | undefined;
function parsedBase(base: string): URL | null {
  if (lastBase?.text !== base) lastBase = { text: base, url: URL.parse(base) };
  return lastBase.url;
}

/**
 * DNS-rebinding protection: a call that reached the platform on a loopback address must name a loopback
 * host (or the platform's own public host, for a proxy on the same machine) in its own `Host` header
 * (X-Forwarded-Host is anyone's to send); a browser's Origin must be the host it called or the public one.
 */
function checkOrigin(req: Request, base: string): void {
  const called = directHost(req);
  const publicHost = parsedBase(base);
  const named = called !== undefined && (LOOPBACK.has(called.hostname) || called.hostname === publicHost?.hostname);
  if (isLoopbackAddress(req.socket.localAddress) && !named) {
    throw forbiddenOrigin(`host ${called?.host ?? '(none)'} may not call this server`);
  }
  const origin = req.get('origin');
  if (!origin) return;
  const host = URL.parse(origin)?.host;
  if (!host) throw forbiddenOrigin('the Origin header is malformed');
  if (host !== called?.host && host !== publicHost?.host) {
    throw forbiddenOrigin(`origin ${origin} may not call this server`);
  }
}

/**
 * Streams the call to the instance and its answer back; rejects with bad_gateway when it fails before answering.
 * With a span, the instance gets its `traceparent` and the spans it reports in its answer are exported.
 */
function proxy(
  req: Request,
  res: Response,
  socketPath: string,
  requestId: string,
  credential: string,
  body: Buffer | undefined,
  meter: AnswerMeter | undefined,
  span: CallSpan | undefined,
  capture?: CallCapture,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const headers: http.OutgoingHttpHeaders = { 'x-request-id': requestId, authorization: `Bearer ${credential}` };
    for (const h of FORWARDED_REQUEST_HEADERS) {
      const v = req.headers[h];
      if (v !== undefined) headers[h] = v;
    }
    if (body !== undefined) headers['content-length'] = String(body.length);
    if (span) headers.traceparent = span.traceparent;
    let settled = false;
    const done = (error?: Error) => {
      if (!settled) {
        settled = true;
        if (error) reject(error);
        else resolve();
      }
    };
    let current: http.ClientRequest | undefined;
    res.on('close', () => {
      if (!res.writableFinished) current?.destroy();
      done();
    });
    const send = (retry: boolean) => {
      const upstream = http.request({
        ...connectOptions(socketPath),
        path: '/mcp',
        method: req.method,
        headers,
        timeout: UPSTREAM_TIMEOUT_MS,
        agent: upstreamAgent,
      });
      current = upstream;
      if (tcpAddress(socketPath)) boundConnect(upstream);
      let answered = false;
      upstream.on('response', (up) => {
        answered = true;
        span?.instanceAnswered(up.headers);
        res.status(up.statusCode ?? 502);
        for (const h of FORWARDED_RESPONSE_HEADERS) {
          const v = up.headers[h];
          if (v !== undefined) res.setHeader(h, v);
        }
        if (meter) up.on('data', (chunk: Buffer) => meter.observe(chunk));
        if (capture) up.on('data', (chunk: Buffer) => capture.observe(chunk));
        up.pipe(res);
        up.on('end', done);
        up.on('error', () => {
          res.destroy();
          done();
        });
      });
      upstream.on('timeout', () => upstream.destroy(new Error('the server did not answer in time')));
      upstream.on('error', (err: NodeJS.ErrnoException) => {
        // A pooled connection the instance closed while it sat idle: nothing was processed, send it again.
        if (retry && upstream.reusedSocket && !answered && body !== undefined && isConnectionReset(err)) {
          send(false);
          return;
        }
        // Not answered yet: the error middleware answers 503 for an instance that is gone, else 502 bad_gateway
        // (never naming the socket: its path is the host's business); an answer under way is cut.
        if (!res.headersSent) {
          if (!answered && isInstanceGone(err)) return done(new InstanceGoneError(err.message));
          return done(badGateway(err.message.replaceAll(socketPath, "the instance's socket")));
        }
        res.destroy();
        done();
      });
      if (body !== undefined) upstream.end(body);
      else req.pipe(upstream);
    };
    send(true);
  });
}

const isConnectionReset = (err: NodeJS.ErrnoException) => err.code === 'ECONNRESET' || err.code === 'EPIPE';
