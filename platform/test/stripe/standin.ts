/**
 * A local stand-in of the Stripe API endpoints the platform uses (customers, Embedded Checkout sessions, customer
 * portal sessions, invoices, subscriptions), for the real `stripe` client pointed at it by host, port and protocol.
 * It keeps state like Stripe does, lets a test play the customer (complete a checkout, change or cancel the
 * subscription), and hands out the webhook events Stripe would send, signed with the real scheme (`Stripe-Signature:
 * t=<unix>,v1=<HMAC-SHA256 of "<t>.<body>">`), which the test delivers in any order, twice, or forged. Every request
 * and response is recorded for the judge (judge.ts): a test fails on any violation.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import Stripe from 'stripe';
import { StripeTypesJudge } from './judge.ts';
import type { Wire } from './wire.ts';

type Json = Record<string, unknown>;

/** A webhook delivery: the exact body Stripe sends and its signature header. */
export interface SignedEvent {
  id: string;
  type: string;
  body: string;
  signature: string;
}

/** Decodes Stripe's form encoding (`a[b][0][c]=v`) into nested objects and arrays. */
export function decodeForm(text: string): Json {
  const root: Json = {};
  for (const [key, value] of new URLSearchParams(text)) {
    const parts = key.replace(/\]/g, '').split('[');
    let node: Json | unknown[] = root;
    parts.forEach((part, i) => {
      const last = i === parts.length - 1;
      const nextIsIndex = !last && /^\d+$/.test(parts[i + 1] as string);
      const container = node as Record<string, unknown>;
      if (last) container[part] = value;
      else {
        container[part] ??= nextIsIndex ? [] : {};
        node = container[part] as Json;
      }
    });
  }
  return root;
}

const now = () => Math.floor(Date.now() / 1000);
const idOf = (prefix: string) => `${prefix}_${randomBytes(12).toString('hex')}`;

/** The routes the stand-in serves: method, path pattern, the package's params type and its response type. */
const ROUTES = [
  { method: 'POST', path: /^\/v1\/customers$/, params: 'Stripe.CustomerCreateParams', answer: 'Stripe.Customer' },
  {
    method: 'DELETE',
    path: /^\/v1\/customers\/([\w]+)$/,
    params: 'Stripe.CustomerDeleteParams',
    answer: 'Stripe.DeletedCustomer',
  },
  {
    method: 'POST',
    path: /^\/v1\/checkout\/sessions$/,
    params: 'Stripe.Checkout.SessionCreateParams',
    answer: 'Stripe.Checkout.Session',
  },
  {
    method: 'POST',
    path: /^\/v1\/billing_portal\/sessions$/,
    params: 'Stripe.BillingPortal.SessionCreateParams',
    answer: 'Stripe.BillingPortal.Session',
  },
  {
    method: 'GET',
    path: /^\/v1\/invoices$/,
    params: 'Stripe.InvoiceListParams',
    answer: 'Stripe.ApiList<Stripe.Invoice>',
  },
  {
    method: 'GET',
    path: /^\/v1\/subscriptions\/([\w]+)$/,
    params: 'Stripe.SubscriptionRetrieveParams',
    answer: 'Stripe.Subscription',
  },
] as const;

type Route = (typeof ROUTES)[number];

/** A Stripe error body (`{"error":{"type","message"}}`), as the client expects it. */
function stripeError(type: string, message: string, code?: string): Json {
  return { error: { type, message, ...(code ? { code } : {}) } };
}

export class StripeStandIn {
  readonly judge = new StripeTypesJudge();
  /** Problems found outside the judge: unknown routes, a wrong key, a wrong API version. */
  readonly violations: string[] = [];
  /** Every request, in order: `METHOD /path`. */
  readonly calls: string[] = [];
  readonly customers = new Map<string, Wire<Stripe.Customer>>();
  readonly sessions = new Map<string, Wire<Stripe.Checkout.Session>>();
  readonly subscriptions = new Map<string, Wire<Stripe.Subscription>>();
  readonly invoices: Wire<Stripe.Invoice>[] = [];
  /** Webhook events that API calls made Stripe send (a deleted customer's cancelled subscriptions), for the test to deliver. */
  readonly outbox: SignedEvent[] = [];
  readonly #server: Server;
  readonly #secretKey: string;
  readonly #webhookSecret: string;
  readonly #idempotent = new Map<string, Json>();
  #failing = 0;

  private constructor(server: Server, secretKey: string, webhookSecret: string) {
    this.#server = server;
    this.#secretKey = secretKey;
    this.#webhookSecret = webhookSecret;
  }

  /** Starts the stand-in on a random loopback port. */
  static async start(options: { secretKey: string; webhookSecret: string }): Promise<StripeStandIn> {
    const server = createServer();
    const standIn = new StripeStandIn(server, options.secretKey, options.webhookSecret);
    server.on('request', (req, res) => {
      standIn.#serve(req, res).catch((err: unknown) => {
        standIn.violations.push(`stand-in failed: ${(err as Error).stack ?? err}`);
        res.writeHead(500).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return standIn;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  /** The next `n` requests fail as Stripe does when it has a problem of its own (500 `api_error`). */
  failNext(n: number): void {
    this.#failing = n;
  }

  /** Every violation: the judge's (requests and responses against the package's types) and the stand-in's own. */
  problems(): string[] {
    return [...this.violations, ...this.judge.judge()];
  }

  async #serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const url = new URL(req.url ?? '/', 'http://stand-in');
    const method = req.method ?? 'GET';
    const label = `${method} ${url.pathname}`;
    this.calls.push(label);
    const send = (status: number, body: Json, answerType?: string) => {
      if (answerType) this.judge.response(`${label} → ${status}`, answerType, body);
      res.writeHead(status, { 'content-type': 'application/json', 'request-id': idOf('req') });
      res.end(JSON.stringify(body));
    };
    if (req.headers.authorization !== `Bearer ${this.#secretKey}`) {
      this.violations.push(`${label}: not authenticated with the configured secret key`);
      return send(401, stripeError('invalid_request_error', 'Invalid API Key provided'));
    }
    if (req.headers['stripe-version'] !== Stripe.API_VERSION) {
      this.violations.push(`${label}: Stripe-Version ${req.headers['stripe-version']} is not ${Stripe.API_VERSION}`);
    }
    if (this.#failing > 0) {
      this.#failing--;
      return send(500, stripeError('api_error', 'Something went wrong on our end (the stand-in was told to fail).'));
    }
    const route = ROUTES.find((r) => r.method === method && r.path.test(url.pathname));
    if (!route) {
      this.violations.push(`${label}: not an endpoint the stand-in knows`);
      return send(404, stripeError('invalid_request_error', `Unrecognized request URL (${label})`));
    }
    const params = method === 'GET' ? decodeForm(url.search.slice(1)) : decodeForm(Buffer.concat(chunks).toString());
    this.judge.request(label, route.params, params);
    const key = req.headers['idempotency-key'];
    const earlier = typeof key === 'string' ? this.#idempotent.get(`${label} ${key}`) : undefined;
    if (earlier) return send(200, earlier, route.answer);
    const answer = this.#answer(route, url.pathname.match(route.path) ?? [], params);
    if (answer.status === 200 && typeof key === 'string') this.#idempotent.set(`${label} ${key}`, answer.body);
    send(answer.status, answer.body, answer.status === 200 ? route.answer : undefined);
  }

  #answer(route: Route, match: RegExpMatchArray | string[], params: Json): { status: number; body: Json } {
    switch (route.answer) {
      case 'Stripe.Customer':
        return { status: 200, body: this.#createCustomer(params) };
      case 'Stripe.DeletedCustomer':
        return this.#deleteCustomer(match[1] as string);
      case 'Stripe.Checkout.Session':
        return this.#createCheckout(params);
      case 'Stripe.BillingPortal.Session': {
        const customer = String(params.customer);
        if (!this.customers.has(customer)) return this.#missing('customer', customer);
        return { status: 200, body: this.#portalSession(customer, String(params.return_url)) };
      }
      case 'Stripe.ApiList<Stripe.Invoice>': {
        const mine = this.invoices.filter((i) => i.customer === params.customer).toReversed();
        const limit = Number(params.limit ?? 10);
        const list: Wire<Stripe.ApiList<Stripe.Invoice>> = {
          object: 'list',
          data: mine.slice(0, limit),
          has_more: mine.length > limit,
          url: '/v1/invoices',
        };
        return { status: 200, body: list as unknown as Json };
      }
      case 'Stripe.Subscription': {
        const sub = this.subscriptions.get(match[1] as string);
        return sub ? { status: 200, body: sub } : this.#missing('subscription', match[1] as string);
      }
    }
  }

  #missing(what: string, id: string) {
    return {
      status: 404,
      body: stripeError('invalid_request_error', `No such ${what}: '${id}'`, 'resource_missing'),
    };
  }

  #createCustomer(params: Json): Wire<Stripe.Customer> {
    const customer: Wire<Stripe.Customer> = {
      id: idOf('cus'),
      object: 'customer',
      balance: 0,
      created: now(),
      default_source: null,
      description: null,
      email: typeof params.email === 'string' ? params.email : null,
      invoice_settings: { custom_fields: null, default_payment_method: null, footer: null, rendering_options: null },
      livemode: false,
      metadata: (params.metadata as Record<string, string> | undefined) ?? {},
      shipping: null,
      name: typeof params.name === 'string' ? params.name : null,
    };
    this.customers.set(customer.id, customer);
    return customer;
  }

  /** Stripe deletes the customer for good and cancels its live subscriptions at once, each with its webhook event. */
  #deleteCustomer(id: string): { status: number; body: Json } {
    if (!this.customers.has(id)) return this.#missing('customer', id);
    this.customers.delete(id);
    for (const sub of this.subscriptions.values()) {
      if (sub.customer !== id || sub.status === 'canceled' || sub.status === 'incomplete_expired') continue;
      this.outbox.push(this.cancelSubscription(sub.id));
    }
    const deleted: Wire<Stripe.DeletedCustomer> = { id, object: 'customer', deleted: true };
    return { status: 200, body: deleted };
  }

  #createCheckout(params: Json): { status: number; body: Json } {
    const customer = String(params.customer);
    if (!this.customers.has(customer)) return this.#missing('customer', customer);
    const id = idOf('cs_test');
    const items = (params.line_items as Json[] | undefined) ?? [];
    const session: Wire<Stripe.Checkout.Session> = {
      ...CHECKOUT_SESSION_BASE,
      id,
      created: now(),
      expires_at: now() + 86_400,
      client_secret: `${id}_secret_${randomBytes(8).toString('hex')}`,
      client_reference_id: (params.client_reference_id as string | undefined) ?? null,
      customer,
      metadata: (params.metadata as Record<string, string> | undefined) ?? {},
      mode: params.mode === 'subscription' ? 'subscription' : 'payment',
      ui_mode: params.ui_mode === 'embedded_page' ? 'embedded_page' : 'hosted_page',
      return_url: typeof params.return_url === 'string' ? params.return_url.replace('{CHECKOUT_SESSION_ID}', id) : '',
    };
    this.sessions.set(id, session);
    this.#sessionPrices.set(id, {
      price: String(items[0]?.price),
      subscriptionMetadata: ((params.subscription_data as Json | undefined)?.metadata as Record<string, string>) ?? {},
    });
    return { status: 200, body: session };
  }

  readonly #sessionPrices = new Map<string, { price: string; subscriptionMetadata: Record<string, string> }>();

  #portalSession(customer: string, returnUrl: string): Wire<Stripe.BillingPortal.Session> {
    return {
      id: idOf('bps'),
      object: 'billing_portal.session',
      configuration: idOf('bpc'),
      created: now(),
      customer,
      customer_account: null,
      flow: null,
      livemode: false,
      locale: null,
      on_behalf_of: null,
      return_url: returnUrl,
      url: `https://billing.stripe.invalid/p/session/${idOf('test')}`,
    };
  }

  // The customer's side, as a test plays it.

  /** The customer pays in Embedded Checkout: the session completes, a subscription and a paid invoice exist. */
  completeCheckout(sessionId: string): SignedEvent[] {
    const session = this.sessions.get(sessionId);
    const bought = this.#sessionPrices.get(sessionId);
    if (!session || !bought || typeof session.customer !== 'string') throw new Error(`no session ${sessionId}`);
    const sub = this.#newSubscription(session.customer, bought.price, bought.subscriptionMetadata);
    const completed: Wire<Stripe.Checkout.Session> = {
      ...session,
      status: 'complete',
      payment_status: 'paid',
      subscription: sub.id,
    };
    this.sessions.set(sessionId, completed);
    const invoice = this.#paidInvoice(sub);
    return [
      this.#event('customer.subscription.created', sub),
      this.#event('invoice.paid', invoice),
      this.#event('checkout.session.completed', completed),
    ];
  }

  /** The subscription changes (the portal: another price, or a failed payment's status). */
  updateSubscription(id: string, change: { price?: string; status?: Wire<Stripe.Subscription.Status> }): SignedEvent {
    const sub = this.#subscription(id);
    const item = sub.items.data[0] as Wire<Stripe.SubscriptionItem>;
    const updated: Wire<Stripe.Subscription> = {
      ...sub,
      status: change.status ?? sub.status,
      items: {
        ...sub.items,
        data: [change.price ? { ...item, price: { ...item.price, id: change.price } } : item],
      },
    };
    this.subscriptions.set(id, updated);
    return this.#event('customer.subscription.updated', updated);
  }

  /** The subscription ends (cancelled in the portal, or for good after failed payments). */
  cancelSubscription(id: string): SignedEvent {
    const sub = this.#subscription(id);
    const ended: Wire<Stripe.Subscription> = { ...sub, status: 'canceled', canceled_at: now(), ended_at: now() };
    this.subscriptions.set(id, ended);
    return this.#event('customer.subscription.deleted', ended);
  }

  /** Signs a body the way Stripe does; `secret` and `timestamp` may be wrong on purpose. */
  sign(body: string, options: { secret?: string; timestamp?: number } = {}): string {
    const t = options.timestamp ?? now();
    const v1 = createHmac('sha256', options.secret ?? this.#webhookSecret)
      .update(`${t}.${body}`)
      .digest('hex');
    return `t=${t},v1=${v1}`;
  }

  #subscription(id: string): Wire<Stripe.Subscription> {
    const sub = this.subscriptions.get(id);
    if (!sub) throw new Error(`no subscription ${id}`);
    return sub;
  }

  #newSubscription(customer: string, price: string, metadata: Record<string, string>): Wire<Stripe.Subscription> {
    const id = idOf('sub');
    const start = now();
    const end = start + 30 * 86_400;
    const sub: Wire<Stripe.Subscription> = {
      ...SUBSCRIPTION_BASE,
      id,
      created: start,
      start_date: start,
      billing_cycle_anchor: start,
      customer,
      metadata,
      status: 'active',
      items: {
        object: 'list',
        has_more: false,
        url: `/v1/subscription_items?subscription=${id}`,
        data: [
          {
            id: idOf('si'),
            object: 'subscription_item',
            billing_thresholds: null,
            created: start,
            current_period_start: start,
            current_period_end: end,
            current_trial: null,
            discounts: [],
            metadata: {},
            plan: planOf(price, start),
            price: priceOf(price, start),
            subscription: id,
            tax_rates: [],
            quantity: 1,
          },
        ],
      },
    };
    this.subscriptions.set(id, sub);
    return sub;
  }

  #paidInvoice(sub: Wire<Stripe.Subscription>): Wire<Stripe.Invoice> {
    const id = idOf('in');
    const amount = (sub.items.data[0]?.price.unit_amount as number | null) ?? 0;
    const invoice: Wire<Stripe.Invoice> = {
      ...INVOICE_BASE,
      id,
      created: sub.created,
      customer: typeof sub.customer === 'string' ? sub.customer : sub.customer.id,
      number: `STANDIN-${String(this.invoices.length + 1).padStart(4, '0')}`,
      amount_due: amount,
      amount_paid: amount,
      subtotal: amount,
      subtotal_excluding_tax: amount,
      total: amount,
      total_excluding_tax: amount,
      period_start: sub.created,
      period_end: sub.created,
      status: 'paid',
      hosted_invoice_url: `https://invoice.stripe.invalid/i/${id}`,
      invoice_pdf: `https://invoice.stripe.invalid/i/${id}/pdf`,
    };
    this.invoices.push(invoice);
    return invoice;
  }

  #event(type: string, object: Json | Wire<Stripe.Subscription>): SignedEvent {
    const event = {
      id: idOf('evt'),
      object: 'event',
      api_version: Stripe.API_VERSION,
      created: now(),
      data: { object },
      livemode: false,
      pending_webhooks: 1,
      request: { id: null, idempotency_key: null },
      type,
    };
    this.judge.response(`event ${type}`, 'Stripe.Event', event);
    const body = JSON.stringify(event, null, 2);
    return { id: event.id, type, body, signature: this.sign(body) };
  }
}

/** What a stand-in price looks like: €49 or €149 a month, by the price id's plan. */
function priceOf(id: string, created: number): Wire<Stripe.Price> {
  const amount = id.includes('team') ? 14_900 : 4_900;
  return {
    id,
    object: 'price',
    active: true,
    billing_scheme: 'per_unit',
    created,
    currency: 'eur',
    custom_unit_amount: null,
    livemode: false,
    lookup_key: null,
    metadata: {},
    nickname: null,
    product: 'prod_standin',
    recurring: { interval: 'month', interval_count: 1, meter: null, trial_period_days: null, usage_type: 'licensed' },
    tax_behavior: 'exclusive',
    tiers_mode: null,
    transform_quantity: null,
    type: 'recurring',
    unit_amount: amount,
    unit_amount_decimal: String(amount),
  };
}

/** The legacy plan object Stripe still puts beside an item's price. */
function planOf(id: string, created: number): Wire<Stripe.Plan> {
  const amount = id.includes('team') ? 14_900 : 4_900;
  return {
    id,
    object: 'plan',
    active: true,
    amount,
    amount_decimal: String(amount),
    billing_scheme: 'per_unit',
    created,
    currency: 'eur',
    interval: 'month',
    interval_count: 1,
    livemode: false,
    metadata: {},
    meter: null,
    nickname: null,
    product: 'prod_standin',
    tiers_mode: null,
    transform_usage: null,
    trial_period_days: null,
    usage_type: 'licensed',
  };
}

const SUBSCRIPTION_BASE = {
  object: 'subscription',
  application: null,
  application_fee_percent: null,
  automatic_tax: { disabled_reason: null, enabled: false, liability: null },
  billing_cycle_anchor_config: null,
  billing_mode: { flexible: null, type: 'flexible', updated_at: 0 },
  billing_schedules: [],
  billing_thresholds: null,
  cancel_at: null,
  cancel_at_period_end: false,
  canceled_at: null,
  cancellation_details: { comment: null, feedback: null, feedback_option: null, reason: null },
  collection_method: 'charge_automatically',
  currency: 'eur',
  customer_account: null,
  days_until_due: null,
  default_payment_method: null,
  default_source: null,
  description: null,
  discounts: [],
  ended_at: null,
  invoice_settings: {
    account_tax_ids: null,
    custom_fields: null,
    description: null,
    footer: null,
    issuer: { type: 'self' },
  },
  latest_invoice: null,
  livemode: false,
  managed_payments: null,
  next_pending_invoice_item_invoice: null,
  on_behalf_of: null,
  pause_collection: null,
  payment_settings: null,
  pending_invoice_item_interval: null,
  pending_setup_intent: null,
  pending_update: null,
  schedule: null,
  test_clock: null,
  transfer_data: null,
  trial_end: null,
  trial_settings: null,
  trial_start: null,
} as const satisfies Partial<Wire<Stripe.Subscription>>;

const CHECKOUT_SESSION_BASE = {
  object: 'checkout.session',
  adaptive_pricing: null,
  after_expiration: null,
  allowed_payment_method_types: null,
  allow_promotion_codes: null,
  amount_subtotal: null,
  amount_total: null,
  automatic_tax: { enabled: false, liability: null, provider: null, status: null },
  billing_address_collection: null,
  cancel_url: null,
  collected_information: null,
  consent: null,
  consent_collection: null,
  currency: 'eur',
  currency_conversion: null,
  custom_fields: [],
  custom_text: { after_submit: null, shipping_address: null, submit: null, terms_of_service_acceptance: null },
  customer_account: null,
  customer_creation: null,
  customer_details: null,
  customer_email: null,
  discounts: null,
  integration_identifier: null,
  invoice: null,
  invoice_creation: null,
  livemode: false,
  locale: null,
  managed_payments: null,
  origin_context: null,
  payment_intent: null,
  payment_link: null,
  payment_method_collection: 'always',
  payment_method_configuration_details: null,
  payment_method_options: null,
  payment_method_types: ['card'],
  payment_status: 'unpaid',
  permissions: null,
  recovered_from: null,
  saved_payment_method_options: null,
  setup_intent: null,
  shipping_address_collection: null,
  shipping_cost: null,
  shipping_options: [],
  status: 'open',
  submit_type: null,
  subscription: null,
  success_url: null,
  total_details: null,
  url: null,
  wallet_options: null,
} as const satisfies Partial<Wire<Stripe.Checkout.Session>>;

const INVOICE_BASE = {
  object: 'invoice',
  account_country: 'DE',
  account_name: 'BuildMyMCPServer',
  account_tax_ids: null,
  amount_overpaid: 0,
  amount_remaining: 0,
  amount_shipping: 0,
  application: null,
  attempt_count: 1,
  attempted: true,
  automatic_tax: { disabled_reason: null, enabled: false, liability: null, provider: null, status: null },
  automatically_finalizes_at: null,
  billing_reason: 'subscription_create',
  collection_method: 'charge_automatically',
  currency: 'eur',
  custom_fields: null,
  customer_account: null,
  customer_address: null,
  customer_email: null,
  customer_name: null,
  customer_phone: null,
  customer_shipping: null,
  customer_tax_exempt: 'none',
  default_payment_method: null,
  default_source: null,
  default_tax_rates: [],
  description: null,
  discounts: [],
  due_date: null,
  effective_at: null,
  ending_balance: 0,
  footer: null,
  from_invoice: null,
  issuer: { type: 'self' },
  last_finalization_error: null,
  latest_revision: null,
  lines: { object: 'list', data: [], has_more: false, url: '/v1/invoices/lines' },
  livemode: false,
  metadata: {},
  next_payment_attempt: null,
  on_behalf_of: null,
  parent: null,
  payment_settings: { default_mandate: null, payment_method_options: null, payment_method_types: null },
  post_payment_credit_notes_amount: 0,
  pre_payment_credit_notes_amount: 0,
  receipt_number: null,
  rendering: null,
  shipping_cost: null,
  shipping_details: null,
  starting_balance: 0,
  statement_descriptor: null,
  status_transitions: { finalized_at: null, marked_uncollectible_at: null, paid_at: null, voided_at: null },
  test_clock: null,
  total_discount_amounts: [],
  total_pretax_credit_amounts: [],
  total_taxes: [],
  webhooks_delivered_at: null,
} as const satisfies Partial<Wire<Stripe.Invoice>>;
