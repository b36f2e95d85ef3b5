import { type Database, openDatabase } from '@bmms/prisma';
import { createTestDatabase, type TestDatabase } from '@bmms/prisma/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../logger.ts';
import { GatewayRateLimits, rateLimitHeaders, SlidingWindowLimiter, setRateLimitHeaders } from './rate-limit.ts';
import { PostgresRateLimitStore } from './rate-limit-store.ts';

describe('the sliding window limiter', () => {
  it('allows the limit in any window, weighs the previous window, and says when there is room again', () => {
    let now = 60_000 * 1000;
    const limiter = new SlidingWindowLimiter('token', { limit: 10, windowMs: 60_000 }, () => now);
    const taken = Array.from({ length: 12 }, () => limiter.take('k'));
    expect(taken.map((d) => d.allowed)).toEqual([...Array(10).fill(true), false, false]);
    expect(taken[0]?.remaining).toBe(9);
    expect(taken[9]?.remaining).toBe(0);
    expect(taken[10]?.resetSeconds).toBe(60);
    // Other keys have their own window.
    expect(limiter.take('other').allowed).toBe(true);
    // Half-way through the next window, half of the previous window's 10 still count: 5 more fit.
    now += 90_000;
    const next = Array.from({ length: 6 }, () => limiter.take('k'));
    expect(next.map((d) => d.allowed)).toEqual([true, true, true, true, true, false]);
    // Room again once the weighted previous window shrank by one: 6 s (a tenth of the window) later.
    expect(next[5]?.resetSeconds).toBe(6);
    now += 6_000;
    expect(limiter.take('k').allowed).toBe(true);
    // Two windows later nothing counts.
    now += 120_000;
    expect(limiter.take('k').remaining).toBe(9);
  });

  it('sends the IETF RateLimit fields', () => {
    const limiter = new SlidingWindowLimiter('token', { limit: 2, windowMs: 60_000 }, () => 0);
    expect(rateLimitHeaders(limiter.take('k'))).toEqual({
      'RateLimit-Policy': '"token";q=2;w=60',
      RateLimit: '"token";r=1;t=0',
    });
    limiter.take('k');
    expect(rateLimitHeaders(limiter.take('k'))).toEqual({
      'RateLimit-Policy': '"token";q=2;w=60',
      RateLimit: '"token";r=0;t=60',
    });
  });

  it('lists both policies when an answer took both limits (one field each, set once)', () => {
    const address = new SlidingWindowLimiter('address', { limit: 5, windowMs: 10_000 }, () => 0);
    const token = new SlidingWindowLimiter('token', { limit: 2, windowMs: 60_000 }, () => 0);
    const set: [string, string][] = [];
    const res = { setHeader: (name: string, value: string) => set.push([name, value]) };
    setRateLimitHeaders(res, address.take('1.2.3.4'), token.take('k'));
    expect(set).toEqual([
      ['RateLimit-Policy', '"address";q=5;w=10, "token";q=2;w=60'],
      ['RateLimit', '"address";r=4;t=0, "token";r=1;t=0'],
    ]);
    set.length = 0;
    setRateLimitHeaders(res, undefined, token.take('k'));
    expect(set).toEqual([
      ['RateLimit-Policy', '"token";q=2;w=60'],
      ['RateLimit', '"token";r=0;t=0'],
    ]);
    set.length = 0;
    setRateLimitHeaders(res, undefined, undefined);
    expect(set).toEqual([]);
  });
});

describe('rate limits shared through the database', () => {
  let t: TestDatabase;
  let database: Database;

  beforeAll(async () => {
    t = await createTestDatabase();
    database = await openDatabase({ dataDir: t.dataDir, databaseUrl: t.url });
  }, 300_000);
  afterAll(async () => {
    await database?.close();
    await t?.drop();
  });

  it('holds one limit across processes that exchange their counts', async () => {
    const now = () => 1_000_000_000;
    const store = new PostgresRateLimitStore(database.db);
    const processes = ['00000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-000000000002'].map(
      (processId) =>
        new GatewayRateLimits({ token: { limit: 10, windowMs: 60_000 }, store, processId, log: silentLogger, now }),
    );
    let allowed = 0;
    for (let i = 0; i < 30; i++) {
      const p = processes[i % 2] as GatewayRateLimits;
      if (p.token?.take('client-a').allowed) allowed++;
      // Every process exchanges between two requests (twice: a repeated exchange adds nothing).
      for (let k = 0; k < 2; k++) for (const q of processes) await q.exchange();
    }
    expect(allowed).toBe(10);
    // Each process alone would have let 10 through: the other's counts are what refused the rest.
    for (const p of processes) p.close();
  });
});
