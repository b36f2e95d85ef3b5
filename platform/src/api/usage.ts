import { Router } from 'express';
import { requirePermission } from '../accounts/roles.ts';
import { orgUsage, type UsageReaderDeps } from '../usage/query.ts';
import { input } from './operation.ts';
import { ops } from './operations.ts';
import { principalOf } from './request.ts';

/** What the usage route needs. */
export type UsageApiDeps = UsageReaderDeps;

/** GET /api/v1/usage: the caller's org's usage this month against its plan. */
export function usageRouter(ctx: UsageApiDeps): Router {
  const router = Router();
  router.get('/usage', async (req, res) => {
    input(req, ops.usage);
    const p = principalOf(res);
    requirePermission(p, 'read');
    res.json(await orgUsage(ctx, p.orgId));
  });
  return router;
}
