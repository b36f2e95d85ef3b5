import type { ChangeRequest, Server } from '@bmms/prisma';
import { type Request, Router } from 'express';
import { requirePermission } from '../accounts/roles.ts';
import type { SuiteWithRuns } from '../checks/suites.ts';
import type { PlatformContext } from '../context.ts';
import { invalidRequest } from '../errors.ts';
import { baseUrlOf } from '../http/middleware.ts';
import { previewName } from '../previews.ts';
import { closeChange, findChange, mergeChange, openChange, revertCommit, suiteOfChange } from '../services/changes.ts';
import { findServer } from '../services/servers.ts';
import { changeView, mcpUrl } from '../services/views.ts';
import { jsonBody, numericPathParams, pathNumber, principalOf, requestIdOf } from './request.ts';

/** A change with its checks and preview, as every change endpoint answers. */
export async function showChange(
  ctx: PlatformContext,
  req: Request,
  server: Server,
  change: ChangeRequest,
  suite?: SuiteWithRuns | null,
) {
  return changeView(change, suite === undefined ? await suiteOfChange(ctx, server, change) : suite, {
    url: mcpUrl(baseUrlOf(ctx, req), previewName(server.name, change.number)),
    serving: ctx.previews.isServing(server.name, change.number),
  });
}

/**
 * A server's changes under /api/v1/servers/:name: listed, opened, shown, merged, closed; and a commit of main
 * reverted.
 */
export function changesRouter(ctx: PlatformContext): Router {
  const router = Router();
  // Param checks are local to a router: this one validates its own change numbers.
  numericPathParams(router);
  const principal = principalOf;
  const requestId = requestIdOf;
  const body = jsonBody;
  const changeNumber = (req: Request) => pathNumber(req, 'number');

  router.get('/servers/:name/changes', async (req, res) => {
    const p = principal(res);
    requirePermission(p, 'read');
    const server = await findServer(ctx, p, req.params.name);
    const state = req.query.state;
    if (state !== undefined && !['open', 'merged', 'closed'].includes(String(state))) {
      throw invalidRequest('"state" must be open, merged or closed');
    }
    const changes = await ctx.db.changeRequest.findMany({
      where: { serverId: server.id, ...(state ? { state: String(state) } : {}) },
      orderBy: { number: 'desc' },
    });
    const views = [];
    for (const c of changes) views.push(await showChange(ctx, req, server, c));
    res.json({ changes: views });
  });

  router.post('/servers/:name/changes', async (req, res) => {
    const p = principal(res);
    const server = await findServer(ctx, p, req.params.name);
    const { change, suite } = await openChange(ctx, p, server, body(req) as never, requestId(res));
    res.status(201).json(await showChange(ctx, req, server, change, suite));
  });

  router.get('/servers/:name/changes/:number', async (req, res) => {
    const p = principal(res);
    requirePermission(p, 'read');
    const server = await findServer(ctx, p, req.params.name);
    const change = await findChange(ctx, server, changeNumber(req));
    res.json(await showChange(ctx, req, server, change));
  });

  router.post('/servers/:name/changes/:number/merge', async (req, res) => {
    const p = principal(res);
    const server = await findServer(ctx, p, req.params.name);
    const { sha, change } = await mergeChange(ctx, p, server, changeNumber(req), requestId(res));
    res.json({ sha, change: await showChange(ctx, req, server, change) });
  });

  router.post('/servers/:name/changes/:number/close', async (req, res) => {
    const p = principal(res);
    const server = await findServer(ctx, p, req.params.name);
    const change = await closeChange(ctx, p, server, changeNumber(req), requestId(res));
    res.json(await showChange(ctx, req, server, change));
  });

  router.post('/servers/:name/revert', async (req, res) => {
    const p = principal(res);
    const server = await findServer(ctx, p, req.params.name);
    const result = await revertCommit(ctx, p, server, body(req), requestId(res));
    res.status(201).json(result);
  });

  return router;
}
