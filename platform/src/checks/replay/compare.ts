import { sanitizeValue } from '../../replay/sanitize.ts';
import type { Recording } from '../../replay/types.ts';
import type { Answer } from '../contract/call.ts';

/** An answer reduced to what a client relies on, with values that change on every call made alike. */
export type Comparable = unknown;

const ISO_TIME = /\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})?\b/g;
const UUID = /\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/gi;

/** Timestamps and UUIDs (different on every call) become placeholders; everything else stays. */
function steady(value: unknown): unknown {
  if (typeof value === 'string') return value.replace(ISO_TIME, '<time>').replace(UUID, '<uuid>');
  if (Array.isArray(value)) return value.map(steady);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    // `_meta` is for the client's bookkeeping (progress tokens, traces), not the tool's answer.
    for (const [k, v] of Object.entries(value)) if (k !== '_meta') out[k] = steady(v);
    return out;
  }
  return value;
}

/** The recorded answer, comparable (sanitized again: a no-op on a recording, so both sides pass the same steps). */
export function recordedComparable(answer: Recording['answer']): Comparable {
  if (answer.error !== undefined) {
    const e = answer.error as { code?: unknown; message?: unknown };
    return steady(sanitizeValue({ error: { code: e.code, message: e.message } }, []));
  }
  const r = (answer.result ?? {}) as { content?: unknown; structuredContent?: unknown; isError?: unknown };
  const result = { content: r.content ?? [], structuredContent: r.structuredContent, isError: r.isError === true };
  return steady(sanitizeValue(result, []));
}

/** The preview's answer, sanitized like a recording (so a secret reads the same in both), comparable. */
export function previewComparable(answer: Answer, secrets: readonly string[]): Comparable {
  switch (answer.kind) {
    case 'result': {
      const { content, structuredContent, isError } = answer.result;
      return steady(sanitizeValue({ content, structuredContent, isError: isError === true }, secrets));
    }
    case 'error':
      return steady(sanitizeValue({ error: { code: answer.code, message: answer.message } }, secrets));
    default:
      return { failed: answer.kind, detail: 'detail' in answer ? answer.detail : undefined };
  }
}

/** Whether two comparable answers are the same (key order aside). */
export function sameComparable(a: Comparable, b: Comparable): boolean {
  return canonical(a) === canonical(b);
}

/** JSON with object keys sorted and undefined fields left out. */
export function canonical(value: Comparable): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b)))
      : v,
  );
}
