import { performance } from 'node:perf_hooks';

/**
 * Sharing the gateway between servers when the platform is saturated. One event loop serves every server's calls:
 * a flood of one server (16 connections as fast as they can) fills it, and a call to any other server waits behind
 * the flood's queued work. While the event loop is busy above `saturated` of the time, each server that sends more
 * than its fair share of the calls (the total divided by the servers that called) has the calls it may have in
 * flight cut (multiplicatively, every interval); its further calls wait in its own queue (parked: no CPU spent on
 * them) until one of its calls ends. When the platform has room again the cut is relaxed step by step and then
 * lifted. A server that is not over its share, or a platform that is not saturated, is never limited, so a server
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
}

/** Intervals without saturation after which a limit is lifted altogether. */
const CALM_INTERVALS = 10;
/** Fewer calls than this in an interval are never limited (noise, not a flood). */
const MIN_ARRIVALS = 20;

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
      share = { inFlight: 0, peak: 0, arrivals: 0, limit: Number.POSITIVE_INFINITY, calm: 0, queue: [] };
      this.#shares.set(key, share);
      if (!this.#timer) {
        this.#utilization();
        this.#timer = setInterval(() => this.adjust(), this.#intervalMs);
        this.#timer.unref();
      }
    }
    share.arrivals++;
    if (share.inFlight < share.limit && share.queue.length === 0) return this.#start(key, share);
    if (share.queue.length >= this.#maxQueue) throw new QueueFullError(share.queue.length);
    const s = share;
    const { promise, resolve } = Promise.withResolvers<Release | undefined>();
    const waiter: Waiter = { admit: () => resolve(this.#start(key, s)) };
    s.queue.push(waiter);
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

  #start(key: string, share: Share): Release {
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

  /** Admits waiting calls while the share is under its limit. */
  #drain(share: Share): void {
    while (share.queue.length > 0 && share.inFlight < share.limit) (share.queue.shift() as Waiter).admit();
  }

  /** Drops the share of a server that is idle and not limited (and the timer with the last one). */
  #forget(key: string, share: Share): void {
    const idle = share.inFlight === 0 && share.queue.length === 0 && share.arrivals === 0;
    if (!idle || Number.isFinite(share.limit)) return;
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
        share.limit = Math.max(1, Math.floor(from * 0.7));
        share.calm = 0;
      } else if (Number.isFinite(share.limit)) {
        if (saturated) share.calm = 0;
        // Lifted once calm for a while and no longer binding (the server stayed below it).
        else if (++share.calm >= CALM_INTERVALS && share.peak < share.limit) share.limit = Number.POSITIVE_INFINITY;
        else share.limit += 1;
        this.#drain(share);
      }
      share.arrivals = 0;
      share.peak = share.inFlight;
      this.#forget(key, share);
    }
  }

  /** The calls `key` may have in flight now (Infinity: not limited), and how many wait. */
  state(key: string): { limit: number; inFlight: number; queued: number } {
    const share = this.#shares.get(key);
    return share
      ? { limit: share.limit, inFlight: share.inFlight, queued: share.queue.length }
      : { limit: Number.POSITIVE_INFINITY, inFlight: 0, queued: 0 };
  }

  /** Stops the timer (limits stay as they are). */
  close(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
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
