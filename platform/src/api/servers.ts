import { Router } from 'express';
import { requirePermission } from '../accounts/roles.ts';
import { audit } from '../audit.ts';
import type { PlatformContext } from '../context.ts';
import { importOpenApiServer } from '../generation/openapi/import.ts';
import { baseUrlOf } from '../http/middleware.ts';
import { callsLast24h } from '../metrics/query.ts';
import { createServer, deleteServer, findServer } from '../services/servers.ts';
import { forkInfo } from '../services/templates.ts';
import { serverView } from '../services/views.ts';
import { changeShower } from './changes.ts';
import { input } from './operation.ts';
import { ops } from './operations.ts';
import { principalOf, requestIdOf } from './request.ts';

const HISTORY_LIMIT = 50;

/**
 * Servers under /api/v1/servers: listed, created (from a template, a spec or an OpenAPI document), shown with
 * their deploy history, deleted, and a failed deploy retried.
 */
export function serversRouter(ctx: PlatformContext): Router {
  const router = Router();
  const principal = principalOf;
  const requestId = requestIdOf;
  const showChange = changeShower(ctx);

  router.get('/servers', async (req, res) => {
    input(req, ops.listServers);
    const p = principal(res);
    requirePermission(p, 'read');
    const servers = await ctx.db.server.findMany({ where: { orgId: p.orgId }, orderBy: { createdAt: 'asc' } });
    const calls = await callsLast24h(
      ctx,
      servers.map((s) => s.id),
    );
    res.json({ servers: servers.map((s) => serverView(s, baseUrlOf(ctx, req), [], calls.get(s.id))) });
  });

  router.post('/servers', async (req, res) => {
    const { body } = input(req, ops.createServer);
    const { server, change, suite } =
      'openapi' in body
        ? await importOpenApiServer(ctx, principal(res), body, requestId(res))
        : await createServer(ctx, principal(res), body, requestId(res));
    res
      .status(201)
      .json({ server: serverView(server, baseUrlOf(ctx, req)), change: await showChange(req, server, change, suite) });
  });

  router.get('/servers/:name', async (req, res) => {
    input(req, ops.getServer);
    const p = principal(res);
    requirePermission(p, 'read');
    const server = await findServer(ctx, p, req.params.name);
    const [history, calls] = await Promise.all([
      ctx.db.deployment.findMany({
        where: { serverId: server.id },
        orderBy: { startedAt: 'desc' },
        take: HISTORY_LIMIT,
      }),
      callsLast24h(ctx, [server.id]),
    ]);
    const view = serverView(server, baseUrlOf(ctx, req), history, calls.get(server.id));
    res.json({ ...view, ...(await forkInfo(ctx, server)) });
  });

  router.delete('/servers/:name', async (req, res) => {
    input(req, ops.deleteServer);
    await deleteServer(ctx, principal(res), req.params.name, requestId(res));
    res.status(204).end();
  });

  router.post('/servers/:name/retry', async (req, res) => {
    input(req, ops.retryServer);
    const p = principal(res);
    requirePermission(p, 'write');
    const server = await findServer(ctx, p, req.params.name);
    ctx.reconciler.retry(server.name);
    await audit(ctx.db, p, 'server.retry', { type: 'server', id: server.id }, { server: server.name }, requestId(res));
    res.status(202).json({ retrying: server.desiredRevision });
  });

  return router;
}
