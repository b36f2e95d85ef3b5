import http from 'node:http';
import { Readable } from 'node:stream';
import type { Server } from '@bmms/prisma';
import { parseManifest, type ToolSpec } from '@bmms/runner-template';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { createTwoFilesPatch } from 'diff';
import { Router } from 'express';
import { requirePermission } from '../accounts/roles.ts';
import { issueSetupToken, setupPath } from '../accounts/setup.ts';
import { diffSurface } from '../checks/surface.ts';
import type { PlatformContext } from '../context.ts';
import {
  forbidden,
  insufficientScope,
  nothingToRevert,
  serverUnavailable,
  toolCallFailed,
  unknownRevision,
} from '../errors.ts';
import { baseUrlOf } from '../http/middleware.ts';
import { scopesOf } from '../oauth/resources.ts';
import { previewName } from '../previews.ts';
import { findChange, revertCommit } from '../services/changes.ts';
import { findServer } from '../services/servers.ts';
import { input } from './operation.ts';
import { ops } from './operations.ts';
import { numericPathParams, pathNumber, principalOf, requestIdOf } from './request.ts';

/** Files larger than this are listed in a diff but not shown line by line. */
const MAX_DIFF_FILE_BYTES = 512 * 1024;
/** How long a try-it call may take before the dashboard gets an answer. */
const TRY_TIMEOUT_MS = 60_000;

const MAX_ROLLBACK_COMMITS = 50;

const decoder = new TextDecoder('utf-8', { fatal: true });
/** A file's text, or null when it is binary (not UTF-8) or too large to show. */
function textOf(bytes: Uint8Array | undefined): string | null {
  if (!bytes || bytes.length > MAX_DIFF_FILE_BYTES) return null;
  try {
    return decoder.decode(bytes);
  } catch {
    return null;
  }
}

/** The tools of a manifest text, or [] when it is missing or invalid (the manifest check reports why). */
function toolsOf(text: string | null | undefined): ToolSpec[] {
  if (!text) return [];
  try {
    return parseManifest(text).tools;
  } catch {
    return [];
  }
}

/**
 * What the dashboard needs beyond the core API, under /api/v1: a change's file and tool-surface diff, a
 * server's tools at a revision, calling one tool (production or a change's preview) for the try-it forms,
 * and a new set-password link for the caller.
 */
export function dashboardRouter(ctx: PlatformContext): Router {
  const router = Router();
  numericPathParams(router);

  router.post('/me/setup-link', async (req, res) => {
    input(req, ops.setupLink);
    const p = principalOf(res);
    // A link replaces a password without knowing it: for an account that has none yet, or for an owner who forgot
    // theirs (recovery with the owner's key). Any other key must never become a way to take over its account.
    const user = await ctx.db.user.findUnique({ where: { id: p.userId }, select: { passwordHash: true } });
    if (user?.passwordHash && p.role !== 'owner') {
      throw forbidden(
        'this account has a password already: sign in with it, or change it with PUT /api/v1/me/password',
      );
    }
    const { token, expiresAt } = await issueSetupToken(ctx.db, p.userId);
    res.status(201).json({ url: `${baseUrlOf(ctx, req)}${setupPath(token)}`, expiresAt: expiresAt.toISOString() });
  });

  router.get('/servers/:name/changes/:number/diff', async (req, res) => {
    input(req, ops.changeDiff);
    const p = principalOf(res);
    requirePermission(p, 'read');
    const server = await findServer(ctx, p, req.params.name as string);
    const change = await findChange(ctx, server, pathNumber(req, 'number'));
    const [base, head] = await Promise.all([
      change.baseSha ? ctx.git.readTree(server.name, change.baseSha) : Promise.resolve({}),
      ctx.git.readTree(server.name, change.headSha),
    ]);
    const baseFiles: Record<string, Uint8Array> = base;
    const headFiles: Record<string, Uint8Array> = head;
    const paths = [...new Set([...Object.keys(baseFiles), ...Object.keys(headFiles)])].sort();
    const files = [];
    for (const path of paths) {
      const a = baseFiles[path];
      const b = headFiles[path];
      if (a && b && Buffer.from(a).equals(Buffer.from(b))) continue;
      const status = !a ? 'added' : !b ? 'deleted' : 'modified';
      const before = a ? textOf(a) : '';
      const after = b ? textOf(b) : '';
      if (before === null || after === null) {
        files.push({ path, status, binary: true, additions: 0, deletions: 0, patch: null });
        continue;
      }
      const patch = createTwoFilesPatch(
        a ? `a/${path}` : '/dev/null',
        b ? `b/${path}` : '/dev/null',
        before,
        after,
        '',
        '',
        {
          context: 3,
        },
      );
      let additions = 0;
      let deletions = 0;
      for (const line of patch.split('\n').slice(2)) {
        if (line.startsWith('+') && !line.startsWith('+++')) additions++;
        else if (line.startsWith('-') && !line.startsWith('---')) deletions++;
      }
      files.push({
        path,
        status,
        binary: false,
        additions,
        deletions,
        patch: `diff --git a/${path} b/${path}\n${patch}`,
      });
    }
    const decode = (f: Uint8Array | undefined) => (f ? textOf(f) : null);
    const surface = diffSurface(toolsOf(decode(baseFiles['mcp.json'])), toolsOf(decode(headFiles['mcp.json'])));
    res.json({
      base: change.baseSha,
      head: change.headSha,
      files,
      surface: {
        added: surface.added.map((t) => ({ name: t.name, description: t.description })),
        removed: surface.removed.map((t) => ({ name: t.name, description: t.description })),
        changed: surface.changed,
        unchanged: surface.unchanged,
      },
    });
  });

  // Rolling back to an earlier revision reverts each commit of main's first-parent line since it, newest first:
  // a merge commit is undone relative to its first parent, so the result's tree is the earlier one.
  router.post('/servers/:name/rollback', async (req, res) => {
    const { body } = input(req, ops.rollback);
    const p = principalOf(res);
    requirePermission(p, 'write');
    const server = await findServer(ctx, p, req.params.name as string);
    const target = await ctx.git.resolveRef(server.name, body.revision).catch(() => null);
    let sha = await ctx.git.resolveRef(server.name, 'refs/heads/main');
    const line: string[] = [];
    while (sha && sha !== target && line.length < MAX_ROLLBACK_COMMITS) {
      line.push(sha);
      sha = (await ctx.git.parentsOf(server.name, sha))[0] ?? null;
    }
    if (!target || sha !== target) {
      throw unknownRevision(
        body.revision.slice(0, 7),
        `is not on main's line of ${server.name} within the last ${MAX_ROLLBACK_COMMITS} commits`,
      );
    }
    if (line.length === 0) throw nothingToRevert(target.slice(0, 7));
    const reverts = [];
    for (const commit of line) reverts.push(await revertCommit(ctx, p, server, { sha: commit }, requestIdOf(res)));
    res.status(201).json({ sha: reverts.at(-1)?.sha, revision: target, reverted: reverts.map((r) => r.reverted) });
  });

  router.get('/servers/:name/tools', async (req, res) => {
    const { query } = input(req, ops.listTools);
    const p = principalOf(res);
    requirePermission(p, 'read');
    const server = await findServer(ctx, p, req.params.name as string);
    const revision = await revisionOf(ctx, server, query.change);
    const tools = revision ? toolsOf(await ctx.git.readFile(server.name, revision, 'mcp.json')) : [];
    res.json({ revision, tools });
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
        throw toolCallFailed((err as Error).message);
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
async function revisionOf(ctx: PlatformContext, server: Server, change: number | undefined) {
  if (change !== undefined) return (await findChange(ctx, server, change)).headSha;
  return server.observedRevision ?? server.desiredRevision ?? (await ctx.git.resolveRef(server.name, 'main'));
}

/** A fetch that sends every request to an instance's unix socket (the SDK client's transport takes it). */
function socketFetch(socketPath: string) {
  return (input: string | URL | globalThis.Request, init?: RequestInit): Promise<Response> => {
    const url = new URL(input instanceof globalThis.Request ? input.url : String(input));
    const headers = Object.fromEntries(new Headers(init?.headers).entries());
    const body = typeof init?.body === 'string' ? init.body : undefined;
    return new Promise((resolve, reject) => {
      const upstream = http.request(
        { socketPath, path: url.pathname + url.search, method: init?.method ?? 'GET', headers },
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
