import { afterEach, describe, expect, it } from 'vitest';
import { FairShare, QueueFullError, type Release, type Waiting } from './fair-share.ts';

/** A FairShare whose saturation the test sets, adjusted only when the test says so. */
function setup(maxQueue?: number) {
  const load = { utilization: 0 };
  const share = new FairShare({ intervalMs: 1e9, utilization: () => load.utilization, maxQueue });
  created.push(share);
  return { share, load };
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
    for (const wait of parked) wait.cancel();
    for (const release of releases) release();
    load.utilization = 0.3;
    share.adjust();
    expect(share.state('flood').limit).toBe(2);
    for (let i = 0; i < 12; i++) share.adjust();
    expect(share.state('flood').limit).toBe(Number.POSITIVE_INFINITY);
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
    expect(share.state('a')).toEqual({ limit: Number.POSITIVE_INFINITY, inFlight: 0, queued: 0 });
  });
});
