import type { Logger } from '../logger.ts';

/** A limit: at most `limit` requests in any window of `windowMs` (sliding). */
export interface RateLimitRule {
  limit: number;
  windowMs: number;
}

/** What one request was told: allowed or not, and the IETF RateLimit fields. */
export interface RateLimitDecision {
  allowed: boolean;
  limit: number;
  /** Requests left in the window after this one. */
  remaining: number;
  /** Seconds until the window has room again (0 when it has). */
  resetSeconds: number;
  /** The policy name and window in seconds, for RateLimit-Policy. */
  policy: string;
  /** The policy's quoted name, which the RateLimit field starts with (`"token"`). */
  policyName: string;
}

/** How long a store keeps one window's counts after their last write (Postgres rows, Redis hashes alike). */
export const COUNTS_KEEP_MS = 3_600_000;

/** Where several processes add up their counts (Postgres); without one, each process limits on its own. */
export interface RateLimitStore {
  /**
   * Writes this process's counts of the given windows and returns every other process's counts of the same keys and
   * windows (`<key>\0<window>` → count).
   */
  exchange(
    processId: string,
    counts: Array<{ key: string; window: number; count: number }>,
  ): Promise<Map<string, number>>;
  /** Lets go of its connection (Redis); the database's is the platform's. */
  close?(): Promise<void>;
}

interface Slot {
  /** The index of the current fixed window (floor(now / windowMs)). */
  window: number;
  current: number;
  previous: number;
  /** The other processes' counts of `window` and `window - 1`, as of the last exchange. */
  othersCurrent: number;
  othersPrevious: number;
}

/** Keys kept per limiter; beyond it, the least recently used go (a flood of new addresses cannot grow memory). */
const MAX_KEYS = 100_000;

/**
 * A sliding-window limiter (the sliding window counter: the previous fixed window's count weighted by how much of it
 * the sliding window still covers, plus the current one's). Memory only on the call path; with a store, each process
 * exchanges its counts every `syncMs` and adds the others' to its own, so the limit holds across processes within
 * one exchange.
 */
export class SlidingWindowLimiter {
  readonly rule: RateLimitRule;
  readonly #name: string;
  readonly #policy: string;
  readonly #policyName: string;
  readonly #slots = new Map<string, Slot>();
  readonly #now: () => number;

  constructor(name: string, rule: RateLimitRule, now: () => number = Date.now) {
    this.rule = rule;
    this.#name = name;
    this.#policyName = `"${name}"`;
    this.#policy = `${this.#policyName};q=${rule.limit};w=${Math.round(rule.windowMs / 1000)}`;
    this.#now = now;
  }

  get name(): string {
    return this.#name;
  }

  /** Counts one request of `key` unless the window is full; says which. */
  take(key: string): RateLimitDecision {
    const { limit, windowMs } = this.rule;
    const now = this.#now();
    const window = Math.floor(now / windowMs);
    const slot = this.#slot(key, window);
    const elapsed = (now - window * windowMs) / windowMs;
    const weight = 1 - elapsed;
    const used = (slot.previous + slot.othersPrevious) * weight + slot.current + slot.othersCurrent;
    if (used + 1 > limit) {
      const resetSeconds = this.#wait(slot, elapsed);
      return { allowed: false, limit, remaining: 0, resetSeconds, policy: this.#policy, policyName: this.#policyName };
    }
    slot.current++;
    const remaining = Math.max(0, Math.floor(limit - used - 1));
    return { allowed: true, limit, remaining, resetSeconds: 0, policy: this.#policy, policyName: this.#policyName };
  }

  /** Every key this process knows in the current or previous window (what to ask the others about). */
  activeCounts(): Array<{ key: string; window: number; count: number }> {
    const window = Math.floor(this.#now() / this.rule.windowMs);
    const out: Array<{ key: string; window: number; count: number }> = [];
    for (const [key, slot] of this.#slots) {
      if (slot.window < window - 1) continue;
      out.push({ key: `${this.#name}:${key}`, window: slot.window, count: slot.current });
      if (slot.previous > 0) out.push({ key: `${this.#name}:${key}`, window: slot.window - 1, count: slot.previous });
    }
    return out;
  }

  /** Takes the other processes' counts (`<name>:<key>\0<window>` → count) from an exchange. */
  absorb(others: Map<string, number>): void {
    for (const [key, slot] of this.#slots) {
      const k = `${this.#name}:${key}\u0000`;
      slot.othersCurrent = others.get(`${k}${slot.window}`) ?? 0;
      slot.othersPrevious = others.get(`${k}${slot.window - 1}`) ?? 0;
    }
  }

  #slot(key: string, window: number): Slot {
    let slot = this.#slots.get(key);
    if (!slot) {
      slot = { window, current: 0, previous: 0, othersCurrent: 0, othersPrevious: 0 };
      this.#slots.set(key, slot);
      if (this.#slots.size > MAX_KEYS) this.#slots.delete(this.#slots.keys().next().value as string);
      return slot;
    }
    if (slot.window !== window) {
      const step = window - slot.window;
      slot.previous = step === 1 ? slot.current : 0;
      slot.othersPrevious = step === 1 ? slot.othersCurrent : 0;
      slot.current = 0;
      slot.othersCurrent = 0;
      slot.window = window;
    }
    return slot;
  }

  /** Seconds until one more request fits: when the weighted previous window has shrunk enough, or the next window. */
  #wait(slot: Slot, elapsed: number): number {
    const { limit, windowMs } = this.rule;
    const current = slot.current + slot.othersCurrent;
    const previous = slot.previous + slot.othersPrevious;
    let until = 1 - elapsed;
    if (current + 1 <= limit && previous > 0) until = Math.min(until, 1 - (limit - 1 - current) / previous - elapsed);
    return Math.max(1, Math.ceil((until * windowMs) / 1000));
  }
}

/** The limiters of the gateway (per client address, per token) and their exchange with the other processes. */
export class GatewayRateLimits {
  readonly address: SlidingWindowLimiter | undefined;
  readonly token: SlidingWindowLimiter | undefined;
  readonly #store: RateLimitStore | undefined;
  readonly #processId: string;
  readonly #log: Logger;
  #timer: NodeJS.Timeout | undefined;
  #exchanging = false;
  /** Whether the last exchange failed: a store that is down is logged once, and once more when it is back. */
  #failing = false;

  constructor(options: {
    address?: RateLimitRule | undefined;
    token?: RateLimitRule | undefined;
    store?: RateLimitStore | undefined;
    processId: string;
    log: Logger;
    now?: () => number;
    syncMs?: number;
  }) {
    this.address = options.address && new SlidingWindowLimiter('address', options.address, options.now);
    this.token = options.token && new SlidingWindowLimiter('token', options.token, options.now);
    this.#store = options.store;
    this.#processId = options.processId;
    this.#log = options.log;
    if (this.#store && (this.address || this.token)) {
      this.#timer = setInterval(() => void this.exchange(), options.syncMs ?? 250);
      this.#timer.unref();
    }
  }

  /** Writes this process's counts and reads the others' (shared mode). */
  async exchange(): Promise<void> {
    if (!this.#store || this.#exchanging) return;
    this.#exchanging = true;
    try {
      const limiters = [this.address, this.token].filter((l): l is SlidingWindowLimiter => l !== undefined);
      const counts = limiters.flatMap((l) => l.activeCounts());
      if (counts.length === 0) return;
      const others = await this.#store.exchange(this.#processId, counts);
      for (const l of limiters) l.absorb(others);
      if (this.#failing) this.#log.info('rate limit exchange works again: the limits hold across processes');
      this.#failing = false;
    } catch (err) {
      // Every 250 ms while the store is down: one line, not four a second. Meanwhile each process limits on its own.
      if (!this.#failing) this.#log.warn('rate limit exchange failed: each process limits on its own counts', { err });
      this.#failing = true;
    } finally {
      this.#exchanging = false;
    }
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.#store?.close?.();
  }
}

/** The IETF RateLimit fields (draft-ietf-httpapi-ratelimit-headers) of a decision. */
export function rateLimitHeaders(d: RateLimitDecision): { 'RateLimit-Policy': string; RateLimit: string } {
  return {
    'RateLimit-Policy': d.policy,
    RateLimit: `${d.policyName};r=${d.remaining};t=${d.allowed ? 0 : d.resetSeconds}`,
  };
}

/**
 * Sets the RateLimit fields of the decisions taken for an answer, each policy an item of the lists (on the call path:
 * no intermediate object, no res.set, each field set once).
 */
export function setRateLimitHeaders(
  res: { setHeader(name: string, value: string): unknown },
  a: RateLimitDecision | undefined,
  b?: RateLimitDecision,
): void {
  if (a && b) {
    res.setHeader('RateLimit-Policy', bothPolicies(a.policy, b.policy));
    res.setHeader('RateLimit', `${item(a)}, ${item(b)}`);
    return;
  }
  const d = a ?? b;
  if (!d) return;
  res.setHeader('RateLimit-Policy', d.policy);
  res.setHeader('RateLimit', item(d));
}

/** One item of the RateLimit field. */
function item(d: RateLimitDecision): string {
  return `${d.policyName};r=${d.remaining};t=${d.allowed ? 0 : d.resetSeconds}`;
}

/** The last pair of policies joined: the gateway's two limiters' policies never change, so it is built once. */
let joined = { a: '', b: '', both: '' };
function bothPolicies(a: string, b: string): string {
  if (joined.a !== a || joined.b !== b) joined = { a, b, both: `${a}, ${b}` };
  return joined.both;
}
