import pg from 'pg';
import { z } from 'zod';
import type { Logger } from './logger.ts';

/**
 * A fact the gateway caches changed. Sent after the change committed, to every platform process that shares the
 * database (this one first, synchronously, so a call made after the response that revoked something is refused).
 */
export const Invalidation = z.discriminatedUnion('kind', [
  /** An API key was revoked (its SHA-256 hash, never the key). */
  z.object({ kind: z.literal('api_key'), hash: z.string().max(128) }),
  /** A membership was removed or its role changed (the user's keys of that org go with it). */
  z.object({ kind: z.literal('member'), orgId: z.string().max(64), userId: z.string().max(64) }),
  /** A server was created or deleted. */
  z.object({ kind: z.literal('server'), name: z.string().max(128) }),
  /** A custom domain was verified or removed. */
  z.object({ kind: z.literal('domain'), hostname: z.string().max(253) }),
  /** An org's plan changed (billing, an operator). */
  z.object({ kind: z.literal('plan'), orgId: z.string().max(64) }),
  /** An OAuth grant was revoked. */
  z.object({ kind: z.literal('grant') }),
  /** The reconciler's leader pointed a target (a server or a preview) at another instance, or took its route away. */
  z.object({ kind: z.literal('route'), target: z.string().max(160) }),
  /**
   * Not a change but a request on the same channel: a process that does not lead the reconciler asks the leader to
   * reconcile a target (a merge, a secret changed…), or, with `call`, to start one scaled to zero that a call is for.
   */
  z.object({ kind: z.literal('wake'), target: z.string().max(160), call: z.boolean() }),
  /** Calls reached these targets through another process lately: the leader does not count them idle. */
  z.object({ kind: z.literal('route_activity'), targets: z.array(z.string().max(160)).max(40) }),
  /** Anything may have changed (notifications may have been missed): forget everything. */
  z.object({ kind: z.literal('all') }),
]);
export type Invalidation = z.infer<typeof Invalidation>;

/** Carries invalidations between the processes that share a database. */
export interface InvalidationBus {
  /** Delivers `event` to this process's subscribers at once, then to every other process. */
  publish(event: Invalidation): Promise<void>;
  /** Calls `handler` for every invalidation (own and others'); returns the unsubscribe function. */
  subscribe(handler: (event: Invalidation) => void): () => void;
  /**
   * How long a cached fact may still be trusted, in ms: unbounded while every invalidation reaches this process,
   * short while it may miss some (the listening connection is down).
   */
  maxStaleMs(): number;
  /** Stops listening. */
  close(): Promise<void>;
}

/** How stale a cached fact may be while invalidations from other processes might be missed. */
export const UNRELIABLE_MAX_STALE_MS = 1000;

/** One process on its own (PGlite): invalidations never leave it. */
export class LocalInvalidationBus implements InvalidationBus {
  readonly #handlers = new Set<(event: Invalidation) => void>();

  async publish(event: Invalidation): Promise<void> {
    this.deliver(event);
  }

  subscribe(handler: (event: Invalidation) => void): () => void {
    this.#handlers.add(handler);
    return () => this.#handlers.delete(handler);
  }

  maxStaleMs(): number {
    return Number.POSITIVE_INFINITY;
  }

  async close(): Promise<void> {}

  /** Hands `event` to every subscriber of this process. */
  protected deliver(event: Invalidation): void {
    for (const handler of this.#handlers) handler(event);
  }
}

/** The Postgres channel invalidations travel on. */
export const INVALIDATION_CHANNEL = 'bmms_invalidate';
const RECONNECT_MS = 250;

/**
 * Several platform processes on one Postgres database: `pg_notify` on a dedicated connection that LISTENs too.
 * While that connection is down this process may miss invalidations, so `maxStaleMs()` drops to one second and
 * every cache is flushed when it comes back.
 */
export class PostgresInvalidationBus extends LocalInvalidationBus {
  readonly #connectionString: string;
  readonly #log: Logger;
  #client: pg.Client | undefined;
  #connected = false;
  #closed = false;
  #reconnect: NodeJS.Timeout | undefined;

  constructor(opts: { connectionString: string; log: Logger }) {
    super();
    this.#connectionString = opts.connectionString;
    this.#log = opts.log;
  }

  /** Connects and LISTENs; resolves once listening (or after the first failure, retrying in the background). */
  async start(): Promise<void> {
    await this.#connect();
  }

  async #connect(): Promise<void> {
    if (this.#closed) return;
    const client = new pg.Client({ connectionString: this.#connectionString, application_name: 'bmms-invalidate' });
    client.on('notification', (msg) => {
      if (msg.channel !== INVALIDATION_CHANNEL || !msg.payload) return;
      let parsed: ReturnType<typeof Invalidation.safeParse>;
      try {
        parsed = Invalidation.safeParse(JSON.parse(msg.payload));
      } catch {
        return;
      }
      if (parsed.success) this.deliver(parsed.data);
    });
    client.on('error', (err) => this.#lost(client, err));
    client.on('end', () => this.#lost(client, undefined));
    try {
      await client.connect();
      await client.query(`LISTEN ${INVALIDATION_CHANNEL}`);
    } catch (err) {
      this.#lost(client, err as Error);
      return;
    }
    this.#client = client;
    this.#connected = true;
    // Whatever changed while nobody listened is unknown: forget it all.
    this.deliver({ kind: 'all' });
  }

  #lost(client: pg.Client, err: Error | undefined): void {
    if (this.#client !== undefined && this.#client !== client) return;
    const wasConnected = this.#connected;
    this.#client = undefined;
    this.#connected = false;
    client.end().catch(() => {});
    if (this.#closed) return;
    if (wasConnected) {
      this.#log.warn('invalidation listener lost; caches trust nothing older than a second until it is back', {
        err,
      });
    }
    this.deliver({ kind: 'all' });
    clearTimeout(this.#reconnect);
    this.#reconnect = setTimeout(() => void this.#connect(), RECONNECT_MS);
    this.#reconnect.unref();
  }

  override async publish(event: Invalidation): Promise<void> {
    this.deliver(event);
    const payload = JSON.stringify(event);
    try {
      if (this.#client && this.#connected) {
        await this.#client.query('SELECT pg_notify($1, $2)', [INVALIDATION_CHANNEL, payload]);
        return;
      }
      const once = new pg.Client({ connectionString: this.#connectionString });
      await once.connect();
      try {
        await once.query('SELECT pg_notify($1, $2)', [INVALIDATION_CHANNEL, payload]);
      } finally {
        await once.end().catch(() => {});
      }
    } catch (err) {
      // Other processes still stop trusting their caches within their lifetime; say so.
      this.#log.warn('could not notify other platform processes of an invalidation', { kind: event.kind, err });
    }
  }

  override maxStaleMs(): number {
    return this.#connected ? Number.POSITIVE_INFINITY : UNRELIABLE_MAX_STALE_MS;
  }

  override async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#reconnect);
    const client = this.#client;
    this.#client = undefined;
    this.#connected = false;
    await client?.end().catch(() => {});
  }
}
