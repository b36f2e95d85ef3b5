// Billing as a person sees it, in a real Chromium against the real stack and the Stripe stand-in: the pricing page's
// "Choose Pro" opens Embedded Checkout in the organization settings (Stripe.js is Stripe's own script, which this
// offline machine cannot fetch: the browser is handed a small stand-in of it that mounts what it was given), the page
// waits for Stripe's webhook after payment, then shows the subscription, the portal button and the invoice, and the
// dashboard shows Pro's limits; after cancellation the settings say why new servers are refused. No page may report a
// CSP violation (the settings' policy must let Stripe.js and its frames in) or a script error.
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildSite, type CspViolation, cspViolations, HAS_CHROMIUM, launch, screenshot } from './browser.ts';
import { TestStack } from './harness.ts';
import { type SignedEvent, StripeStandIn } from './stripe/standin.ts';

const STRIPE = {
  secretKey: 'sk_test_browser',
  webhookSecret: 'whsec_browser',
  publishableKey: 'pk_test_browser',
  prices: { pro: 'price_pro_browser', team: 'price_team_browser' },
};

/** What the page gets for https://js.stripe.com/v3/: Stripe.js's initEmbeddedCheckout, mounting what it was given. */
const STRIPE_JS = `window.Stripe = (key) => ({
  initEmbeddedCheckout: async ({ fetchClientSecret }) => {
    const secret = await fetchClientSecret();
    return { mount(el) { const d = document.createElement('p'); d.id = 'embedded-checkout'; d.textContent = key + ' ' + secret; el.append(d); } };
  },
});`;

describe.skipIf(!HAS_CHROMIUM)('billing in a browser', () => {
  let stack: TestStack;
  let standIn: StripeStandIn;
  let site: { dir: string; remove: () => Promise<void> };
  let closeBrowser: () => Promise<void>;
  let page: Page;
  const pageErrors: string[] = [];
  const csp: CspViolation[] = [];

  const deliver = async (event: SignedEvent) => {
    const res = await fetch(`${stack.url}/api/v1/billing/webhook`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'stripe-signature': event.signature },
      body: event.body,
    });
    expect(res.status).toBe(200);
  };

  beforeAll(async () => {
    site = await buildSite();
    standIn = await StripeStandIn.start(STRIPE);
    stack = await TestStack.start(
      { signup: 'open', defaultPlan: 'hobby', stripe: { ...STRIPE, apiUrl: standIn.url } },
      { siteDir: site.dir },
    );
    const browser = await launch(stack.url);
    closeBrowser = browser.close;
    await browser.context.route('https://js.stripe.com/**', (route) =>
      route.fulfill({ status: 200, contentType: 'application/javascript', body: STRIPE_JS }),
    );
    page = browser.context.pages()[0] ?? (await browser.context.newPage());
    page.on('pageerror', (err) => pageErrors.push(`${page.url()}: ${err.message}`));
  }, 300_000);
  afterAll(async () => {
    await closeBrowser?.();
    await stack?.destroy();
    await standIn?.close();
    await site?.remove();
  });

  it('chooses Pro on the pricing page, pays in Embedded Checkout, and sees Pro once Stripe confirms', async () => {
    await page.goto('/signin/?mode=signup&next=%2Fdashboard%2F');
    await page.fill('#name', 'Grace');
    await page.fill('#email', 'grace@example.com');
    await page.fill('#password', 'correct horse battery');
    await page.click('#auth-submit');
    await page.waitForURL(/\/dashboard\/$/);
    await expect.poll(() => page.textContent('#usage-card')).toContain('Hobby plan');

    await page.goto('/pricing/');
    await page.getByRole('link', { name: /Choose Pro/ }).click();
    await page.waitForURL(/\/settings\/\?plan=pro#billing$/);
    const mounted = page.locator('#checkout #embedded-checkout');
    await expect.poll(() => mounted.textContent(), { timeout: 30_000 }).toMatch(/^pk_test_browser cs_test_\w+_secret_/);
    await screenshot(page, 'billing-01-embedded-checkout');
    csp.push(...(await cspViolations(page)));

    // The customer pays; Stripe sends the customer back to the return URL and its webhooks to the platform.
    const session = [...standIn.sessions.values()].at(-1);
    expect(session?.ui_mode).toBe('embedded_page');
    const events = standIn.completeCheckout(session?.id as string);
    await page.goto(session?.return_url as string);
    await expect.poll(() => page.textContent('#billing-card')).toContain('Waiting for Stripe to confirm');
    for (const event of events) await deliver(event);
    await expect.poll(() => page.textContent('#billing-card'), { timeout: 30_000 }).toContain('Plan: Pro');
    expect(await page.textContent('#billing-card')).toContain('Subscription: active');
    expect(await page.isVisible('#billing-portal')).toBe(true);
    await expect.poll(() => page.textContent('#invoices-table')).toMatch(/STANDIN-0001.*€49\.00.*paid/);
    expect(new URL(page.url()).search).toBe('');
    await screenshot(page, 'billing-02-pro');
    csp.push(...(await cspViolations(page)));

    await page.goto('/dashboard/');
    await expect.poll(() => page.textContent('#usage-card')).toContain('Pro plan');
    expect(await page.getAttribute('#usage-bar', 'max')).toBe('1000000');
    expect(await page.textContent('#usage-card')).toContain('Servers: 0 of 5');
    await screenshot(page, 'billing-03-dashboard-pro');
    csp.push(...(await cspViolations(page)));
  }, 300_000);

  it('after cancellation: Hobby, and the settings say why a new server is refused', async () => {
    const user = await stack.platform.ctx.db.user.findUniqueOrThrow({
      where: { email: 'grace@example.com' },
      include: { memberships: true },
    });
    const orgId = user.memberships[0]?.orgId as string;
    // Two servers made while on Pro (rows only: whether they run is the reconciler's business, not billing's).
    for (const name of ['grace-a', 'grace-b']) {
      await stack.platform.ctx.db.server.create({ data: { name, orgId } });
    }
    const org = await stack.platform.ctx.db.org.findUniqueOrThrow({ where: { id: orgId } });
    await deliver(standIn.cancelSubscription(org.stripeSubscriptionId as string));
    await page.goto('/settings/#billing');
    await expect.poll(() => page.textContent('#billing-card')).toContain('Plan: Hobby');
    expect(await page.textContent('#billing-notice')).toBe(
      'Your organization has 2 servers and the Hobby plan allows 1: they keep running, but no new server can be created until you delete 1 or move to a larger plan.',
    );
    expect(await page.isVisible('[data-plan="pro"]')).toBe(true);
    await screenshot(page, 'billing-04-downgraded');
    csp.push(...(await cspViolations(page)));
    expect(csp).toEqual([]);
    expect(pageErrors).toEqual([]);
    expect(standIn.problems()).toEqual([]);
  }, 120_000);
});
