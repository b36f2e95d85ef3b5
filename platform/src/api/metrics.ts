import { Router } from 'express';
import { requirePermission } from '../accounts/roles.ts';
import type { PlatformContext } from '../context.ts';
import { serverMetrics } from '../metrics/query.ts';
import { findServer } from '../services/servers.ts';
import { input } from './operation.ts';
import { ops } from './operations.ts';
import { principalOf } from './request.ts';

/** A server's call metrics under /api/v1/servers/:name/metrics, for any member of its org. */
export function metricsRouter(ctx: PlatformContext): Router {
  const router = Router();
  router.get('/servers/:name/metrics', async (req, res) => {
    const { query } = input(req, ops.serverMetrics);
    const p = principalOf(res);
    requirePermission(p, 'read');
    const server = await findServer(ctx, p, req.params.name);
    res.json(await serverMetrics(ctx, server.id, query.period, query.tool));
  });
  return router;
}
