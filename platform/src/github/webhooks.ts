import { Webhooks } from '@octokit/webhooks';

/** The GitHub events the platform acts on. */
export const HANDLED_EVENTS = ['pull_request', 'push', 'check_run', 'installation', 'repository'] as const;
export type HandledEvent = (typeof HANDLED_EVENTS)[number];

/** One delivery as it arrives: GitHub's headers and the body exactly as sent (the signature covers those bytes). */
export interface Delivery {
  /** `X-GitHub-Delivery`. */
  id: string;
  /** `X-GitHub-Event`. */
  name: string;
  /** `X-Hub-Signature-256` (`sha256=<hex>`). */
  signature: string;
  rawBody: string;
}

/** What became of a delivery; only `accepted` reached the handler. */
export type DeliveryResult =
  | { status: 'accepted'; event: HandledEvent }
  | { status: 'ignored'; reason: string }
  | { status: 'refused'; reason: 'forged' | 'replayed' | 'malformed' };

/** Where the ids of deliveries acted on are kept: a replayed id is refused (in memory by default). */
export interface DeliveryLedger {
  /** Claims a delivery id; false when it was claimed before (a replay). */
  claim(id: string, event: string): Promise<boolean>;
  /** Gives a claimed id back: its handling failed, so GitHub's redelivery must go through. */
  release(id: string): Promise<void>;
}

/** Delivery ids already seen, oldest first, bounded (GitHub redelivers with the same id). */
class SeenDeliveries implements DeliveryLedger {
  readonly #ids = new Set<string>();
  readonly max: number;
  constructor(max: number) {
    this.max = max;
  }
  async claim(id: string): Promise<boolean> {
    if (this.#ids.has(id)) return false;
    this.#ids.add(id);
    if (this.#ids.size > this.max) this.#ids.delete(this.#ids.values().next().value as string);
    return true;
  }
  async release(id: string): Promise<void> {
    this.#ids.delete(id);
  }
}

/**
 * Receives GitHub webhook deliveries: the signature is verified on the raw body with Octokit's webhooks library
 * (HMAC-SHA256, constant time) before anything is parsed, a delivery id is acted on once (a replay is refused), and
 * only the handled events reach `handle`. A refused delivery changes nothing.
 */
export class WebhookReceiver {
  readonly #webhooks: Webhooks;
  readonly #seen: DeliveryLedger;
  readonly #handle: (event: HandledEvent, payload: Record<string, unknown>, id: string) => Promise<void>;

  constructor(options: {
    secret: string;
    handle: (event: HandledEvent, payload: Record<string, unknown>, id: string) => Promise<void>;
    /** How many delivery ids are remembered for replay detection (default 10,000), without a ledger. */
    remember?: number;
    /** Where delivery ids are remembered (default: in memory). */
    ledger?: DeliveryLedger;
  }) {
    this.#webhooks = new Webhooks({ secret: options.secret });
    this.#seen = options.ledger ?? new SeenDeliveries(options.remember ?? 10_000);
    this.#handle = options.handle;
  }

  async receive(delivery: Delivery): Promise<DeliveryResult> {
    if (!delivery.id || !delivery.signature.startsWith('sha256=')) return { status: 'refused', reason: 'malformed' };
    if (!(await this.#webhooks.verify(delivery.rawBody, delivery.signature).catch(() => false))) {
      return { status: 'refused', reason: 'forged' };
    }
    let payload: unknown;
    try {
      payload = JSON.parse(delivery.rawBody);
    } catch {
      return { status: 'refused', reason: 'malformed' };
    }
    if (typeof payload !== 'object' || payload === null) return { status: 'refused', reason: 'malformed' };
    if (!(await this.#seen.claim(delivery.id, delivery.name))) return { status: 'refused', reason: 'replayed' };
    if (!(HANDLED_EVENTS as readonly string[]).includes(delivery.name)) {
      return { status: 'ignored', reason: `"${delivery.name}" is not an event the platform acts on` };
    }
    const event = delivery.name as HandledEvent;
    try {
      await this.#handle(event, payload as Record<string, unknown>, delivery.id);
    } catch (err) {
      // Not acted on: GitHub's redelivery of the same id must go through.
      await this.#seen.release(delivery.id);
      throw err;
    }
    return { status: 'accepted', event };
  }
}
