import { Router } from 'express';
import { requirePermission } from '../accounts/roles.ts';
import { PLANS } from '../plans.ts';
import { orgUsage, type UsageReaderDeps } from '../usage/query.ts';
import { input } from './operation.ts';
import { ops } from './operations.ts';
import { principalOf } from './request.ts';

/** What the usage route needs. */
export type UsageApiDeps = UsageReaderDeps;

/** GET /api/v1/usage: the caller's org's usage this month against its plan; GET /api/v1/billing: its plan and billing. */
export function usageRouter(ctx: UsageApiDeps): Router {
  const router = Router();
  router.get('/usage', async (req, res) => {
    input(req, ops.usage);
    const p = principalOf(res);
    requirePermission(p, 'read');
    res.json(await orgUsage(ctx, p.orgId));
  });
  router.get('/billing', async (req, res) => {
    input(req, ops.billing);
    const p = principalOf(res);
    requirePermission(p, 'read');
    const plan = await ctx.plans.of(p.orgId);
    const fallback = PLANS[ctx.plans.defaultPlan];
    res.json({
      configured: false,
      message: `Billing is not configured on this platform: there is no checkout, and every organization is on the plan its operator set (by default ${fallback.name}). Your organization is on ${plan.name}.`,
      plan: { id: plan.id, name: plan.name },
      defaultPlan: ctx.plans.defaultPlan,
    });
  });
  return router;
}
