import { performance } from 'node:perf_hooks';

/**
 * Sharing the gateway between servers when the platform is saturated. One event loop serves every server's calls:
 * a flood of one server (16 connections as fast as they can) fills it, and a call to any other server waits behind
 * the flood's queued work. While the event loop is busy above `saturated` of the time, each server that sends more
 * than its fair share of the calls (the total divided by the servers that called) has the calls it may have in
 * flight cut (multiplicatively, every interval); its further calls wait in its own queue (parked: no CPU spent on
 * them) until one of its calls ends. A call that is quick is over long before the next interval, so one call in
 * flight can still fill the loop: a server already down to one, with more calls waiting than any other server, has
 * its pace cut too (calls admitted per second, 70 % of its last interval's, then 70 % again while the saturation
 * lasts). A client that calls one call at a time never waits, so it is never paced, however many calls it makes;
 * nor is one with a few connections beside a flood of many. While the saturation lasts, a server that is under its
 * share again grows back step by step, unless its waiting calls are clearly the most (twice any other's): servers cut
 * in turn settle on equal shares, a flood stays where it was cut. Once the platform has room, the pace and then the
 * cut grow back and are lifted. A server that is not over its share, or a platform that is not saturated, is never
 * limited, so a server whose tools wait on slow APIs keeps as many calls in flight as it likes unless it is the one
 * filling the loop.
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
  /** The clock of paces, in ms (default performance.now; tests pass their own). */
  now?: () => number;
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
  /** Calls admitted during the current interval. */
  starts: number;
  /** The most of its calls waiting at once during the current interval (it wanted more than its limit). */
  queuedPeak: number;
  /** The calls it may start per second once down to one in flight; Infinity when not paced. */
  rate: number;
  /** When paced: the earliest time (performance.now()) its next call may start. */
  nextAt: number;
  /** When paced and calls wait: the timer that admits the next one when its time has come. */
  wake: NodeJS.Timeout | undefined;
  /** Intervals in a row without saturation while limited (the limit is lifted after a few). */
  calm: number;
  queue: Waiter[];
}

/** Intervals without saturation after which a limit is lifted altogether. */
const CALM_INTERVALS = 10;
/** Fewer calls than this in an interval are never limited (noise, not a flood). */
const MIN_ARRIVALS = 20;
/** The slowest pace a server is cut to (calls per second). */
const MIN_RATE = 20;
/** Each interval without saturation, a pace grows by this factor. */
const RATE_GROWTH = 1.2;

export class FairShare {
  readonly #shares = new Map<string, Share>();
  readonly #intervalMs: number;
  readonly #saturated: number;
  readonly #maxQueue: number;
  readonly #utilization: () => number;
  readonly #now: () => number;
  /** When the previous interval ended (paces are measured over the time that really passed). */
  #intervalStart = 0;
  /** Runs while any server has calls (a platform without traffic has no timer). */
  #timer: NodeJS.Timeout | undefined;

  constructor(opts: FairShareOptions = {}) {
    this.#intervalMs = opts.intervalMs ?? 100;
    this.#saturated = opts.saturated ?? DEFAULT_FAIR_SHARE_UTILIZATION;
    this.#maxQueue = opts.maxQueue ?? 1000;
    this.#utilization = opts.utilization ?? eventLoopUtilization();
    this.#now = opts.now ?? (() => performance.now());
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
        starts: 0,
        queuedPeak: 0,
        rate: Number.POSITIVE_INFINITY,
        nextAt: 0,
        wake: undefined,
        calm: 0,
        queue: [],
      };
      this.#shares.set(key, share);
      if (!this.#timer) {
        this.#utilization();
        this.#intervalStart = this.#now();
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
    if (s.queue.length > s.queuedPeak) s.queuedPeak = s.queue.length;
    this.#wakeWhenDue(s);
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

  /** Whether a call of `share` may start now: under its limit, and its pace (if any) lets it. */
  #mayStart(share: Share): boolean {
    return share.inFlight < share.limit && (!Number.isFinite(share.rate) || this.#now() >= share.nextAt);
  }

  #start(key: string, share: Share): Release {
    share.inFlight++;
    share.starts++;
    if (Number.isFinite(share.rate)) share.nextAt = Math.max(this.#now(), share.nextAt) + 1000 / share.rate;
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

  /** Admits waiting calls while the share is under its limit and its pace lets it; else waits for its pace. */
  #drain(share: Share): void {
    while (share.queue.length > 0 && this.#mayStart(share)) (share.queue.shift() as Waiter).admit();
    this.#wakeWhenDue(share);
  }

  /** A paced share with calls waiting and room for one: admits the next one when its pace lets it. */
  #wakeWhenDue(share: Share): void {
    if (share.wake || share.queue.length === 0 || share.inFlight >= share.limit || !Number.isFinite(share.rate)) return;
    share.wake = setTimeout(
      () => {
        share.wake = undefined;
        this.#drain(share);
      },
      Math.max(1, share.nextAt - this.#now()),
    );
    share.wake.unref();
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
    const now = this.#now();
    const elapsedMs = Math.max(1, now - this.#intervalStart);
    this.#intervalStart = now;
    let total = 0;
    let calling = 0;
    // The most calls one server had waiting, and the most of any other server (the runner-up).
    let mostWaiting = 0;
    let nextWaiting = 0;
    for (const share of this.#shares.values()) {
      total += share.arrivals;
      if (share.arrivals > 0) calling++;
      if (share.queuedPeak > mostWaiting) {
        nextWaiting = mostWaiting;
        mostWaiting = share.queuedPeak;
      } else if (share.queuedPeak > nextWaiting) nextWaiting = share.queuedPeak;
    }
    // A server's fair share: the calls of this interval divided among the servers that called.
    const fair = calling > 0 ? total / calling : 0;
    for (const [key, share] of this.#shares) {
      const over = calling > 1 && share.arrivals >= MIN_ARRIVALS && share.arrivals > fair;
      if (saturated && over) {
        // Paced: down to one call in flight and still the most calls waiting (the widest demand, not a client
        // with a few connections that is over the share by count only because the flood was cut below it).
        if (share.limit === 1 && share.queuedPeak > 0 && share.queuedPeak >= mostWaiting) this.#pace(share, elapsedMs);
        const from = Number.isFinite(share.limit) ? share.limit : Math.max(1, share.peak);
        share.limit = Math.max(1, Math.floor(from * 0.7));
        share.calm = 0;
      } else if (Number.isFinite(share.limit)) {
        if (saturated) {
          // Under its share now (the others were cut more): it grows back even while the platform stays saturated,
          // so that servers cut in turn come back to equal shares; nothing is lifted before the platform is calm.
          // Not the one whose demand is clearly the widest (twice the calls waiting of any other): a flood stays
          // where it was cut while others with a few connections each use the room.
          share.calm = 0;
          const widest = share.queuedPeak > 0 && share.queuedPeak >= mostWaiting && share.queuedPeak >= 2 * nextWaiting;
          if (!widest) this.#grow(share);
        } else this.#relax(share, elapsedMs);
        this.#drain(share);
      }
      share.arrivals = 0;
      share.starts = 0;
      share.queuedPeak = share.queue.length;
      share.peak = share.inFlight;
      this.#forget(key, share);
    }
  }

  /** Cuts the pace of a share down to one call in flight: 70 % of what it started in the last interval, or of its pace. */
  #pace(share: Share, elapsedMs: number): void {
    const started = (share.starts * 1000) / elapsedMs;
    share.rate = Math.max(MIN_RATE, Math.floor(Math.min(share.rate, started) * 0.7));
  }

  /** One calm interval: the pace grows first, then the limit; both are lifted once calm for a while and not binding. */
  #relax(share: Share, elapsedMs: number): void {
    const calm = ++share.calm >= CALM_INTERVALS;
    if (Number.isFinite(share.rate)) {
      const used = (share.starts * 1000) / elapsedMs;
      // Lifted once calm for a while and no longer binding (the server started fewer calls than it may).
      if (calm && used < share.rate * 0.8) share.rate = Number.POSITIVE_INFINITY;
      else this.#grow(share);
      return;
    }
    // Lifted once calm for a while and no longer binding (the server stayed below it).
    if (calm && share.peak < share.limit) share.limit = Number.POSITIVE_INFINITY;
    else this.#grow(share);
  }

  /** One step back up: the pace first (a fifth more), then the calls in flight (one more). */
  #grow(share: Share): void {
    if (Number.isFinite(share.rate)) share.rate = Math.ceil(share.rate * RATE_GROWTH);
    else share.limit += 1;
  }

  /** The calls `key` may have in flight now and start per second (Infinity: not limited), and how many wait. */
  state(key: string): { limit: number; rate: number; inFlight: number; queued: number } {
    const share = this.#shares.get(key);
    return share
      ? { limit: share.limit, rate: share.rate, inFlight: share.inFlight, queued: share.queue.length }
      : { limit: Number.POSITIVE_INFINITY, rate: Number.POSITIVE_INFINITY, inFlight: 0, queued: 0 };
  }

  /** Stops the timers (limits stay as they are). */
  close(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    for (const share of this.#shares.values()) {
      clearTimeout(share.wake);
      share.wake = undefined;
    }
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
