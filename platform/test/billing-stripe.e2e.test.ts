// Billing with Stripe through the real stack, offline: the real `stripe` client talks to a local stand-in of the
// endpoints the platform uses (every request and answer judged against the stripe package's types), and webhook
// events are signed with Stripe's scheme and delivered to POST /api/v1/billing/webhook as Stripe would, and as an
// attacker or a bad network would (forged, replayed, out of order).
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateApiKey } from '../src/accounts/keys.ts';
import type { Config } from '../src/config.ts';
import type { orgUsage } from '../src/usage/query.ts';
import { TestStack, textOf } from './harness.ts';
import { type SignedEvent, StripeStandIn } from './stripe/standin.ts';

type UsageView = Awaited<ReturnType<typeof orgUsage>>;
interface BillingView {
  configured: boolean;
  message: string;
  plan: { id: string; name: string };
  notice: string | null;
  subscription: { id: string; status: string; currentPeriodEnd: string | null } | null;
  checkout: { publishableKey: string; plans: Array<{ id: string; name: string; eurPerMonth: number }> } | null;
}
interface ErrorBody {
  error: { code: string; message: string };
}

const STRIPE = {
  secretKey: 'sk_test_standin',
  webhookSecret: 'whsec_standin',
  publishableKey: 'pk_test_standin',
  prices: { pro: 'price_pro_standin', team: 'price_team_standin' },
};

describe('billing with Stripe', () => {
  let stack: TestStack;
  let standIn: StripeStandIn;

  /** Delivers a webhook as Stripe does: the exact body, its signature header. */
  const deliver = async (event: SignedEvent, override: { body?: string; signature?: string | null } = {}) => {
    const headers: Record<string, string> = { 'content-type': 'application/json; charset=utf-8' };
    const signature = override.signature === undefined ? event.signature : override.signature;
    if (signature !== null) headers['stripe-signature'] = signature;
    const res = await fetch(`${stack.url}/api/v1/billing/webhook`, {
      method: 'POST',
      headers,
      body: override.body ?? event.body,
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> & Partial<ErrorBody> };
  };
  const usage = async () => (await stack.api<UsageView>('GET', '/api/v1/usage')).body;
  const billing = async () => (await stack.api<BillingView>('GET', '/api/v1/billing')).body;

  /** Starts an Embedded Checkout for `plan` and returns its session id. */
  const checkout = async (plan: 'pro' | 'team') => {
    const res = await stack.api<{ clientSecret: string; sessionId: string; publishableKey: string }>(
      'POST',
      '/api/v1/billing/checkout',
      { plan },
    );
    expect(res.status).toBe(200);
    return res.body;
  };

  beforeAll(async () => {
    standIn = await StripeStandIn.start(STRIPE);
    const stripe: Config['stripe'] = { ...STRIPE, apiUrl: standIn.url };
    stack = await TestStack.start({ stripe, defaultPlan: 'hobby' });
  }, 300_000);
  afterAll(async () => {
    await stack?.destroy();
    await standIn?.close();
  });

  it('before any checkout: Hobby, the plans on sale, no portal and no invoices yet', async () => {
    const b = await billing();
    expect(b).toMatchObject({ configured: true, plan: { id: 'hobby' }, subscription: null, notice: null });
    expect(b.checkout).toEqual({
      publishableKey: 'pk_test_standin',
      plans: [
        { id: 'pro', name: 'Pro', eurPerMonth: 49 },
        { id: 'team', name: 'Team', eurPerMonth: 149 },
      ],
    });
    const portal = await stack.api<ErrorBody>('POST', '/api/v1/billing/portal');
    expect(portal.status).toBe(409);
    expect(portal.body.error.code).toBe('no_billing_account');
    expect((await stack.api('GET', '/api/v1/billing/invoices')).body).toEqual({ invoices: [] });
  });

  it('checkout completed → webhook → Pro (1M calls, 5 servers); subscription deleted → Hobby, servers kept running, new ones refused with the reason', async () => {
    await stack.createAndDeploy('paid-a');
    expect(await usage()).toMatchObject({ quota: 100_000, servers: { count: 1, limit: 1 } });

    const session = await checkout('pro');
    expect(session.publishableKey).toBe('pk_test_standin');
    expect(session.clientSecret).toMatch(/^cs_test_\w+_secret_/);
    const created = standIn.sessions.get(session.sessionId);
    expect(created).toMatchObject({ ui_mode: 'embedded_page', mode: 'subscription' });
    expect(created?.return_url).toBe(`${stack.url}/settings/?checkout=${session.sessionId}#billing`);
    // The plan changes only when Stripe says the subscription is paid.
    expect((await usage()).plan.id).toBe('hobby');

    const events = standIn.completeCheckout(session.sessionId);
    const answers = [];
    for (const event of events) answers.push(await deliver(event));
    expect(answers.map((a) => [a.status, a.body.type, a.body.status])).toEqual([
      [200, 'customer.subscription.created', 'applied'],
      [200, 'invoice.paid', 'ignored'],
      [200, 'checkout.session.completed', 'applied'],
    ]);

    const pro = await usage();
    expect(pro.plan).toEqual({ id: 'pro', name: 'Pro', servers: 5, monthlyCalls: 1_000_000 });
    expect(pro.quota).toBe(1_000_000);
    expect(pro.servers).toEqual({ count: 1, limit: 5 });
    const b = await billing();
    expect(b.plan.id).toBe('pro');
    expect(b.subscription).toMatchObject({ status: 'active' });
    expect(b.message).toBe('Your organization is on Pro; its subscription is active.');
    const invoices = await stack.api<{ invoices: Array<Record<string, unknown>> }>('GET', '/api/v1/billing/invoices');
    expect(invoices.body.invoices).toEqual([
      expect.objectContaining({ status: 'paid', total: 4_900, currency: 'eur', number: 'STANDIN-0001' }),
    ]);
    const portal = await stack.api<{ url: string }>('POST', '/api/v1/billing/portal');
    expect(portal.status).toBe(200);
    expect(portal.body.url).toMatch(/^https:\/\/billing\.stripe\.invalid\/p\/session\//);
    const again = await stack.api<ErrorBody>('POST', '/api/v1/billing/checkout', { plan: 'team' });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('subscription_exists');

    // Pro allows a second server.
    const second = await stack.api('POST', '/api/v1/servers', { name: 'paid-b', template: 'echo' });
    expect(second.status).toBe(201);

    const subscription = b.subscription?.id as string;
    const deleted = await deliver(standIn.cancelSubscription(subscription));
    expect(deleted.body).toMatchObject({ status: 'applied', type: 'customer.subscription.deleted' });
    const hobby = await usage();
    expect(hobby.plan.id).toBe('hobby');
    expect(hobby.servers).toEqual({ count: 2, limit: 1 });
    expect((await billing()).notice).toBe(
      'Your organization has 2 servers and the Hobby plan allows 1: they keep running, but no new server can be created until you delete 1 or move to a larger plan.',
    );
    const third = await stack.api<ErrorBody>('POST', '/api/v1/servers', { name: 'paid-c', template: 'echo' });
    expect(third.status).toBe(403);
    expect(third.body.error.code).toBe('plan_limit_reached');
    // The server that ran keeps running and answering.
    const client = await stack.mcpClient(`${stack.url}/s/paid-a/mcp`);
    expect(textOf(await client.callTool({ name: 'add', arguments: { a: 2, b: 3 } }))).toBe('5');
    await client.close();
  }, 600_000);

  it('refuses forged webhooks and acts on a replay only once, leaving the plan as it is', async () => {
    expect((await usage()).plan.id).toBe('hobby');
    const session = await checkout('team');
    const [subCreated, , completed] = standIn.completeCheckout(session.sessionId) as [
      SignedEvent,
      SignedEvent,
      SignedEvent,
    ];

    // Forged: another secret, an altered body, no header, a signature older than Stripe's 5 minutes.
    const wrongSecret = await deliver(completed, {
      signature: standIn.sign(completed.body, { secret: 'whsec_forged' }),
    });
    expect(wrongSecret.status).toBe(400);
    expect(wrongSecret.body.error?.code).toBe('webhook_signature_invalid');
    const altered = await deliver(completed, { body: completed.body.replace('"livemode": false', '"livemode": true') });
    expect(altered.status).toBe(400);
    expect((await deliver(completed, { signature: null })).status).toBe(400);
    const stale = await deliver(completed, {
      signature: standIn.sign(completed.body, { timestamp: Math.floor(Date.now() / 1000) - 600 }),
    });
    expect(stale.status).toBe(400);
    expect(stale.body.error?.message).toMatch(/tolerance/i);
    expect((await usage()).plan.id).toBe('hobby');

    // The genuine event, then the same event again (Stripe's retry re-signs it: the id says it was seen).
    expect((await deliver(completed)).body.status).toBe('applied');
    expect((await usage()).plan.id).toBe('team');
    const replay = await deliver(completed, { signature: standIn.sign(completed.body) });
    expect(replay.status).toBe(200);
    expect(replay.body.status).toBe('replayed');
    expect(await stack.platform.ctx.db.stripeEvent.count({ where: { id: completed.id } })).toBe(1);

    // Cancelled; the subscription's creation, delivered only now, cannot bring the plan back: the subscription itself
    // says it is cancelled.
    const subscription = (await billing()).subscription?.id as string;
    expect((await deliver(standIn.cancelSubscription(subscription))).body.status).toBe('applied');
    expect((await usage()).plan.id).toBe('hobby');
    const late = await deliver(subCreated);
    expect(late.body).toMatchObject({ status: 'applied' });
    expect((await usage()).plan.id).toBe('hobby');
    expect((await billing()).subscription).toMatchObject({ id: subscription, status: 'canceled' });
  }, 300_000);

  it('keeps the ledger of events acted on for 30 days', async () => {
    const { db } = stack.platform.ctx;
    const old = new Date(Date.now() - 31 * 86_400_000);
    const recent = new Date(Date.now() - 29 * 86_400_000);
    await db.stripeEvent.createMany({
      data: [
        { id: 'evt_old_ledger', type: 'invoice.paid', outcome: 'ignored: old', receivedAt: old },
        { id: 'evt_recent_ledger', type: 'invoice.paid', outcome: 'ignored: recent', receivedAt: recent },
      ],
    });
    const forged = await deliver({ id: 'evt_x', type: 'invoice.paid', body: '{}', signature: 't=1,v1=00' });
    expect(forged.status).toBe(400);
    expect(await db.stripeEvent.count({ where: { id: 'evt_old_ledger' } })).toBe(1);
    const event = standIn.updateSubscription([...standIn.subscriptions.keys()][0] as string, {});
    expect((await deliver(event)).status).toBe(200);
    const left = await db.stripeEvent.findMany({ where: { id: { in: ['evt_old_ledger', 'evt_recent_ledger'] } } });
    expect(left.map((e) => e.id)).toEqual(['evt_recent_ledger']);
  });

  it('decides by the subscription, not by arrival order', async () => {
    // A Pro subscription upgraded to Team: the update arrives before the creation and the checkout.
    const first = await checkout('pro');
    const [created, paid, completed] = standIn.completeCheckout(first.sessionId) as [
      SignedEvent,
      SignedEvent,
      SignedEvent,
    ];
    const subscription = standIn.sessions.get(first.sessionId)?.subscription as string;
    const upgraded = standIn.updateSubscription(subscription, { price: STRIPE.prices.team });
    for (const event of [upgraded, completed, paid, created]) expect((await deliver(event)).status).toBe(200);
    expect((await usage()).plan.id).toBe('team');

    // A past_due payment keeps the plan while Stripe retries; an older, cancelled subscription's late deletion
    // event does not touch the current one.
    expect((await deliver(standIn.updateSubscription(subscription, { status: 'past_due' }))).body.status).toBe(
      'applied',
    );
    expect((await usage()).plan.id).toBe('team');
    const older = [...standIn.subscriptions.values()].find((s) => s.id !== subscription && s.status === 'canceled');
    expect(older).toBeDefined();
    const lateDeletion = standIn.cancelSubscription(older?.id as string);
    const ignored = await deliver(lateDeletion);
    expect(ignored.body).toMatchObject({ status: 'ignored' });
    expect(ignored.body.outcome).toMatch(/is canceled and not the organization's current one/);
    expect((await usage()).plan.id).toBe('team');

    // An update that said "active" is held back and arrives after the deletion: Hobby stays; so do redeliveries.
    const held = standIn.updateSubscription(subscription, { status: 'active' });
    const deleted = standIn.cancelSubscription(subscription);
    expect((await deliver(deleted)).body.status).toBe('applied');
    expect((await usage()).plan.id).toBe('hobby');
    expect((await deliver(held)).body).toMatchObject({ status: 'applied', outcome: expect.stringMatching(/canceled/) });
    const resent = [upgraded, completed, created].map((e) => ({ ...e, signature: standIn.sign(e.body) }));
    for (const event of resent) expect((await deliver(event)).body.status).toBe('replayed');
    expect((await usage()).plan.id).toBe('hobby');
  }, 300_000);

  it('says so when Stripe fails, and changes nothing', async () => {
    standIn.failNext(10);
    const res = await stack.api<ErrorBody>('POST', '/api/v1/billing/portal');
    expect(res.status).toBe(502);
    expect(res.body.error.code).toBe('payment_provider_failed');
    expect(res.body.error.message).toMatch(/^the payment provider \(Stripe\) failed: opening the customer portal/);
    standIn.failNext(0);
  }, 120_000);

  it('deleting a paying org deletes its Stripe customer, which cancels the subscription; refused with nothing changed while Stripe fails', async () => {
    const { db } = stack.platform.ctx;
    const tag = randomBytes(4).toString('hex');
    const org = await db.org.create({ data: { slug: `leaving-${tag}`, name: `Leaving ${tag}` } });
    const user = await db.user.create({ data: { email: `owner-${tag}@example.com`, name: 'Owner' } });
    await db.membership.create({ data: { orgId: org.id, userId: user.id, role: 'owner' } });
    const { key, prefix, hash } = generateApiKey();
    await db.apiKey.create({ data: { orgId: org.id, userId: user.id, name: 'owner', prefix, hash, scopes: ['*'] } });

    const started = await stack.api<{ sessionId: string }>(
      'POST',
      '/api/v1/billing/checkout',
      { plan: 'pro' },
      { key },
    );
    expect(started.status).toBe(200);
    for (const event of standIn.completeCheckout(started.body.sessionId))
      expect((await deliver(event)).status).toBe(200);
    const paying = await db.org.findUniqueOrThrow({ where: { id: org.id } });
    expect(paying).toMatchObject({ plan: 'pro', subscriptionStatus: 'active' });
    const customer = paying.stripeCustomerId as string;
    const subscription = paying.stripeSubscriptionId as string;

    // Stripe down (past the client's own retries): the deletion is refused, the org and its plan stay as they were.
    standIn.failNext(10);
    const refused = await stack.api<ErrorBody>('DELETE', '/api/v1/org', { confirm: org.slug }, { key });
    standIn.failNext(0);
    expect(refused.status).toBe(502);
    expect(refused.body.error.code).toBe('payment_provider_failed');
    expect(refused.body.error.message).toContain('deleting the customer');
    expect(await db.org.findUnique({ where: { id: org.id } })).toMatchObject({ deletingAt: null, plan: 'pro' });
    expect(standIn.customers.has(customer)).toBe(true);

    const deleted = await stack.api('DELETE', '/api/v1/org', { confirm: org.slug }, { key });
    expect(deleted.status).toBe(200);
    expect(standIn.calls).toContain(`DELETE /v1/customers/${customer}`);
    expect(standIn.customers.has(customer)).toBe(false);
    expect(standIn.subscriptions.get(subscription)?.status).toBe('canceled');
    expect(await db.org.findUnique({ where: { id: org.id } })).toBeNull();
    // Stripe's own event for the cancelled subscription arrives after the org is gone: acknowledged, nothing to do.
    const sent = standIn.outbox.filter((e) => e.type === 'customer.subscription.deleted');
    expect(sent).toHaveLength(1);
    const late = await deliver(sent[0] as SignedEvent);
    expect(late.status).toBe(200);
    expect(late.body.status).toBe('ignored');
  }, 300_000);

  it("spoke only the stripe package's API to the stand-in (every request and answer judged by its types)", () => {
    expect(standIn.judge.count).toBeGreaterThan(20);
    expect(standIn.problems()).toEqual([]);
    expect(new Set(standIn.calls)).toEqual(
      new Set([
        'POST /v1/customers',
        ...[...standIn.calls].filter((c) => c.startsWith('DELETE /v1/customers/')),
        'POST /v1/checkout/sessions',
        'POST /v1/billing_portal/sessions',
        'GET /v1/invoices',
        ...[...standIn.subscriptions.keys()].map((id) => `GET /v1/subscriptions/${id}`),
      ]),
    );
  }, 120_000);
});
