import { afterEach, describe, expect, it } from 'vitest';
import { FairShare, QueueFullError, type Release, type Waiting } from './fair-share.ts';

/** A FairShare whose saturation the test sets, adjusted only when the test says so. */
function setup(maxQueue?: number) {
  const load = { utilization: 0 };
  const clock = { now: 0, interval: () => {} };
  const share = new FairShare({ intervalMs: 1e9, utilization: () => load.utilization, maxQueue, now: () => clock.now });
  created.push(share);
  // One interval of 100 ms on the test's clock, and its decision.
  clock.interval = () => {
    clock.now += 100;
    share.adjust();
  };
  return { share, load, clock };
}
const created: FairShare[] = [];
afterEach(() => {
  for (const s of created.splice(0)) s.close();
});

const started = (admitted: Release | Waiting): Release => {
  expect(typeof admitted).toBe('function');
  return admitted as Release;
};
const waiting = (admitted: Release | Waiting): Waiting => {
  expect(typeof admitted).toBe('object');
  return admitted as Waiting;
};

/** `count` calls of `key`, all admitted at once; returns their releases. */
function calls(share: FairShare, key: string, count: number): Release[] {
  return Array.from({ length: count }, () => started(share.admit(key)));
}

/**
 * `count` quick calls of `key` from a client with two connections: a call arrives while the one before is still in
 * flight, and each ends at once; a call that would wait is withdrawn (its client tries again later).
 */
function quick(share: FairShare, key: string, count: number): void {
  for (let i = 0; i < count; i += 2) {
    const first = share.admit(key);
    const second = share.admit(key);
    for (const admitted of [second, first]) {
      if (typeof admitted === 'function') admitted();
      else admitted.cancel();
    }
  }
}

/** `waiting + 1` calls of `key` at once (what may start starts, the rest wait); the waiting ones are withdrawn, then
 * the started ones end. */
function wide(share: FairShare, key: string, waiting: number): void {
  const calls = Array.from({ length: waiting + 1 }, () => share.admit(key));
  for (const admitted of calls) if (typeof admitted !== 'function') admitted.cancel();
  for (const admitted of calls) if (typeof admitted === 'function') admitted();
}

describe('FairShare', () => {
  it('limits nobody while the platform has room, however many calls one server makes', () => {
    const { share } = setup();
    const flood = calls(share, 'flood', 200);
    calls(share, 'other', 5);
    share.adjust();
    expect(share.state('flood').limit).toBe(Number.POSITIVE_INFINITY);
    started(share.admit('flood'));
    for (const release of flood) release();
  });

  it('does not limit a server that is alone, even on a saturated platform', () => {
    const { share, load } = setup();
    load.utilization = 1;
    calls(share, 'alone', 100);
    share.adjust();
    expect(share.state('alone').limit).toBe(Number.POSITIVE_INFINITY);
  });

  it('on a saturated platform, cuts the server over its fair share; the others are admitted at once', async () => {
    const { share, load } = setup();
    load.utilization = 0.95;
    const flood = calls(share, 'flood', 16);
    for (let i = 0; i < 30; i++) started(share.admit('flood'))();
    calls(share, 'other', 3);
    share.adjust();
    // 16 in flight at its peak: cut to 11; it has 16 in flight, so its next call waits.
    expect(share.state('flood').limit).toBe(11);
    expect(share.state('other').limit).toBe(Number.POSITIVE_INFINITY);
    const parked = waiting(share.admit('flood'));
    started(share.admit('other'));
    expect(share.state('flood')).toMatchObject({ inFlight: 16, queued: 1 });
    // Ending calls until it is under its limit admits the parked one.
    for (const release of flood.slice(0, 5)) release();
    expect(share.state('flood').queued).toBe(1);
    flood[5]?.();
    const release = await parked.admitted;
    expect(release).toBeTypeOf('function');
    expect(share.state('flood')).toMatchObject({ inFlight: 11, queued: 0 });
  });

  it('cuts again while saturation lasts, down to one call, and lifts the limit once the platform is calm', () => {
    const { share, load } = setup();
    load.utilization = 0.99;
    const releases = calls(share, 'flood', 10);
    const parked: Waiting[] = [];
    const limits: number[] = [];
    for (let round = 0; round < 6; round++) {
      for (let i = 0; i < 25; i++) {
        const admitted = share.admit('flood');
        if (typeof admitted === 'function') admitted();
        else parked.push(admitted);
      }
      calls(share, 'other', 1);
      share.adjust();
      limits.push(share.state('flood').limit);
    }
    // Its peak was 11 calls in flight: 7, then 70 % of the limit each interval, never below one.
    expect(limits).toEqual([7, 4, 2, 1, 1, 1]);
    // Down to one with calls still waiting: paced too (it started none, so the slowest pace).
    expect(share.state('flood').rate).toBe(20);
    for (const wait of parked) wait.cancel();
    for (const release of releases) release();
    load.utilization = 0.3;
    // Calm: the pace grows first, is lifted once calm for a while and not binding, then the limit grows and goes.
    share.adjust();
    expect(share.state('flood')).toMatchObject({ rate: 24, limit: 1 });
    for (let i = 0; i < 9; i++) share.adjust();
    expect(share.state('flood')).toMatchObject({ rate: Number.POSITIVE_INFINITY, limit: 1 });
    share.adjust();
    expect(share.state('flood').limit).toBe(Number.POSITIVE_INFINITY);
  });

  it('paces a server that fills the loop with one quick call at a time, never a client calling one at a time', async () => {
    const { share, load, clock } = setup();
    load.utilization = 0.95;
    // A flood of quick calls, two at a time; another server's client calls one at a time, a little less often.
    for (let round = 0; round < 8; round++) {
      quick(share, 'flood', 80);
      for (let i = 0; i < 60; i++) started(share.admit('quiet'))();
      clock.interval();
    }
    expect(share.state('flood').limit).toBe(1);
    expect(share.state('flood').rate).toBeLessThan(400);
    // The quiet client is cut once over the fair share by count, but never waits: it is not paced.
    expect(share.state('quiet').rate).toBe(Number.POSITIVE_INFINITY);
    for (let i = 0; i < 10; i++) started(share.admit('quiet'))();
    // The flood's calls start at its pace, one at a time, however soon the one before ends.
    clock.now += 1000;
    const first = started(share.admit('flood'));
    const second = waiting(share.admit('flood'));
    first();
    expect(share.state('flood')).toMatchObject({ inFlight: 0, queued: 1 });
    await new Promise((r) => setTimeout(r, 20));
    expect(share.state('flood').queued).toBe(1);
    clock.now += 1000 / share.state('flood').rate;
    expect(await second.admitted).toBeTypeOf('function');
  });

  it('grows a pace back while the platform has room, and lifts it once the server no longer uses it', () => {
    const { share, load, clock } = setup();
    load.utilization = 0.99;
    for (let round = 0; round < 20; round++) {
      quick(share, 'flood', 30);
      for (let i = 0; i < 20; i++) started(share.admit('other'))();
      clock.interval();
    }
    expect(share.state('flood')).toMatchObject({ limit: 1, rate: 20 });
    load.utilization = 0.2;
    const rates: number[] = [];
    for (let interval = 0; interval < 40 && Number.isFinite(share.state('flood').rate); interval++) {
      // A client trying a call every millisecond: it uses its whole pace, up to 1,000 calls a second.
      for (let ms = 0; ms < 100; ms++) {
        clock.now += 1;
        const admitted = share.admit('flood');
        if (typeof admitted === 'function') admitted();
        else admitted.cancel();
      }
      share.adjust();
      rates.push(share.state('flood').rate);
    }
    expect(rates.slice(0, 4)).toEqual([24, 29, 35, 42]);
    // Lifted once calm for a while and the client no longer used it all (one call a millisecond falls short of a
    // pace whose interval is not a whole millisecond), then so is the limit.
    expect(rates.at(-1)).toBe(Number.POSITIVE_INFINITY);
    expect(rates.length).toBeGreaterThan(10);
    expect(rates.at(-2)).toBeGreaterThan(200);
    expect(share.state('flood').limit).toBe(1);
    for (let i = 0; i < 2; i++) clock.interval();
    expect(share.state('flood').limit).toBe(Number.POSITIVE_INFINITY);
  });

  it('grows back a server under its share while saturated, unless its demand is clearly the widest', () => {
    const { share, load, clock } = setup();
    load.utilization = 0.99;
    // Two floods, eight calls waiting each, over the share of a client calling one at a time: cut and paced alike.
    for (let round = 0; round < 8; round++) {
      for (let i = 0; i < 10; i++) {
        wide(share, 'flood', 8);
        wide(share, 'peer', 8);
      }
      for (let i = 0; i < 30; i++) started(share.admit('quiet'))();
      clock.interval();
    }
    const cut = share.state('flood').rate;
    expect(share.state('flood').limit).toBe(1);
    expect(Number.isFinite(cut)).toBe(true);
    // Both under their share now (the quiet client calls more), and as wide as each other: they grow back.
    for (let round = 0; round < 3; round++) {
      wide(share, 'flood', 8);
      wide(share, 'peer', 8);
      for (let i = 0; i < 100; i++) started(share.admit('quiet'))();
      clock.interval();
    }
    const grown = share.state('flood').rate;
    expect(grown).toBeGreaterThan(cut);
    // The peer stops; the flood alone is clearly the widest demand: it stays where it is while saturated.
    for (let round = 0; round < 3; round++) {
      wide(share, 'flood', 8);
      for (let i = 0; i < 100; i++) started(share.admit('quiet'))();
      clock.interval();
    }
    expect(share.state('flood').rate).toBe(grown);
  });

  it('does not pace a client with a few connections beside a flood of many', () => {
    const { share, load, clock } = setup();
    load.utilization = 0.99;
    // A flood over everyone's share: cut to one call in flight and paced, fifteen calls waiting.
    for (let round = 0; round < 8; round++) {
      for (let i = 0; i < 10; i++) wide(share, 'flood', 15);
      for (let i = 0; i < 10; i++) started(share.admit('client'))();
      clock.interval();
    }
    expect(Number.isFinite(share.state('flood').rate)).toBe(true);
    // A client with four connections now calls more than the paced flood: it is cut to one call in flight, and
    // three of its calls wait, but the flood's fifteen are the widest demand: the client is not paced.
    for (let round = 0; round < 10; round++) {
      wide(share, 'flood', 15);
      for (let i = 0; i < 40; i++) wide(share, 'client', 3);
      clock.interval();
    }
    expect(share.state('client')).toMatchObject({ limit: 1, rate: Number.POSITIVE_INFINITY });
  });

  it('refuses a call when too many of its server wait, and a cancelled wait gives its place up', async () => {
    const { share, load } = setup(2);
    load.utilization = 1;
    calls(share, 'flood', 30);
    calls(share, 'other', 1);
    share.adjust();
    share.adjust();
    const first = waiting(share.admit('flood'));
    waiting(share.admit('flood'));
    expect(() => share.admit('flood')).toThrow(QueueFullError);
    first.cancel();
    expect(await first.admitted).toBeUndefined();
    expect(share.state('flood').queued).toBe(1);
    waiting(share.admit('flood'));
  });

  it('forgets idle servers and stops its timer with the last one', () => {
    const { share } = setup();
    const [release] = calls(share, 'a', 1);
    release?.();
    release?.();
    share.adjust();
    expect(share.state('a')).toEqual({
      limit: Number.POSITIVE_INFINITY,
      rate: Number.POSITIVE_INFINITY,
      inFlight: 0,
      queued: 0,
    });
  });
});
