import { describe, expect, it } from 'vitest';
import { LoginThrottle, RateLimiter } from './throttle.ts';

describe('LoginThrottle', () => {
  it('blocks an email after 5 failures until the oldest is 15 minutes old; success clears it', () => {
    let now = 0;
    const t = new LoginThrottle(5, () => now);
    for (let i = 0; i < 5; i++) {
      expect(t.retryAfter('a@x', 'ip1')).toBe(0);
      t.fail('a@x', 'ip1');
      now += 1000;
    }
    expect(t.retryAfter('a@x', 'ip2')).toBe(900 - 5);
    expect(t.retryAfter('b@x', 'ip2')).toBe(0);
    now = 900_001;
    expect(t.retryAfter('a@x', 'ip1')).toBe(0);
    t.fail('a@x', 'ip1');
    t.succeed('a@x');
    expect(t.retryAfter('a@x', 'ip3')).toBe(0);
  });

  it('blocks an address after 20 failures whatever the email', () => {
    const t = new LoginThrottle(5, () => 0);
    for (let i = 0; i < 20; i++) t.fail(`u${i}@x`, 'ip1');
    expect(t.retryAfter('fresh@x', 'ip1')).toBe(900);
    expect(t.retryAfter('fresh@x', 'ip2')).toBe(0);
  });
});

describe('RateLimiter', () => {
  it('allows a burst, then one per refill interval, and says how long to wait', () => {
    let now = 0;
    const r = new RateLimiter({ burst: 3, perMinute: 6, now: () => now });
    expect([r.take('k'), r.take('k'), r.take('k')]).toEqual([0, 0, 0]);
    expect(r.take('k')).toBe(10);
    expect(r.take('other')).toBe(0);
    now = 10_000;
    expect(r.take('k')).toBe(0);
    expect(r.take('k')).toBe(10);
  });
});
