import { describe, expect, it } from 'vitest';
import { applyConditions, readConditions } from '../src/conditions.ts';

describe('conditions', () => {
  it('moves lastTransitionTime only when a status flips, and keeps a fixed order', () => {
    const t1 = new Date('2026-01-01T00:00:00Z');
    const t2 = new Date('2026-01-01T00:01:00Z');
    const first = applyConditions(
      [],
      {
        Progressing: { status: true, reason: 'Deploying', message: 'deploying' },
        Ready: { status: false, reason: 'Deploying', message: 'starting' },
      },
      t1,
    );
    expect(first.map((c) => c.type)).toEqual(['Ready', 'Progressing']);
    const second = applyConditions(
      first,
      {
        Ready: { status: false, reason: 'ProbeFailed', message: 'still starting' },
        Progressing: { status: false, reason: 'Serving', message: 'done' },
      },
      t2,
    );
    expect(second[0]).toMatchObject({
      type: 'Ready',
      status: 'False',
      reason: 'ProbeFailed',
      lastTransitionTime: t1.toISOString(),
    });
    expect(second[1]).toMatchObject({ type: 'Progressing', status: 'False', lastTransitionTime: t2.toISOString() });
  });

  it('reads stored JSON defensively', () => {
    expect(readConditions(null)).toEqual([]);
    expect(
      readConditions([{ type: 'Ready', status: 'True', reason: 'r', message: 'm' }, { type: 'Bogus' }, 3]),
    ).toHaveLength(1);
  });
});
