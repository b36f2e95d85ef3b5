// The stand-in's judge must refuse what Stripe's types refuse, or its silence would prove nothing.
import { describe, expect, it } from 'vitest';
import { StripeTypesJudge } from './judge.ts';

describe("the Stripe stand-in's judge (the stripe package's types, made strict)", () => {
  it('accepts a valid request and refuses an unknown field, a wrong enum value and a missing required field', () => {
    const judge = new StripeTypesJudge();
    judge.request('good checkout', 'Stripe.Checkout.SessionCreateParams', {
      ui_mode: 'embedded_page',
      mode: 'subscription',
      line_items: [{ price: 'price_pro', quantity: '1' }],
      return_url: 'https://example.com/r',
    });
    judge.request('unknown field', 'Stripe.Checkout.SessionCreateParams', { mode: 'subscription', colour: 'red' });
    judge.request('wrong enum', 'Stripe.Checkout.SessionCreateParams', { ui_mode: 'embedded' });
    judge.request('missing subscription', 'Stripe.SubscriptionItemCreateParams', { price: 'price_pro' });
    judge.response('decimal as a string', 'Stripe.Price["unit_amount_decimal"]', '4900');
    judge.response('status typo', 'Stripe.Subscription["status"]', 'actve');
    const problems = judge.judge();
    const labels = problems.map((p) => p.split(':')[0]);
    expect(labels.sort()).toEqual(['missing subscription', 'status typo', 'unknown field', 'wrong enum']);
    expect(problems.find((p) => p.startsWith('unknown field'))).toMatch(/colour/);
  }, 120_000);
});
