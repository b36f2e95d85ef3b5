/**
 * /settings#billing: the org's plan and why a lower plan blocks something; with Stripe configured, Embedded Checkout
 * for Pro and Team (opened at once by the pricing page's `?plan=`), the customer portal and the invoices.
 */
import { ApiError, api } from '../lib/api.ts';
import { announce, byId, errorBox, h, mount, skeleton } from '../lib/dom.ts';

interface BillingView {
  configured: boolean;
  message: string;
  plan: { id: string; name: string };
  notice: string | null;
  subscription: { id: string; status: string; currentPeriodEnd: string | null } | null;
  checkout: { publishableKey: string; plans: Array<{ id: string; name: string; eurPerMonth: number }> } | null;
}

interface Invoice {
  id: string;
  number: string | null;
  created: string;
  status: string | null;
  total: number;
  currency: string;
  hostedUrl: string | null;
  pdfUrl: string | null;
}

/** The part of Stripe.js this page uses (it is loaded from Stripe, as Stripe requires). */
interface StripeJs {
  initEmbeddedCheckout(options: { fetchClientSecret: () => Promise<string> }): Promise<{ mount(el: Element): void }>;
}
declare global {
  interface Window {
    Stripe?: (publishableKey: string) => StripeJs;
  }
}

const STRIPE_JS = 'https://js.stripe.com/v3/';
const LIVE = new Set(['active', 'trialing', 'past_due']);

/** Loads Stripe.js once. */
function stripeJs(): Promise<NonNullable<Window['Stripe']>> {
  if (window.Stripe) return Promise.resolve(window.Stripe);
  return new Promise((resolve, reject) => {
    const script = h('script', { src: STRIPE_JS });
    script.addEventListener('load', () => (window.Stripe ? resolve(window.Stripe) : reject(new Error('no Stripe.js'))));
    script.addEventListener('error', () => reject(new Error('Stripe.js could not be loaded')));
    document.head.append(script);
  });
}

/** Opens Embedded Checkout for `plan` in the billing card. */
async function openCheckout(plan: string): Promise<void> {
  const box = byId('checkout');
  mount(box, skeleton(4));
  try {
    const session = await api<{ clientSecret: string; publishableKey: string }>('POST', '/billing/checkout', { plan });
    const Stripe = await stripeJs();
    const checkout = await Stripe(session.publishableKey).initEmbeddedCheckout({
      fetchClientSecret: async () => session.clientSecret,
    });
    mount(box);
    checkout.mount(box);
  } catch (err) {
    mount(box, errorBox((err as Error).message));
  }
}

const paying = (b: BillingView) => b.subscription !== null && LIVE.has(b.subscription.status);

/** Back from Checkout: waits (up to a minute) for Stripe's webhook to change the plan. */
async function awaitConfirmation(): Promise<void> {
  const box = byId('checkout');
  mount(box, h('p', { role: 'status' }, 'Payment received. Waiting for Stripe to confirm the subscription…'));
  for (let i = 0; i < 30; i++) {
    const now = await api<BillingView>('GET', '/billing');
    if (paying(now)) {
      history.replaceState(null, '', `${location.pathname}#billing`);
      announce(`Your organization is on ${now.plan.name}.`);
      return billing();
    }
    await new Promise((r) => setTimeout(r, 2000));
  }
  mount(box, h('p', { class: 'muted' }, 'Stripe has not confirmed yet; this page shows the new plan once it does.'));
}

async function openPortal(button: HTMLButtonElement): Promise<void> {
  button.disabled = true;
  try {
    location.assign((await api<{ url: string }>('POST', '/billing/portal')).url);
  } catch (err) {
    button.disabled = false;
    mount(byId('checkout'), errorBox((err as Error).message));
  }
}

function actions(b: BillingView): HTMLElement | null {
  if (!b.checkout) return null;
  if (paying(b)) {
    const manage = h('button', { class: 'button', type: 'button', id: 'billing-portal' }, 'Manage billing');
    manage.addEventListener('click', () => void openPortal(manage));
    return h('div', { class: 'row' }, manage);
  }
  const buttons = b.checkout.plans.map((p) => {
    const button = h(
      'button',
      { class: `button${p.id === 'pro' ? ' primary' : ''}`, type: 'button', 'data-plan': p.id },
      `Choose ${p.name} · €${p.eurPerMonth}/month`,
    );
    button.addEventListener('click', () => void openCheckout(p.id));
    return button;
  });
  return h('div', { class: 'row' }, ...buttons);
}

function subscriptionLine(b: BillingView): HTMLElement | null {
  const s = b.subscription;
  if (!s) return null;
  const until = s.currentPeriodEnd ? new Date(s.currentPeriodEnd).toLocaleDateString() : null;
  const when = LIVE.has(s.status) ? (until ? ` · renews or ends on ${until}` : '') : '';
  return h('p', { class: 'muted' }, `Subscription: ${s.status.replace('_', ' ')}${when}`);
}

async function invoices(): Promise<HTMLElement | null> {
  let list: Invoice[];
  try {
    list = (await api<{ invoices: Invoice[] }>('GET', '/billing/invoices')).invoices;
  } catch (err) {
    // Only owners and admins see invoices.
    if (err instanceof ApiError && err.status === 403) return null;
    return errorBox((err as Error).message);
  }
  if (list.length === 0) return null;
  const money = (i: Invoice) =>
    new Intl.NumberFormat(undefined, { style: 'currency', currency: i.currency.toUpperCase() }).format(i.total / 100);
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      { class: 'list', id: 'invoices-table' },
      h('caption', { class: 'visually-hidden' }, 'Invoices'),
      h(
        'thead',
        {},
        h('tr', {}, h('th', {}, 'Date'), h('th', {}, 'Invoice'), h('th', {}, 'Amount'), h('th', {}, 'Status')),
      ),
      h(
        'tbody',
        {},
        ...list.map((i) =>
          h(
            'tr',
            {},
            h('td', {}, new Date(i.created).toLocaleDateString()),
            h(
              'td',
              {},
              i.hostedUrl ? h('a', { href: i.hostedUrl, rel: 'noopener' }, i.number ?? i.id) : (i.number ?? i.id),
            ),
            h('td', {}, money(i)),
            h('td', {}, i.status ?? ''),
          ),
        ),
      ),
    ),
  );
}

async function billing(): Promise<void> {
  const panel = byId('billing-panel');
  mount(panel, skeleton(2));
  try {
    const b = await api<BillingView>('GET', '/billing');
    const parts = [
      h('p', {}, 'Plan: ', h('strong', {}, b.plan.name), ' · ', h('a', { href: '/pricing/' }, 'compare plans')),
      h('p', { class: b.configured ? '' : 'muted' }, b.message),
      b.notice ? h('p', { class: 'error', role: 'status', id: 'billing-notice' }, b.notice) : null,
      subscriptionLine(b),
      actions(b),
      h('div', { id: 'checkout' }),
    ].filter((x): x is HTMLElement => x !== null);
    mount(panel, h('div', { class: 'card stack', id: 'billing-card' }, ...parts));
    if (b.configured) {
      const table = await invoices();
      if (table) panel.append(h('h3', {}, 'Invoices'), table);
    }
    // Back from Checkout (`?checkout=`), or sent by the pricing page to buy a plan (`?plan=`).
    const params = new URLSearchParams(location.search);
    const plan = params.get('plan');
    if (params.get('checkout') && !paying(b)) await awaitConfirmation();
    else if (plan && !paying(b) && b.checkout?.plans.some((p) => p.id === plan)) await openCheckout(plan);
  } catch (err) {
    mount(panel, errorBox((err as Error).message));
  }
}

void billing();
