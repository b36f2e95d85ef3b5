import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';

/** Who may act: exactly one reconciler per database (per shard key) leads at a time. */
export interface Leadership {
  /** Tries once; true when this process now leads. */
  tryAcquire(): Promise<boolean>;
  /** Resolves once this process leads (retrying until then), or rejects when `signal` aborts. */
  acquire(signal?: AbortSignal): Promise<void>;
  /** Calls `cb` once if leadership is lost (the lock's connection broke). */
  onLost(cb: (reason: string) => void): void;
  /** Gives leadership up. */
  release(): Promise<void>;
}

/** The embedded database has one process by construction: it always leads. */
export class SoloLeadership implements Leadership {
  async tryAcquire(): Promise<boolean> {
    return true;
  }
  async acquire(): Promise<void> {}
  onLost(): void {}
  async release(): Promise<void> {}
}

/** The lock key reconcilers share: a fixed 64-bit number ("bmms" + shard). */
export const RECONCILER_LOCK_KEY = 0x626d6d73_00000000n;

/**
 * Leadership through a Postgres session advisory lock on a connection of its own: the lock lives exactly as long
 * as that connection, so a leader that dies (or is cut off) frees it at once and a follower polling
 * `pg_try_advisory_lock` takes over within `retryMs`. The leader checks its connection every `heartbeatMs`.
 */
export class AdvisoryLockLeadership implements Leadership {
  readonly #connectionString: string;
  readonly #key: bigint;
  readonly #retryMs: number;
  readonly #heartbeatMs: number;
  #client: pg.Client | undefined;
  #leading = false;
  #heartbeat: NodeJS.Timeout | undefined;
  readonly #lost = new Set<(reason: string) => void>();

  constructor(opts: { connectionString: string; key?: bigint; retryMs?: number; heartbeatMs?: number }) {
    this.#connectionString = opts.connectionString;
    this.#key = opts.key ?? RECONCILER_LOCK_KEY;
    this.#retryMs = opts.retryMs ?? 1000;
    this.#heartbeatMs = opts.heartbeatMs ?? 2000;
  }

  /** Whether this process holds the lock right now. */
  get leading(): boolean {
    return this.#leading;
  }

  async #connect(): Promise<pg.Client> {
    if (this.#client) return this.#client;
    const client = new pg.Client({
      connectionString: this.#connectionString,
      application_name: 'bmms-reconciler-lock',
    });
    client.on('error', (err) => this.#drop(`lock connection failed: ${err.message}`));
    client.on('end', () => this.#drop('lock connection closed'));
    await client.connect();
    this.#client = client;
    return client;
  }

  #drop(reason: string): void {
    const wasLeading = this.#leading;
    this.#leading = false;
    clearInterval(this.#heartbeat);
    const client = this.#client;
    this.#client = undefined;
    client?.end().catch(() => {});
    if (!wasLeading) return;
    for (const cb of this.#lost) cb(reason);
    this.#lost.clear();
  }

  async tryAcquire(): Promise<boolean> {
    if (this.#leading) return true;
    try {
      const client = await this.#connect();
      const res = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1::bigint) AS ok', [
        this.#key.toString(),
      ]);
      if (!res.rows[0]?.ok) return false;
    } catch {
      this.#drop('could not reach the database');
      return false;
    }
    this.#leading = true;
    this.#heartbeat = setInterval(() => {
      this.#client?.query('SELECT 1').catch((err: Error) => this.#drop(`lock connection failed: ${err.message}`));
    }, this.#heartbeatMs);
    this.#heartbeat.unref();
    return true;
  }

  async acquire(signal?: AbortSignal): Promise<void> {
    while (!(await this.tryAcquire())) {
      signal?.throwIfAborted();
      await sleep(this.#retryMs, undefined, { signal });
    }
  }

  onLost(cb: (reason: string) => void): void {
    this.#lost.add(cb);
  }

  async release(): Promise<void> {
    this.#lost.clear();
    const client = this.#client;
    const leading = this.#leading;
    this.#leading = false;
    clearInterval(this.#heartbeat);
    this.#client = undefined;
    if (!client) return;
    if (leading) await client.query('SELECT pg_advisory_unlock($1::bigint)', [this.#key.toString()]).catch(() => {});
    await client.end().catch(() => {});
  }
}

/**
 * Runs `start` whenever this process leads and `stop` when it stops leading, until `close()`: a follower waits,
 * a leader that loses its lock stops acting at once and queues up again.
 */
export function whileLeading(
  leadership: Leadership,
  hooks: {
    start(): Promise<void>;
    stop(): Promise<void>;
    log: (msg: string, fields?: Record<string, unknown>) => void;
  },
): { settled: Promise<'leading' | 'following'>; close(): Promise<void> } {
  const abort = new AbortController();
  let running = false;
  let settle: (how: 'leading' | 'following') => void = () => {};
  const settled = new Promise<'leading' | 'following'>((resolve) => {
    settle = resolve;
  });
  const lead = async (): Promise<void> => {
    try {
      if (!(await leadership.tryAcquire())) {
        settle('following');
        hooks.log('another reconciler leads; waiting to take over');
        await leadership.acquire(abort.signal);
      }
    } catch {
      return; // closed while waiting
    }
    leadership.onLost((reason) => {
      hooks.log('lost reconciler leadership; stopping', { reason });
      running = false;
      void hooks.stop().finally(() => {
        if (!abort.signal.aborted) void lead();
      });
    });
    hooks.log('leading the reconciler');
    running = true;
    await hooks.start();
    settle('leading');
  };
  void lead();
  return {
    /** Resolves once this process either started leading or found another leader (and waits in the background). */
    settled,
    async close() {
      abort.abort();
      if (running) await hooks.stop();
      running = false;
      await leadership.release();
    },
  };
}
