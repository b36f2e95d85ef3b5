import { Router } from 'express';
import { requirePermission } from '../accounts/roles.ts';
import { audit } from '../audit.ts';
import { importOpenApiServer, type OpenApiImportDeps } from '../generation/openapi/import.ts';
import { UnreadBody, unreadBody } from '../generation/openapi/request.ts';
import { baseUrlOf } from '../http/middleware.ts';
import { callsLast24h, type MetricsReader } from '../metrics/query.ts';
import { createServer, deleteServer, findServer, type ServerDeps } from '../services/servers.ts';
import { forkInfo } from '../services/templates.ts';
import { serverView } from '../services/views.ts';
import { type ChangeShowDeps, changeShower } from './changes.ts';
import { input } from './operation.ts';
import { ops } from './operations.ts';
import { principalOf, requestIdOf } from './request.ts';

/** What the servers routes need: creating (from a template, a fork or an OpenAPI document), deleting, retrying. */
export type ServersApiDeps = OpenApiImportDeps & Pick<ServerDeps, 'reconciler'> & ChangeShowDeps & MetricsReader;

const HISTORY_LIMIT = 50;

/**
 * Servers under /api/v1/servers: listed, created (from a template, a spec or an OpenAPI document), shown with
 * their deploy history, deleted, and a failed deploy retried.
 */
export function serversRouter(ctx: ServersApiDeps): Router {
  const router = Router();
  const showChange = changeShower(ctx);

  router.get('/servers', async (req, res) => {
    input(req, ops.listServers);
    const p = principalOf(res);
    requirePermission(p, 'read');
    const servers = await ctx.db.server.findMany({ where: { orgId: p.orgId }, orderBy: { createdAt: 'asc' } });
    const calls = await callsLast24h(
      ctx,
      servers.map((s) => s.id),
    );
    res.json({ servers: servers.map((s) => serverView(s, baseUrlOf(ctx, req), [], calls.get(s.id))) });
  });

  router.post('/servers', async (req, res) => {
    // A body too large to parse here is an import: the import worker parses and checks it.
    const body = unreadBody(req.body) ?? input(req, ops.createServer).body;
    const created =
      body instanceof UnreadBody || 'openapi' in body
        ? await importOpenApiServer(ctx, principalOf(res), body, requestIdOf(res))
        : await createServer(ctx, principalOf(res), body, requestIdOf(res));
    const { server, change, suite } = created;
    res.status(201).json({
      server: serverView(server, baseUrlOf(ctx, req)),
      change: await showChange(req, server, change, suite),
      // What reading the document repaired or skipped (also listed in the change's body).
      ...('warnings' in created ? { warnings: created.warnings } : {}),
    });
  });

  router.get('/servers/:name', async (req, res) => {
    input(req, ops.getServer);
    const p = principalOf(res);
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
    await deleteServer(ctx, principalOf(res), req.params.name, requestIdOf(res));
    res.status(204).end();
  });

  router.post('/servers/:name/retry', async (req, res) => {
    input(req, ops.retryServer);
    const p = principalOf(res);
    requirePermission(p, 'write');
    const server = await findServer(ctx, p, req.params.name);
    ctx.reconciler.retry(server.name);
    await audit(
      ctx.db,
      p,
      'server.retry',
      { type: 'server', id: server.id },
      { server: server.name },
      requestIdOf(res),
    );
    res.status(202).json({ retrying: server.desiredRevision });
  });

  return router;
}
