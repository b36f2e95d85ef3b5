import { describe, expect, it } from 'vitest';
import { canonical, previewComparable, recordedComparable, sameComparable } from './compare.ts';

const text = (t: string) => ({ content: [{ type: 'text', text: t }] });

describe('comparing a recorded answer with the preview answer', () => {
  it('reads the same answer alike, whatever the key order, timestamps, UUIDs or _meta', () => {
    const recorded = recordedComparable({
      result: { ...text('order 1b4e28ba-2fa1-4d2b-883f-0016d3cca427 at 2026-12-01T10:00:00.000Z'), _meta: { a: 1 } },
    });
    const now = previewComparable(
      {
        kind: 'result',
        result: { isError: false, ...text('order 9f0c1d2e-3a4b-4c5d-8e6f-7a8b9c0d1e2f at 2026-12-05T08:00:00Z') },
      },
      [],
    );
    expect(sameComparable(recorded, now)).toBe(true);
  });

  it('tells a different text, an error instead of a result, and a tool error apart', () => {
    const recorded = recordedComparable({ result: text('3') });
    expect(sameComparable(recorded, previewComparable({ kind: 'result', result: text('4') }, []))).toBe(false);
    expect(
      sameComparable(recorded, previewComparable({ kind: 'result', result: { ...text('3'), isError: true } }, [])),
    ).toBe(false);
    expect(
      sameComparable(recorded, previewComparable({ kind: 'error', code: -32602, message: 'Invalid params' }, [])),
    ).toBe(false);
    expect(canonical(previewComparable({ kind: 'timeout', ms: 30_000 }, []))).toBe('{"failed":"timeout"}');
  });

  it("sanitizes the preview's answer like the recording, so a secret it echoes reads the same", () => {
    const recorded = recordedComparable({ result: text('key [secret]') });
    const now = previewComparable({ kind: 'result', result: text('key s3cret-value-123') }, ['s3cret-value-123']);
    expect(sameComparable(recorded, now)).toBe(true);
    expect(canonical(now)).not.toContain('s3cret-value-123');
  });

  it('compares errors by code and message', () => {
    const recorded = recordedComparable({ error: { code: -32602, message: 'Invalid params', data: { x: 1 } } });
    expect(
      sameComparable(recorded, previewComparable({ kind: 'error', code: -32602, message: 'Invalid params' }, [])),
    ).toBe(true);
  });
});
