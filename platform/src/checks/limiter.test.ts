import { describe, expect, it } from 'vitest';
import { Limiter } from './limiter.ts';

/** A task that records when it starts and finishes when released. */
function gate(order: string[], name: string) {
  let release = () => {};
  const done = new Promise<void>((r) => {
    release = r;
  });
  return {
    task: async () => {
      order.push(name);
      await done;
    },
    release: () => release(),
  };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('the check limiter', () => {
  it('runs at most its limit at once, in arrival order', async () => {
    const order: string[] = [];
    const limiter = new Limiter(1);
    const [a, b, c] = ['a', 'b', 'c'].map((n) => gate(order, n)) as [
      ReturnType<typeof gate>,
      ReturnType<typeof gate>,
      ReturnType<typeof gate>,
    ];
    const runs = [limiter.run(a.task), limiter.run(b.task), limiter.run(c.task)];
    await tick();
    expect(order).toEqual(['a']);
    expect(limiter.waiting).toBe(2);
    a.release();
    await tick();
    expect(order).toEqual(['a', 'b']);
    b.release();
    c.release();
    await Promise.all(runs);
    expect(order).toEqual(['a', 'b', 'c']);
  });

  it('starts priority tasks first, and a task that waited too long counts as one', async () => {
    let now = 0;
    const order: string[] = [];
    const limiter = new Limiter(1, { agingMs: 60_000, now: () => now });
    const gates = Object.fromEntries(
      ['busy', 'hobby1', 'hobby2', 'pro1', 'pro2', 'hobby3'].map((n) => [n, gate(order, n)]),
    );
    const g = (n: string) => gates[n] as ReturnType<typeof gate>;
    const runs = [limiter.run(g('busy').task), limiter.run(g('hobby1').task), limiter.run(g('hobby2').task)];
    now = 1_000;
    runs.push(limiter.run(g('pro1').task, { priority: true }), limiter.run(g('pro2').task, { priority: true }));
    await tick();
    g('busy').release();
    await tick();
    // The paid suite goes before the Hobby suites that arrived earlier.
    expect(order).toEqual(['busy', 'pro1']);
    // A minute later the first Hobby suite has waited long enough: it goes before the second paid one.
    now = 60_000;
    g('pro1').release();
    await tick();
    expect(order).toEqual(['busy', 'pro1', 'hobby1']);
    runs.push(limiter.run(g('hobby3').task));
    g('hobby1').release();
    await tick();
    // hobby2 arrived at 0 as well and has waited as long: it is aged too, and earlier than pro2.
    expect(order).toEqual(['busy', 'pro1', 'hobby1', 'hobby2']);
    for (const n of ['hobby2', 'pro2', 'hobby3']) {
      g(n).release();
      await tick();
    }
    await Promise.all(runs);
    expect(order).toEqual(['busy', 'pro1', 'hobby1', 'hobby2', 'pro2', 'hobby3']);
  });

  it('frees the slot when a task throws', async () => {
    const limiter = new Limiter(1);
    await expect(limiter.run(() => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await limiter.run(async () => 'next')).toBe('next');
  });
});
