import http from 'node:http';
import { Readable } from 'node:stream';
import type { GitProvider } from '@bmms/gitserver';
import type { PrismaClient, Server } from '@bmms/prisma';
import { connectOptions, type Reconciler, type RouteTable } from '@bmms/reconciler';
import { parseManifest, type ToolSpec, type UiResource } from '@bmms/runner-template';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { Router } from 'express';
import { requirePermission } from '../accounts/roles.ts';
import { insufficientScope, serverUnavailable, toolCallFailed } from '../errors.ts';
import type { GatewayCredentials } from '../gateway/credentials.ts';
import { scopesOf } from '../oauth/resources.ts';
import type { AuthorizationServer } from '../oauth/server.ts';
import { previewName } from '../previews.ts';
import { findChange } from '../services/changes.ts';
import { findServer } from '../services/servers.ts';
import { input } from './operation.ts';
import { ops } from './operations.ts';
import { principalOf } from './request.ts';

/** What the tools routes need: a tool is called through the instance's route, as the gateway calls it. */
export interface ToolsApiDeps {
  /** Servers and changes. */
  db: PrismaClient;
  /** The mcp.json of a revision. */
  git: GitProvider;
  /** Each server's (and preview's) current instance. */
  routes: RouteTable;
  /** Woken when production has no instance. */
  reconciler: Reconciler;
  /** Its manifest cache says which scopes a tool requires. */
  oauth: AuthorizationServer;
  /** The internal credential sent to the instance. */
  credentials: GatewayCredentials;
}

/** How long a try-it call may take before the dashboard gets an answer. */
const TRY_TIMEOUT_MS = 60_000;

/** The tools of a manifest text, or [] when it is missing or invalid (the manifest check reports why). */
export function toolsOf(text: string | null | undefined): ToolSpec[] {
  if (!text) return [];
  try {
    return parseManifest(text).tools;
  } catch {
    return [];
  }
}

/** The views (ui:// resources) of a manifest text, or [] when it is missing or invalid. */
export function viewsOf(text: string | null | undefined): UiResource[] {
  if (!text) return [];
  try {
    return parseManifest(text).resources;
  } catch {
    return [];
  }
}

/**
 * A server's tools under /api/v1/servers/:name/tools: listed at a revision (production's or a change's head), and
 * one called (on production or a change's preview) for the dashboard's try-it forms.
 */
export function toolsRouter(ctx: ToolsApiDeps): Router {
  const router = Router();

  router.get('/servers/:name/tools', async (req, res) => {
    const { query } = input(req, ops.listTools);
    const p = principalOf(res);
    requirePermission(p, 'read');
    const server = await findServer(ctx, p, req.params.name as string);
    const revision = await revisionOf(ctx, server, query.change);
    const text = revision ? await ctx.git.readFile(server.name, revision, 'mcp.json') : null;
    res.json({ revision, tools: toolsOf(text), views: viewsOf(text) });
  });

  router.post('/servers/:name/tools/:tool/call', async (req, res) => {
    const { body } = input(req, ops.callTool);
    const p = principalOf(res);
    requirePermission(p, 'read');
    const server = await findServer(ctx, p, req.params.name as string);
    const { change: number } = body;
    if (number !== undefined) await findChange(ctx, server, number);
    const target = number !== undefined ? previewName(server.name, number) : server.name;
    const lease = ctx.routes.acquire(target);
    if (!lease) {
      if (number === undefined) ctx.reconciler.wake(server.name);
      throw serverUnavailable(
        number !== undefined
          ? `the preview of change #${number} is not serving (it starts once the static checks passed)`
          : `"${server.name}" is not serving yet: merge a change with green checks, or retry in a moment`,
        5,
      );
    }
    try {
      const tool = req.params.tool as string;
      const scopes = scopesOf(await ctx.oauth.manifests.at(server.name, lease.target.revision));
      const missing = [...scopes.required, ...(scopes.tools.get(tool) ?? [])].filter(
        (s) => !p.scopes.includes('*') && !p.scopes.includes(s),
      );
      if (missing.length > 0) throw insufficientScope(missing);
      const credential = ctx.credentials.mint({
        server: server.name,
        sub: p.userId,
        scopes: p.scopes,
        client: p.apiKeyId ? `api-key:${p.apiKeyId}` : 'dashboard',
      });
      const transport = new StreamableHTTPClientTransport(new URL('http://instance/mcp'), {
        fetch: socketFetch(lease.target.socketPath),
        requestInit: {
          headers: { authorization: `Bearer ${credential}`, 'x-request-id': String(res.locals.requestId) },
        },
      });
      const client = new Client({ name: 'bmms-dashboard', version: '1.0.0' });
      const started = performance.now();
      try {
        await client.connect(transport, { timeout: TRY_TIMEOUT_MS });
        const result = await client.callTool({ name: tool, arguments: body.arguments }, undefined, {
          timeout: TRY_TIMEOUT_MS,
        });
        res.json({ revision: lease.target.revision, durationMs: Math.round(performance.now() - started), result });
      } catch (err) {
        // As the gateway answers: an instance gone under its route is 503 (retry), and no answer names its socket.
        if (instanceGone(err)) throw serverUnavailable(`"${server.name}" is restarting; retry in a moment`, 1);
        throw toolCallFailed((err as Error).message.replaceAll(lease.target.socketPath, "the instance's socket"));
      } finally {
        await client.close().catch(() => {});
      }
    } finally {
      lease.release();
    }
  });

  return router;
}

/** The commit a tools listing reads: a change's head, or what production serves (else what it should). */
async function revisionOf(ctx: Pick<ToolsApiDeps, 'db' | 'git'>, server: Server, change: number | undefined) {
  if (change !== undefined) return (await findChange(ctx, server, change)).headSha;
  return server.observedRevision ?? server.desiredRevision ?? (await ctx.git.resolveRef(server.name, 'main'));
}

/** Whether `err` (or an error it wraps) says nothing listens at the instance's socket any more. */
function instanceGone(err: unknown): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ECONNREFUSED') return true;
  }
  return false;
}

/** A fetch that sends every request to an instance's unix socket (the SDK client's transport takes it). */
export function socketFetch(socketPath: string) {
  return (input: string | URL | globalThis.Request, init?: RequestInit): Promise<Response> => {
    const url = new URL(input instanceof globalThis.Request ? input.url : String(input));
    const headers = Object.fromEntries(new Headers(init?.headers).entries());
    const body = typeof init?.body === 'string' ? init.body : undefined;
    return new Promise((resolve, reject) => {
      const upstream = http.request(
        { ...connectOptions(socketPath), path: url.pathname + url.search, method: init?.method ?? 'GET', headers },
        (up) => {
          const h = new Headers();
          for (const [k, v] of Object.entries(up.headers)) if (typeof v === 'string') h.set(k, v);
          const empty = up.statusCode === 204 || up.statusCode === 304 || init?.method === 'HEAD';
          if (empty) up.resume();
          resolve(
            new Response(empty ? null : (Readable.toWeb(up) as ReadableStream<Uint8Array>), {
              status: up.statusCode ?? 502,
              headers: h,
            }),
          );
        },
      );
      init?.signal?.addEventListener('abort', () => upstream.destroy(new Error('aborted')));
      upstream.on('error', reject);
      upstream.end(body);
    });
  };
}
