/** Counts failures per key in a sliding window; a key over the limit is blocked until its oldest failure ages out. */
export class FailureThrottle {
  readonly #limit: number;
  readonly #windowMs: number;
  readonly #now: () => number;
  readonly #failures = new Map<string, number[]>();

  constructor(options: { limit: number; windowMs: number; now?: () => number }) {
    this.#limit = options.limit;
    this.#windowMs = options.windowMs;
    this.#now = options.now ?? Date.now;
  }

  /** Seconds until `key` may try again, or 0 when it may now. */
  retryAfter(key: string): number {
    const list = this.#recent(key);
    if (list.length < this.#limit) return 0;
    return Math.max(1, Math.ceil(((list[0] as number) + this.#windowMs - this.#now()) / 1000));
  }

  /** Records a failure of `key`. */
  fail(key: string): void {
    const list = this.#recent(key);
    list.push(this.#now());
    this.#failures.set(key, list);
    if (this.#failures.size > 100_000) this.#sweep();
  }

  /** Forgets `key` (after a success). */
  reset(key: string): void {
    this.#failures.delete(key);
  }

  #recent(key: string): number[] {
    const since = this.#now() - this.#windowMs;
    const list = (this.#failures.get(key) ?? []).filter((t) => t > since);
    if (list.length === 0) this.#failures.delete(key);
    return list;
  }

  #sweep(): void {
    for (const key of [...this.#failures.keys()]) this.#recent(key);
  }
}

/** A token bucket per key: `burst` requests at once, refilled at `perMinute`. */
export class RateLimiter {
  readonly #burst: number;
  readonly #perMs: number;
  readonly #now: () => number;
  readonly #buckets = new Map<string, { tokens: number; at: number }>();

  constructor(options: { burst: number; perMinute: number; now?: () => number }) {
    this.#burst = options.burst;
    this.#perMs = options.perMinute / 60_000;
    this.#now = options.now ?? Date.now;
  }

  /** Takes one token for `key`: 0 when allowed, else the seconds to wait. */
  take(key: string): number {
    const now = this.#now();
    const bucket = this.#buckets.get(key) ?? { tokens: this.#burst, at: now };
    bucket.tokens = Math.min(this.#burst, bucket.tokens + (now - bucket.at) * this.#perMs);
    bucket.at = now;
    this.#buckets.set(key, bucket);
    if (this.#buckets.size > 100_000) this.#buckets.clear();
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - bucket.tokens) / this.#perMs / 1000));
  }
}

/** Failed sign-ins per email (limit) and per client address (4 × limit) in 15 minutes, shared by every sign-in form. */
export class LoginThrottle {
  readonly #byEmail: FailureThrottle;
  readonly #byIp: FailureThrottle;

  constructor(limit = 5, now?: () => number) {
    const windowMs = 15 * 60_000;
    this.#byEmail = new FailureThrottle({ limit, windowMs, ...(now ? { now } : {}) });
    this.#byIp = new FailureThrottle({ limit: limit * 4, windowMs, ...(now ? { now } : {}) });
  }

  /** Seconds until this email from this address may try again (0: now). */
  retryAfter(email: string, ip: string): number {
    return Math.max(this.#byEmail.retryAfter(email), this.#byIp.retryAfter(ip));
  }

  fail(email: string, ip: string): void {
    this.#byEmail.fail(email);
    this.#byIp.fail(ip);
  }

  /** A successful sign-in clears the email's failures (not the address's). */
  succeed(email: string): void {
    this.#byEmail.reset(email);
  }
}
