import { describe, expect, it } from 'vitest';
import { decide, type StoredSubscription, type SubscriptionFacts } from './subscription-state.ts';

const at = (day: number) => new Date(Date.UTC(2026, 11, day));
const sub = (over: Partial<SubscriptionFacts>): SubscriptionFacts => ({
  id: 'sub_new',
  status: 'active',
  createdAt: at(10),
  plan: 'pro',
  periodEnd: at(40),
  ...over,
});
const none: StoredSubscription = { id: null, status: null, createdAt: null };
const current: StoredSubscription = { id: 'sub_cur', status: 'active', createdAt: at(5) };

describe('which subscription decides an org’s plan', () => {
  it('writes the current subscription whatever its state: live pays for its plan, anything else is the default', () => {
    expect(decide(current, sub({ id: 'sub_cur', plan: 'team' }))).toEqual({ apply: true, plan: 'team', adopt: false });
    expect(decide(current, sub({ id: 'sub_cur', status: 'past_due' }))).toEqual({
      apply: true,
      plan: 'pro',
      adopt: false,
    });
    for (const status of ['canceled', 'unpaid', 'incomplete_expired', 'paused']) {
      expect(decide(current, sub({ id: 'sub_cur', status }))).toEqual({ apply: true, plan: null, adopt: false });
    }
  });

  it('adopts a live subscription when there is none, the current one ended, or it is newer', () => {
    expect(decide(none, sub({}))).toEqual({ apply: true, plan: 'pro', adopt: true });
    expect(decide({ ...current, status: 'canceled' }, sub({ createdAt: at(1) }))).toMatchObject({ apply: true });
    expect(decide(current, sub({ createdAt: at(6) }))).toMatchObject({ apply: true, adopt: true });
  });

  it('leaves the org alone for an ended subscription that is not current, or an older live one', () => {
    expect(decide(current, sub({ status: 'canceled' }))).toEqual({
      apply: false,
      reason: "subscription sub_new is canceled and not the organization's current one (sub_cur)",
    });
    expect(decide(none, sub({ status: 'incomplete' }))).toMatchObject({ apply: false });
    expect(decide(current, sub({ createdAt: at(1) }))).toEqual({
      apply: false,
      reason: 'subscription sub_new is older than the current one (sub_cur)',
    });
  });

  it('does not act on a live subscription whose price is not a configured plan', () => {
    expect(decide(current, sub({ id: 'sub_cur', plan: null }))).toMatchObject({ apply: false });
  });
});

describe('the Stripe configuration', () => {
  const all = {
    STRIPE_SECRET_KEY: 'sk_test_abc',
    STRIPE_WEBHOOK_SECRET: 'whsec_abc',
    STRIPE_PUBLISHABLE_KEY: 'pk_test_abc',
    STRIPE_PRICE_PRO: 'price_pro',
    STRIPE_PRICE_TEAM: 'price_team',
  };

  it('is all the variables or none; with it, an org that pays for nothing is on Hobby unless the operator says', async () => {
    const { loadConfig } = await import('../config.ts');
    expect(loadConfig({}).stripe).toBeUndefined();
    expect(loadConfig({}).defaultPlan).toBe('self-hosted');
    const on = loadConfig(all);
    expect(on.stripe).toEqual({
      secretKey: 'sk_test_abc',
      webhookSecret: 'whsec_abc',
      publishableKey: 'pk_test_abc',
      prices: { pro: 'price_pro', team: 'price_team' },
      apiUrl: undefined,
    });
    expect(on.defaultPlan).toBe('hobby');
    expect(loadConfig({ ...all, BMMS_DEFAULT_PLAN: 'self-hosted' }).defaultPlan).toBe('self-hosted');
    expect(() => loadConfig({ STRIPE_SECRET_KEY: 'sk_test_abc', STRIPE_PRICE_PRO: 'price_pro' })).toThrow(
      'billing with Stripe also needs STRIPE_WEBHOOK_SECRET, STRIPE_PUBLISHABLE_KEY, STRIPE_PRICE_TEAM',
    );
    expect(() => loadConfig({ ...all, STRIPE_WEBHOOK_SECRET: 'abc' })).toThrow(/STRIPE_WEBHOOK_SECRET: must be/);
  });
});
