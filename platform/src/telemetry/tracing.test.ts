import { describe, expect, it } from 'vitest';
import { CallBudget } from './tracing.ts';

describe('the budget of traced calls', () => {
  it('traces at most the configured calls a second, and more as time passes', () => {
    let now = 0;
    const budget = new CallBudget(10, () => now);
    const first = Array.from({ length: 50 }, () => budget.take()).filter(Boolean).length;
    expect(first).toBe(10);
    now += 100;
    expect(budget.take()).toBe(true);
    expect(budget.take()).toBe(false);
    // A quiet minute saves up one second's worth, never more.
    now += 60_000;
    expect(Array.from({ length: 50 }, () => budget.take()).filter(Boolean).length).toBe(10);
  });

  it('traces no call on its own at 0 a second', () => {
    const budget = new CallBudget(0, () => 0);
    expect(budget.take()).toBe(false);
  });
});
