import { performance } from 'node:perf_hooks';

/**
 * Sharing the gateway between servers when the platform is saturated. One event loop serves every server's calls:
 * a flood of one server (16 connections as fast as they can) fills it, and a call to any other server waits behind
 * the flood's queued work. While the event loop is busy above `saturated` of the time, each server that sends more
 * than its fair share of the calls (the total divided by the servers that called) has the calls it may have in
 * flight cut (multiplicatively, every interval); its further calls wait in its own queue (parked: no CPU spent on
 * them) until one of its calls ends. Fast calls can fill the loop one at a time, so a server still over its share
 * with a single call in flight is paced as well: it may start calls only at a rate, cut the same way (a token bucket
 * refilled continuously, so its calls are spread out instead of arriving in bursts). When the platform has room
 * again both are relaxed step by step and then lifted. A server that is not over its share, or a platform that is not saturated, is never limited, so a server
 * whose tools wait on slow APIs keeps as many calls in flight as it likes unless it is the one filling the loop.
 */

/** The event-loop utilization above which the platform counts as saturated, unless configured. */
export const DEFAULT_FAIR_SHARE_UTILIZATION = 0.85;

export interface FairShareOptions {
  /** How often utilization is sampled and the limits adjusted (default 100 ms). */
  intervalMs?: number;
  /** Event-loop utilization (0–1) above which the platform counts as saturated (default 0.85; 1: never limits). */
  saturated?: number;
  /** The most calls of one server waiting to be admitted; past it a call is refused (default 1,000). */
  maxQueue?: number;
  /** The event loop's utilization since the previous sample (tests pass their own). */
  utilization?: () => number;
}

/** Ends an admitted call: call it once, when the call's answer ended or its client went away. */
export type Release = () => void;

/** A call waiting for admission: `admitted` resolves when it may go on, or with undefined once cancelled. */
export interface Waiting {
  admitted: Promise<Release | undefined>;
  /** Gives up its place in the queue (its client went away). */
  cancel(): void;
}

/** Why a call was not admitted: its server's queue is full (too many calls waiting). */
export class QueueFullError extends Error {
  readonly queued: number;
  constructor(queued: number) {
    super(`${queued} calls of this server are already waiting`);
    this.queued = queued;
  }
}

interface Waiter {
  admit(): void;
}

interface Share {
  inFlight: number;
  /** The most calls in flight during the current interval. */
  peak: number;
  /** Calls that arrived during the current interval. */
  arrivals: number;
  /** The calls it may have in flight; Infinity when not limited. */
  limit: number;
  /** Intervals in a row without saturation while limited (the limit is lifted after a few). */
  calm: number;
  queue: Waiter[];
  /** The calls it may start per ms (a token bucket); Infinity when not paced. */
  rate: number;
  tokens: number;
  refilledAt: number;
  /** Calls started during the current interval. */
  started: number;
  /** Admits the next waiting call once the bucket holds a token again. */
  wake: NodeJS.Timeout | undefined;
}

/** Intervals without saturation after which a limit is lifted altogether. */
const CALM_INTERVALS = 10;
/** Fewer calls than this in an interval are never limited (noise, not a flood). */
const MIN_ARRIVALS = 20;
/** The slowest pace a server is held to: 20 calls a second. */
const MIN_RATE_PER_MS = 0.02;
/** A paced server's bucket holds this long's worth of calls (smooth, not bursty). */
const BUCKET_MS = 10;

export class FairShare {
  readonly #shares = new Map<string, Share>();
  readonly #intervalMs: number;
  readonly #saturated: number;
  readonly #maxQueue: number;
  readonly #utilization: () => number;
  /** Runs while any server has calls (a platform without traffic has no timer). */
  #timer: NodeJS.Timeout | undefined;

  constructor(opts: FairShareOptions = {}) {
    this.#intervalMs = opts.intervalMs ?? 100;
    this.#saturated = opts.saturated ?? DEFAULT_FAIR_SHARE_UTILIZATION;
    this.#maxQueue = opts.maxQueue ?? 1000;
    this.#utilization = opts.utilization ?? eventLoopUtilization();
  }

  /**
   * Admits a call of `key` (a server): at once (a Release) unless the server is limited and at its limit; then it
   * waits for one of the server's calls to end (a Waiting). Throws QueueFullError when too many calls wait.
   */
  admit(key: string): Release | Waiting {
    let share = this.#shares.get(key);
    if (!share) {
      share = {
        inFlight: 0,
        peak: 0,
        arrivals: 0,
        limit: Number.POSITIVE_INFINITY,
        calm: 0,
        queue: [],
        rate: Number.POSITIVE_INFINITY,
        tokens: 0,
        refilledAt: 0,
        started: 0,
        wake: undefined,
      };
      this.#shares.set(key, share);
      if (!this.#timer) {
        this.#utilization();
        this.#timer = setInterval(() => this.adjust(), this.#intervalMs);
        this.#timer.unref();
      }
    }
    share.arrivals++;
    if (share.queue.length === 0 && this.#mayStart(share)) return this.#start(key, share);
    if (share.queue.length >= this.#maxQueue) throw new QueueFullError(share.queue.length);
    const s = share;
    const { promise, resolve } = Promise.withResolvers<Release | undefined>();
    const waiter: Waiter = { admit: () => resolve(this.#start(key, s)) };
    s.queue.push(waiter);
    this.#wakeLater(s);
    return {
      admitted: promise,
      cancel: () => {
        const at = s.queue.indexOf(waiter);
        if (at < 0) return;
        s.queue.splice(at, 1);
        resolve(undefined);
      },
    };
  }

  /** Whether a call of `share` may start now: under its in-flight limit and, when paced, with a token to spend. */
  #mayStart(share: Share): boolean {
    if (share.inFlight >= share.limit) return false;
    if (!Number.isFinite(share.rate)) return true;
    const now = performance.now();
    share.tokens = Math.min(Math.max(1, share.rate * BUCKET_MS), share.tokens + (now - share.refilledAt) * share.rate);
    share.refilledAt = now;
    return share.tokens >= 1;
  }

  /** A paced share with calls waiting and no token: admit the next once the bucket refilled one. */
  #wakeLater(share: Share): void {
    if (share.wake || share.queue.length === 0 || !Number.isFinite(share.rate) || share.tokens >= 1) return;
    if (share.inFlight >= share.limit) return; // a call's end drains it
    const ms = Math.max(1, Math.ceil((1 - share.tokens) / share.rate));
    share.wake = setTimeout(() => {
      share.wake = undefined;
      this.#drain(share);
    }, ms);
    share.wake.unref();
  }

  #start(key: string, share: Share): Release {
    if (Number.isFinite(share.rate)) share.tokens -= 1;
    share.started++;
    share.inFlight++;
    if (share.inFlight > share.peak) share.peak = share.inFlight;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      share.inFlight--;
      this.#drain(share);
      this.#forget(key, share);
    };
  }

  /** Admits waiting calls while the share is under its limit (and has tokens, when paced). */
  #drain(share: Share): void {
    while (share.queue.length > 0 && this.#mayStart(share)) (share.queue.shift() as Waiter).admit();
    this.#wakeLater(share);
  }

  /** Drops the share of a server that is idle and not limited (and the timer with the last one). */
  #forget(key: string, share: Share): void {
    const idle = share.inFlight === 0 && share.queue.length === 0 && share.arrivals === 0;
    if (!idle || Number.isFinite(share.limit) || Number.isFinite(share.rate)) return;
    this.#shares.delete(key);
    if (this.#shares.size === 0) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }

  /** One interval's decision (the timer's; tests call it directly). */
  adjust(): void {
    const saturated = this.#utilization() > this.#saturated;
    let total = 0;
    let calling = 0;
    for (const share of this.#shares.values()) {
      total += share.arrivals;
      if (share.arrivals > 0) calling++;
    }
    // A server's fair share: the calls of this interval divided among the servers that called.
    const fair = calling > 0 ? total / calling : 0;
    for (const [key, share] of this.#shares) {
      const over = calling > 1 && share.arrivals >= MIN_ARRIVALS && share.arrivals > fair;
      if (saturated && over) {
        const from = Number.isFinite(share.limit) ? share.limit : Math.max(1, share.peak);
        // Already down to one call in flight: its calls are fast enough to fill the loop one by one; pace them.
        if (from === 1) this.#pace(share, 0.7);
        share.limit = Math.max(1, Math.floor(from * 0.7));
        share.calm = 0;
      } else if (Number.isFinite(share.limit) || Number.isFinite(share.rate)) {
        if (saturated) share.calm = 0;
        // Lifted once calm for a while and no longer binding (the server stayed below it).
        else if (++share.calm >= CALM_INTERVALS && share.peak < share.limit && !this.#paceBinds(share)) {
          share.limit = Number.POSITIVE_INFINITY;
          share.rate = Number.POSITIVE_INFINITY;
        } else {
          share.limit += 1;
          if (Number.isFinite(share.rate)) this.#pace(share, 1.25);
        }
        this.#drain(share);
      }
      share.arrivals = 0;
      share.started = 0;
      share.peak = share.inFlight;
      this.#forget(key, share);
    }
  }

  /** Sets a share's pace to `factor` × its current one (its rate of the last interval when it was not paced). */
  #pace(share: Share, factor: number): void {
    const current = Number.isFinite(share.rate) ? share.rate : share.started / this.#intervalMs;
    if (!Number.isFinite(share.rate)) {
      share.tokens = 1;
      share.refilledAt = performance.now();
    }
    share.rate = Math.max(MIN_RATE_PER_MS, current * factor);
  }

  /** Whether a paced share started nearly as many calls as its pace allowed (it would start more if let). */
  #paceBinds(share: Share): boolean {
    return Number.isFinite(share.rate) && share.started >= share.rate * this.#intervalMs * 0.9;
  }

  /** The calls `key` may have in flight now (Infinity: not limited), its pace in calls per second, how many wait. */
  state(key: string): { limit: number; inFlight: number; queued: number; perSecond: number } {
    const share = this.#shares.get(key);
    return share
      ? { limit: share.limit, inFlight: share.inFlight, queued: share.queue.length, perSecond: share.rate * 1000 }
      : { limit: Number.POSITIVE_INFINITY, inFlight: 0, queued: 0, perSecond: Number.POSITIVE_INFINITY };
  }

  /** Stops the timer (limits stay as they are). */
  close(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    for (const share of this.#shares.values()) clearTimeout(share.wake);
  }
}

/** The event loop's utilization since the previous call (Node's own measure: busy time over elapsed time). */
function eventLoopUtilization(): () => number {
  let last = performance.eventLoopUtilization();
  return () => {
    const now = performance.eventLoopUtilization();
    const delta = performance.eventLoopUtilization(now, last);
    last = now;
    return delta.utilization;
  };
}
