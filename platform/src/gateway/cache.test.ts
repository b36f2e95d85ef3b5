import { describe, expect, it } from 'vitest';
import { FactCache } from './cache.ts';

/** A load the test finishes by hand, to interleave it with invalidations. */
function deferred<T>() {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

function cache(opts: { now: () => number; maxStaleMs?: () => number }) {
  return new FactCache<string | null>({
    ttlMs: 30_000,
    negativeTtlMs: 2_000,
    isAbsent: (v) => v === null,
    now: opts.now,
    ...(opts.maxStaleMs ? { maxStaleMs: opts.maxStaleMs } : {}),
  });
}

describe('FactCache', () => {
  it('answers from memory within the lifetime and loads again after it; absences live shorter', async () => {
    let now = 0;
    const c = cache({ now: () => now });
    let loads = 0;
    const load = (v: string | null) => async () => {
      loads++;
      return v;
    };
    expect(await c.get('k', load('a'))).toBe('a');
    now = 29_000;
    expect(await c.get('k', load('b'))).toBe('a');
    now = 30_000;
    expect(await c.get('k', load('b'))).toBe('b');
    expect(await c.get('gone', load(null))).toBeNull();
    now += 1_999;
    expect(await c.get('gone', load('back'))).toBeNull();
    now += 1;
    expect(await c.get('gone', load('back'))).toBe('back');
    expect(loads).toBe(4);
  });

  it('a value loaded before an invalidation is neither stored nor handed to a caller that came after it', async () => {
    const c = cache({ now: () => 0 });
    const before = deferred<string | null>();
    const first = c.get('key', () => before.promise);
    // The key is revoked while the first read is still in flight…
    c.delete('key');
    // …so a caller arriving now reads again instead of joining the stale read.
    const after = deferred<string | null>();
    const second = c.get('key', () => after.promise);
    before.resolve('valid');
    after.resolve(null);
    expect(await first).toBe('valid');
    expect(await second).toBeNull();
    // Neither result of the first read survives: the next caller sees the revocation.
    expect(await c.get('key', async () => 'reloaded')).toBeNull();
  });

  it('concurrent misses share one load', async () => {
    const c = cache({ now: () => 0 });
    const d = deferred<string | null>();
    let loads = 0;
    const load = () => {
      loads++;
      return d.promise;
    };
    const all = Promise.all([c.get('k', load), c.get('k', load), c.get('k', load)]);
    d.resolve('v');
    expect(await all).toEqual(['v', 'v', 'v']);
    expect(loads).toBe(1);
  });

  it('trusts nothing older than maxStaleMs (invalidations may be missed)', async () => {
    let now = 0;
    let stale = Number.POSITIVE_INFINITY;
    const c = cache({ now: () => now, maxStaleMs: () => stale });
    await c.get('k', async () => 'a');
    now = 5_000;
    expect(await c.get('k', async () => 'b')).toBe('a');
    stale = 1_000;
    expect(await c.get('k', async () => 'c')).toBe('c');
    now = 5_999;
    expect(await c.get('k', async () => 'd')).toBe('c');
  });

  it('deleteWhere forgets matching entries only, and the oldest entries go first when full', async () => {
    const c = new FactCache<string>({ ttlMs: 1e9, negativeTtlMs: 1e9, isAbsent: () => false, maxEntries: 2 });
    await c.get('a', async () => 'org1');
    await c.get('b', async () => 'org2');
    c.deleteWhere((v) => v === 'org1');
    expect(await c.get('a', async () => 'reloaded')).toBe('reloaded');
    expect(await c.get('b', async () => 'x')).toBe('org2');
    await c.get('c', async () => 'org3');
    expect(c.size).toBe(2);
    // 'b' was stored before 'a' was loaded again: it is the oldest.
    expect(await c.get('a', async () => 'kept?')).toBe('reloaded');
    expect(await c.get('b', async () => 'evicted')).toBe('evicted');
  });
});
