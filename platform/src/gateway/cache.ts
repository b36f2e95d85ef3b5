/** How long a cached fact lives and how many are kept. */
export interface FactCacheOptions<V> {
  /** Lifetime of a fact that exists (a key, a member, a server). */
  ttlMs: number;
  /** Lifetime of an absence (an unknown key, a non-member), usually shorter: creations are not announced. */
  negativeTtlMs: number;
  /** Whether `value` records an absence. */
  isAbsent(value: V): boolean;
  /** The most entries kept; the oldest go first. */
  maxEntries?: number;
  /** A bound on staleness that may be lower than the lifetimes (the invalidation channel is down). */
  maxStaleMs?: () => number;
  /** The clock (tests). */
  now?: () => number;
}

interface Entry<V> {
  value: V;
  at: number;
}

/**
 * Facts read from the database, kept for a short lifetime and dropped at once when invalidated. An invalidation
 * also discards every load still in flight, so a value read before a revocation committed is never stored (or
 * handed to a caller that arrived after it); concurrent misses of one key share a single load.
 */
export class FactCache<V> {
  readonly #entries = new Map<string, Entry<V>>();
  readonly #pending = new Map<string, Promise<V>>();
  readonly #opts: FactCacheOptions<V>;
  readonly #now: () => number;
  #epoch = 0;

  constructor(opts: FactCacheOptions<V>) {
    this.#opts = opts;
    this.#now = opts.now ?? Date.now;
  }

  /** The cached value of `key`, or the result of `load()` (cached unless invalidated meanwhile). */
  get(key: string, load: () => Promise<V>): Promise<V> {
    const entry = this.#entries.get(key);
    if (entry && this.#fresh(entry)) return Promise.resolve(entry.value);
    const pending = this.#pending.get(key);
    if (pending) return pending;
    const epoch = this.#epoch;
    const loading = load().then(
      (value) => {
        if (this.#pending.get(key) === loading) this.#pending.delete(key);
        if (epoch === this.#epoch) this.#store(key, value);
        return value;
      },
      (err: unknown) => {
        if (this.#pending.get(key) === loading) this.#pending.delete(key);
        throw err;
      },
    );
    this.#pending.set(key, loading);
    return loading;
  }

  /** Forgets `key`. */
  delete(key: string): void {
    this.#invalidate();
    this.#entries.delete(key);
  }

  /** Forgets every entry whose value matches. */
  deleteWhere(match: (value: V, key: string) => boolean): void {
    this.#invalidate();
    for (const [key, entry] of this.#entries) if (match(entry.value, key)) this.#entries.delete(key);
  }

  /** Forgets everything. */
  clear(): void {
    this.#invalidate();
    this.#entries.clear();
  }

  /** How many entries are kept. */
  get size(): number {
    return this.#entries.size;
  }

  #invalidate(): void {
    this.#epoch++;
    this.#pending.clear();
  }

  #fresh(entry: Entry<V>): boolean {
    const ttl = this.#opts.isAbsent(entry.value) ? this.#opts.negativeTtlMs : this.#opts.ttlMs;
    const limit = Math.min(ttl, this.#opts.maxStaleMs?.() ?? Number.POSITIVE_INFINITY);
    return this.#now() - entry.at < limit;
  }

  #store(key: string, value: V): void {
    this.#entries.delete(key);
    const max = this.#opts.maxEntries ?? 10_000;
    while (this.#entries.size >= max) {
      const oldest = this.#entries.keys().next();
      if (oldest.done) break;
      this.#entries.delete(oldest.value);
    }
    this.#entries.set(key, { value, at: this.#now() });
  }
}
