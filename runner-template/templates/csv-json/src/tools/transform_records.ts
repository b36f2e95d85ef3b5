import { defineTool } from '@bmms/runner-template/runtime';
import { z } from 'zod';
import { fieldOf, type JsonValue } from '../csv.ts';

const condition = z.strictObject({
  field: z.string(),
  op: z.enum(['eq', 'ne', 'gt', 'gte', 'lt', 'lte', 'contains', 'exists']),
  value: z.json().optional(),
});

/** Orders numbers numerically, everything else as text; missing values last. */
function compare(a: JsonValue | undefined, b: JsonValue | undefined): number {
  if (a === undefined || a === null) return b === undefined || b === null ? 0 : 1;
  if (b === undefined || b === null) return -1;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return String(a).localeCompare(String(b));
}

function matches(record: Record<string, JsonValue>, c: z.output<typeof condition>): boolean {
  const v = fieldOf(record, c.field);
  switch (c.op) {
    case 'exists':
      return v !== undefined && v !== null;
    case 'eq':
      return JSON.stringify(v) === JSON.stringify(c.value);
    case 'ne':
      return JSON.stringify(v) !== JSON.stringify(c.value);
    case 'contains':
      return typeof v === 'string' && v.toLowerCase().includes(String(c.value ?? '').toLowerCase());
    default: {
      if (v === undefined || v === null || c.value === undefined || c.value === null) return false;
      const order = compare(v, c.value as JsonValue);
      return c.op === 'gt' ? order > 0 : c.op === 'gte' ? order >= 0 : c.op === 'lt' ? order < 0 : order <= 0;
    }
  }
}

export default defineTool({
  name: 'transform_records',
  input: {
    records: z.array(z.record(z.string(), z.json())).max(50_000),
    where: z.array(condition).default([]),
    select: z.array(z.string()).min(1).optional(),
    rename: z.record(z.string(), z.string()).default({}),
    sortBy: z.string().optional(),
    descending: z.boolean().default(false),
    limit: z.int().min(0).max(50_000).optional(),
  },
  handler({ records, where, select, rename, sortBy, descending, limit }) {
    let out = records.filter((r) => where.every((c) => matches(r, c)));
    if (sortBy !== undefined) {
      const direction = descending ? -1 : 1;
      out = [...out].sort((a, b) => direction * compare(fieldOf(a, sortBy), fieldOf(b, sortBy)));
    }
    if (limit !== undefined) out = out.slice(0, limit);
    const renamed = new Map(Object.entries(rename));
    const shaped = out.map((r) =>
      Object.fromEntries(
        (select ?? Object.keys(r)).flatMap((field): [string, JsonValue][] => {
          const value = fieldOf(r, field);
          return value === undefined ? [] : [[renamed.get(field) ?? field, value]];
        }),
      ),
    );
    return { count: shaped.length, records: shaped };
  },
});
