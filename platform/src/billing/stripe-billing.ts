import { Prisma, type PrismaClient } from '@bmms/prisma';
import Stripe from 'stripe';
import { audit } from '../audit.ts';
import type { StripeConfig } from '../config.ts';
import { noBillingAccount, paymentProviderFailed, subscriptionExists, webhookSignatureInvalid } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { isPlanId, PLANS } from '../plans.ts';
import type { OrgPlans } from './org-plans.ts';
import { decide, isLive, type StoredSubscription, type SubscriptionFacts } from './subscription-state.ts';

/** The plans sold through Checkout. */
export const CHECKOUT_PLANS = ['pro', 'team'] as const;
export type CheckoutPlan = (typeof CHECKOUT_PLANS)[number];

/** The Stripe client the platform uses: Stripe's own API, or where BMMS_STRIPE_API_URL points (tests). */
export function stripeClient(config: Pick<StripeConfig, 'secretKey' | 'apiUrl'>): Stripe {
  const options: Stripe.StripeConfig = { maxNetworkRetries: 2, timeout: 20_000, telemetry: false };
  if (config.apiUrl) {
    const url = new URL(config.apiUrl);
    const protocol = url.protocol === 'http:' ? 'http' : 'https';
    options.protocol = protocol;
    options.host = url.hostname;
    options.port = url.port || (protocol === 'http' ? 80 : 443);
  }
  return new Stripe(config.secretKey, options);
}

/** What billing with Stripe needs. */
export interface StripeBillingDeps {
  db: PrismaClient;
  stripe: Stripe;
  config: Pick<StripeConfig, 'webhookSecret' | 'publishableKey' | 'prices'>;
  plans: OrgPlans;
  log: Logger;
}

/** What became of a webhook event that verified. */
export interface WebhookOutcome {
  event: string;
  type: string;
  /** `applied`: the org's subscription was written; `ignored`: nothing to do; `replayed`: acted on before. */
  status: 'applied' | 'ignored' | 'replayed';
  outcome: string;
}

/** One invoice as org settings lists it. */
export interface InvoiceView {
  id: string;
  number: string | null;
  created: string;
  status: string | null;
  total: number;
  currency: string;
  hostedUrl: string | null;
  pdfUrl: string | null;
}

/** An org's subscription as billing shows it. */
export interface SubscriptionView {
  id: string;
  status: string;
  currentPeriodEnd: string | null;
}

/** The subscription events that may change an org's plan; any other event is acknowledged and ignored. */
const SUBSCRIPTION_EVENTS: ReadonlySet<string> = new Set([
  'customer.subscription.created',
  'customer.subscription.updated',
  'customer.subscription.deleted',
  'customer.subscription.paused',
  'customer.subscription.resumed',
]);

const idOf = (ref: string | { id: string } | null | undefined): string | null =>
  ref == null ? null : typeof ref === 'string' ? ref : ref.id;

/** How long the ids of the webhook events acted on are kept. */
const EVENT_LEDGER_MS = 30 * 86_400_000;

/** Stripe's answer for an id it does not have (a customer deleted already, say). */
const isMissing = (err: unknown): boolean =>
  err instanceof Stripe.errors.StripeError && (err.code === 'resource_missing' || err.statusCode === 404);

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Billing with Stripe: Embedded Checkout for the plans sold, the customer portal, invoices, and the webhook that sets
 * an org's plan from its subscription. Webhook events are verified on the raw body, acted on once per event id
 * (`stripe_events`, shared by every platform process), and decide nothing by their order: each one only names a
 * subscription, which is retrieved and judged by its own state and creation time (subscription-state.ts).
 */
export class StripeBilling {
  readonly #deps: StripeBillingDeps;

  constructor(deps: StripeBillingDeps) {
    this.#deps = deps;
  }

  get publishableKey(): string {
    return this.#deps.config.publishableKey;
  }

  /** An Embedded Checkout session for `plan`; refused while the org already pays for a plan (the portal changes it). */
  async checkout(
    org: { id: string; name: string },
    plan: CheckoutPlan,
    returnUrl: string,
    email: string | null,
  ): Promise<{ clientSecret: string; sessionId: string; publishableKey: string }> {
    const row = await this.#orgRow(org.id);
    if (row.stripeSubscriptionId && isLive(row.subscriptionStatus)) {
      throw subscriptionExists(row.plan && isPlanId(row.plan) ? PLANS[row.plan].name : 'a plan');
    }
    const customer = row.stripeCustomerId ?? (await this.#createCustomer(org, email));
    const metadata = { org_id: org.id, plan };
    const session = await this.#call('creating a checkout session', () =>
      this.#deps.stripe.checkout.sessions.create({
        ui_mode: 'embedded_page',
        mode: 'subscription',
        customer,
        client_reference_id: org.id,
        line_items: [{ price: this.#deps.config.prices[plan], quantity: 1 }],
        return_url: returnUrl,
        subscription_data: { metadata },
        metadata,
      }),
    );
    if (!session.client_secret) throw paymentProviderFailed('the checkout session came without a client secret');
    return { clientSecret: session.client_secret, sessionId: session.id, publishableKey: this.publishableKey };
  }

  /** A customer portal session (plan changes, payment method, cancellation) that returns to `returnUrl`. */
  async portal(orgId: string, returnUrl: string): Promise<{ url: string }> {
    const row = await this.#orgRow(orgId);
    if (!row.stripeCustomerId) throw noBillingAccount();
    const customer = row.stripeCustomerId;
    const session = await this.#call('opening the customer portal', () =>
      this.#deps.stripe.billingPortal.sessions.create({ customer, return_url: returnUrl }),
    );
    return { url: session.url };
  }

  /** The org's latest invoices, newest first (none before its first checkout). */
  async invoices(orgId: string): Promise<InvoiceView[]> {
    const row = await this.#orgRow(orgId);
    if (!row.stripeCustomerId) return [];
    const customer = row.stripeCustomerId;
    const list = await this.#call('listing invoices', () => this.#deps.stripe.invoices.list({ customer, limit: 24 }));
    return list.data.map((i) => ({
      id: i.id,
      number: i.number,
      created: new Date(i.created * 1000).toISOString(),
      status: i.status,
      total: i.total,
      currency: i.currency,
      hostedUrl: i.hosted_invoice_url ?? null,
      pdfUrl: i.invoice_pdf ?? null,
    }));
  }

  /**
   * When the org is deleted: its Stripe customer goes too, which cancels its subscriptions at once (no further
   * charge) and removes its payment methods. A customer Stripe no longer has is gone already. Idempotent.
   */
  async forgetCustomer(orgId: string): Promise<void> {
    const row = await this.#deps.db.org.findUnique({ where: { id: orgId }, select: { stripeCustomerId: true } });
    const customer = row?.stripeCustomerId;
    if (!customer) return;
    await this.#call('deleting the customer (which cancels its subscription)', () =>
      this.#deps.stripe.customers.del(customer).catch((err: unknown) => {
        if (isMissing(err)) return null;
        throw err;
      }),
    );
    await this.#deps.db.org.updateMany({
      where: { id: orgId },
      data: { stripeCustomerId: null, stripeSubscriptionId: null, subscriptionStatus: 'canceled' },
    });
    this.#deps.log.info('stripe customer deleted with the org', { org: orgId });
  }

  /** The org's current subscription as last written, or null. */
  async subscription(orgId: string): Promise<SubscriptionView | null> {
    const row = await this.#orgRow(orgId);
    if (!row.stripeSubscriptionId || !row.subscriptionStatus) return null;
    return {
      id: row.stripeSubscriptionId,
      status: row.subscriptionStatus,
      currentPeriodEnd: row.subscriptionPeriodEnd?.toISOString() ?? null,
    };
  }

  /**
   * Receives one webhook delivery: the signature is verified on the raw bytes (`stripe.webhooks.constructEvent`,
   * which also refuses one signed more than 5 minutes ago), the event id is claimed once for every process, and a
   * failure releases the claim so that Stripe's retry is acted on.
   */
  async receive(rawBody: Buffer, signature: string | undefined): Promise<WebhookOutcome> {
    if (!signature) throw webhookSignatureInvalid('there is no Stripe-Signature header');
    let event: Stripe.Event;
    try {
      event = this.#deps.stripe.webhooks.constructEvent(rawBody, signature, this.#deps.config.webhookSecret);
    } catch (err) {
      throw webhookSignatureInvalid((err as Error).message);
    }
    const base = { event: event.id, type: event.type };
    // The ledger keeps 30 days: Stripe retries for 3, a delivery signed more than 5 minutes ago is refused above, and
    // acting again on a very old event is harmless (the subscription as Stripe holds it now decides).
    await this.#deps.db.stripeEvent.deleteMany({
      where: { receivedAt: { lt: new Date(Date.now() - EVENT_LEDGER_MS) } },
    });
    try {
      await this.#deps.db.stripeEvent.create({ data: { id: event.id, type: event.type, outcome: 'processing' } });
    } catch (err) {
      if (err instanceof Prisma.PrismaClientKnownRequestError && err.code === 'P2002') {
        return { ...base, status: 'replayed', outcome: 'this event was received before; not acted on again' };
      }
      throw err;
    }
    try {
      const result = await this.#handle(event);
      await this.#deps.db.stripeEvent.update({
        where: { id: event.id },
        data: { outcome: `${result.status}: ${result.outcome}`, orgId: result.orgId },
      });
      this.#deps.log.info('stripe event', { ...base, status: result.status, outcome: result.outcome });
      return { ...base, status: result.status, outcome: result.outcome };
    } catch (err) {
      await this.#deps.db.stripeEvent.delete({ where: { id: event.id } }).catch(() => {});
      throw err;
    }
  }

  /** Acts on one verified event: the subscription it names decides, as Stripe holds it now. */
  async #handle(
    event: Stripe.Event,
  ): Promise<{ status: 'applied' | 'ignored'; outcome: string; orgId: string | null }> {
    let ref: { subscription: string | null; customer: string | null; orgHint: string | null } | null = null;
    if (event.type === 'checkout.session.completed' || event.type === 'checkout.session.async_payment_succeeded') {
      const session = event.data.object;
      if (session.mode === 'subscription') {
        ref = {
          subscription: idOf(session.subscription),
          customer: idOf(session.customer),
          orgHint: session.client_reference_id,
        };
      }
    } else if (SUBSCRIPTION_EVENTS.has(event.type)) {
      const sub = event.data.object as Stripe.Subscription;
      ref = { subscription: sub.id, customer: idOf(sub.customer), orgHint: sub.metadata?.org_id ?? null };
    }
    if (!ref?.subscription || !ref.customer) {
      return { status: 'ignored', outcome: `${event.type} does not change a plan`, orgId: null };
    }
    const orgId = await this.#orgOf(ref.customer, ref.orgHint);
    if (!orgId) {
      return { status: 'ignored', outcome: `customer ${ref.customer} is no organization's`, orgId: null };
    }
    return { ...(await this.sync(orgId, ref.subscription, event.id)), orgId };
  }

  /**
   * Retrieves subscription `subscriptionId` and writes it to the org if it decides (see `decide`). The write is
   * conditional on the org's subscription being what was read, so two processes syncing at once cannot interleave.
   */
  async sync(
    orgId: string,
    subscriptionId: string,
    because: string,
  ): Promise<{ status: 'applied' | 'ignored'; outcome: string }> {
    const retrievedAt = new Date();
    const sub = await this.#call('retrieving the subscription', () =>
      this.#deps.stripe.subscriptions.retrieve(subscriptionId),
    );
    const facts = this.#factsOf(sub);
    for (let attempt = 0; attempt < 3; attempt++) {
      const row = await this.#orgRow(orgId);
      const stored: StoredSubscription = {
        id: row.stripeSubscriptionId,
        status: row.subscriptionStatus,
        createdAt: row.subscriptionCreatedAt,
      };
      const decision = decide(stored, facts);
      if (!decision.apply) return { status: 'ignored', outcome: decision.reason };
      const written = await this.#deps.db.org.updateMany({
        where: {
          id: orgId,
          stripeSubscriptionId: row.stripeSubscriptionId,
          subscriptionStatus: row.subscriptionStatus,
          // A retrieval older than the one written last never overwrites it.
          OR: [{ subscriptionSyncedAt: null }, { subscriptionSyncedAt: { lte: retrievedAt } }],
        },
        data: {
          plan: decision.plan,
          stripeSubscriptionId: facts.id,
          subscriptionStatus: facts.status,
          subscriptionCreatedAt: facts.createdAt,
          subscriptionPeriodEnd: facts.periodEnd,
          subscriptionSyncedAt: retrievedAt,
        },
      });
      if (written.count === 0) {
        const now = await this.#orgRow(orgId);
        if (now.subscriptionSyncedAt && now.subscriptionSyncedAt > retrievedAt) {
          return { status: 'ignored', outcome: 'a newer reading of the subscription was written meanwhile' };
        }
        continue;
      }
      await this.#deps.plans.changed(orgId);
      const before = row.plan ?? this.#deps.plans.defaultPlan;
      const after = decision.plan ?? this.#deps.plans.defaultPlan;
      if (before !== after || decision.adopt) {
        await audit(
          this.#deps.db,
          undefined,
          'billing.plan_changed',
          { type: 'org', id: orgId, orgId },
          { before, after, subscription: facts.id, status: facts.status, because },
        );
      }
      return { status: 'applied', outcome: `subscription ${facts.id} is ${facts.status}: the plan is ${after}` };
    }
    throw new Error(`the subscription of org ${orgId} kept changing while it was written`);
  }

  #factsOf(sub: Stripe.Subscription): SubscriptionFacts {
    const item = sub.items.data[0];
    const priceId = item?.price.id;
    const plan = CHECKOUT_PLANS.find((p) => this.#deps.config.prices[p] === priceId) ?? null;
    return {
      id: sub.id,
      status: sub.status,
      createdAt: new Date(sub.created * 1000),
      plan,
      periodEnd: item?.current_period_end ? new Date(item.current_period_end * 1000) : null,
    };
  }

  /** The org a customer belongs to: the one that holds it, else the org its metadata names if that org has none. */
  async #orgOf(customer: string, orgHint: string | null): Promise<string | null> {
    const holder = await this.#deps.db.org.findUnique({ where: { stripeCustomerId: customer }, select: { id: true } });
    if (holder) return holder.id;
    if (!orgHint || !UUID.test(orgHint)) return null;
    const claimed = await this.#deps.db.org.updateMany({
      where: { id: orgHint, stripeCustomerId: null },
      data: { stripeCustomerId: customer },
    });
    return claimed.count === 1 ? orgHint : null;
  }

  /** Creates the org's customer once (an idempotency key per org: two checkouts at once make one customer). */
  async #createCustomer(org: { id: string; name: string }, email: string | null): Promise<string> {
    const customer = await this.#call('creating the customer', () =>
      this.#deps.stripe.customers.create(
        { name: org.name, ...(email ? { email } : {}), metadata: { org_id: org.id } },
        { idempotencyKey: `bmms-customer-${org.id}` },
      ),
    );
    await this.#deps.db.org.updateMany({
      where: { id: org.id, stripeCustomerId: null },
      data: { stripeCustomerId: customer.id },
    });
    const row = await this.#orgRow(org.id);
    return row.stripeCustomerId ?? customer.id;
  }

  async #orgRow(orgId: string) {
    return this.#deps.db.org.findUniqueOrThrow({
      where: { id: orgId },
      select: {
        plan: true,
        stripeCustomerId: true,
        stripeSubscriptionId: true,
        subscriptionStatus: true,
        subscriptionCreatedAt: true,
        subscriptionPeriodEnd: true,
        subscriptionSyncedAt: true,
      },
    });
  }

  /** A Stripe call whose failure the caller sees as `payment_provider_failed` (and the log in full). */
  async #call<T>(what: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (err) {
      if (err instanceof Stripe.errors.StripeError) {
        this.#deps.log.warn('stripe call failed', { what, type: err.type, code: err.code, status: err.statusCode });
        throw paymentProviderFailed(`${what}: ${err.message}`);
      }
      throw err;
    }
  }
}
