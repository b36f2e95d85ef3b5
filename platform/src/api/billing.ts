import express, { Router } from 'express';
import { requirePermission } from '../accounts/roles.ts';
import type { StripeBilling } from '../billing/stripe-billing.ts';
import { billingNotConfigured } from '../errors.ts';
import { baseUrlOf, type PublicBaseDeps } from '../http/middleware.ts';
import { PLANS, type Plan } from '../plans.ts';
import type { UsageReaderDeps } from '../usage/query.ts';
import { input } from './operation.ts';
import { ops } from './operations.ts';
import { principalOf } from './request.ts';

/** What the billing routes need. */
export interface BillingApiDeps extends UsageReaderDeps, PublicBaseDeps {
  /** Stripe billing; undefined when the platform takes no payments. */
  billing?: StripeBilling | undefined;
}

/** The plans Embedded Checkout sells. */
const SOLD = (['pro', 'team'] as const).map((id) => ({
  id,
  name: PLANS[id].name,
  eurPerMonth: PLANS[id].price?.eurPerMonth ?? 0,
}));

/** What a plan lower than the org's use blocks, in words; null when it blocks nothing. */
export function downgradeNotice(plan: Plan, servers: number): string | null {
  if (plan.servers === null || servers <= plan.servers) return null;
  const extra = servers - plan.servers;
  return `Your organization has ${servers} servers and the ${plan.name} plan allows ${plan.servers}: they keep running, but no new server can be created until you delete ${extra} or move to a larger plan.`;
}

/**
 * Stripe's webhook at POST /api/v1/billing/webhook: before any credential check and any JSON parsing, since the
 * signature covers the raw bytes.
 */
export function billingWebhookRouter(ctx: BillingApiDeps): Router {
  const router = Router();
  router.post('/billing/webhook', express.raw({ type: () => true, limit: '1mb' }), async (req, res) => {
    input(req, ops.stripeWebhook);
    if (!ctx.billing) throw billingNotConfigured();
    const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const outcome = await ctx.billing.receive(raw, req.get('stripe-signature'));
    res.json({ received: true, ...outcome });
  });
  return router;
}

/** GET /billing, POST /billing/checkout, POST /billing/portal, GET /billing/invoices. */
export function billingRouter(ctx: BillingApiDeps): Router {
  const router = Router();
  router.get('/billing', async (req, res) => {
    input(req, ops.billing);
    const p = principalOf(res);
    requirePermission(p, 'read');
    const [plan, servers, subscription] = await Promise.all([
      ctx.plans.of(p.orgId),
      ctx.db.server.count({ where: { orgId: p.orgId } }),
      ctx.billing?.subscription(p.orgId) ?? null,
    ]);
    const fallback = PLANS[ctx.plans.defaultPlan];
    const message = ctx.billing
      ? subscription
        ? `Your organization is on ${plan.name}; its subscription is ${subscription.status}.`
        : `Your organization is on ${plan.name}. Choose a plan to raise its limits.`
      : `Billing is not configured on this platform: there is no checkout, and every organization is on the plan its operator set (by default ${fallback.name}). Your organization is on ${plan.name}.`;
    res.json({
      configured: ctx.billing !== undefined,
      message,
      plan: { id: plan.id, name: plan.name },
      defaultPlan: ctx.plans.defaultPlan,
      notice: downgradeNotice(plan, servers),
      subscription,
      checkout: ctx.billing ? { publishableKey: ctx.billing.publishableKey, plans: SOLD } : null,
    });
  });

  router.post('/billing/checkout', async (req, res) => {
    const { body } = input(req, ops.billingCheckout);
    const p = principalOf(res);
    requirePermission(p, 'admin');
    if (!ctx.billing) throw billingNotConfigured();
    const [org, user] = await Promise.all([
      ctx.db.org.findUniqueOrThrow({ where: { id: p.orgId }, select: { id: true, name: true } }),
      ctx.db.user.findUnique({ where: { id: p.userId }, select: { email: true } }),
    ]);
    const returnUrl = `${baseUrlOf(ctx, req)}/settings/?checkout={CHECKOUT_SESSION_ID}#billing`;
    res.json(await ctx.billing.checkout(org, body.plan, returnUrl, user?.email ?? null));
  });

  router.post('/billing/portal', async (req, res) => {
    input(req, ops.billingPortal);
    const p = principalOf(res);
    requirePermission(p, 'admin');
    if (!ctx.billing) throw billingNotConfigured();
    res.json(await ctx.billing.portal(p.orgId, `${baseUrlOf(ctx, req)}/settings/#billing`));
  });

  router.get('/billing/invoices', async (req, res) => {
    input(req, ops.billingInvoices);
    const p = principalOf(res);
    requirePermission(p, 'admin');
    if (!ctx.billing) throw billingNotConfigured();
    res.json({ invoices: await ctx.billing.invoices(p.orgId) });
  });
  return router;
}
