/**
 * A mergeable latency histogram with log-scale buckets: bucket `i` holds values in (γ^(i-1), γ^i] ms with γ = 1.02,
 * so any quantile read from it is within 1 % of the true value. Sparse (only buckets with counts are kept), so a
 * minute of one tool is a few dozen numbers, and two histograms merge by adding counts: minutes add up to hours, and
 * the minutes of several platform processes add up in the database.
 */

const GAMMA = 1.02;
const LOG_GAMMA = Math.log(GAMMA);
/** Latencies below this (ms) share one bucket. */
const MIN_MS = 0.01;

/** The bucket of a latency in ms. */
export function bucketOf(ms: number): number {
  return Math.ceil(Math.log(Math.max(ms, MIN_MS)) / LOG_GAMMA);
}

/** The value a bucket stands for: the point of least relative error within it. */
export function bucketValue(bucket: number): number {
  return (2 * GAMMA ** bucket) / (GAMMA + 1);
}

/** Counts per bucket, as stored (JSON object keyed by bucket index). */
export type HistogramCounts = Record<string, number>;

export class LatencyHistogram {
  readonly #counts = new Map<number, number>();
  #total = 0;

  /** A histogram holding the stored `counts` (unknown shapes are ignored). */
  static from(counts: unknown): LatencyHistogram {
    const h = new LatencyHistogram();
    if (typeof counts === 'object' && counts !== null) {
      for (const [k, v] of Object.entries(counts)) {
        const bucket = Number(k);
        const n = Number(v);
        if (Number.isInteger(bucket) && n > 0) h.#addBucket(bucket, n);
      }
    }
    return h;
  }

  get total(): number {
    return this.#total;
  }

  /** Records one latency (ms). */
  add(ms: number): void {
    this.#addBucket(bucketOf(ms), 1);
  }

  /** Adds every count of `other`. */
  merge(other: LatencyHistogram): void {
    for (const [bucket, n] of other.#counts) this.#addBucket(bucket, n);
  }

  /** The nearest-rank `q` quantile (0 < q ≤ 1) in ms, or null when empty. */
  quantile(q: number): number | null {
    if (this.#total === 0) return null;
    const rank = Math.max(1, Math.ceil(q * this.#total));
    let seen = 0;
    for (const bucket of [...this.#counts.keys()].sort((a, b) => a - b)) {
      seen += this.#counts.get(bucket) as number;
      if (seen >= rank) return bucketValue(bucket);
    }
    return null;
  }

  toJSON(): HistogramCounts {
    return Object.fromEntries([...this.#counts].map(([k, v]) => [String(k), v]));
  }

  #addBucket(bucket: number, n: number): void {
    this.#counts.set(bucket, (this.#counts.get(bucket) ?? 0) + n);
    this.#total += n;
  }
}
