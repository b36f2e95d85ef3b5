/**
 * A tool result made up from the tool's `outputSchema`, for the `views` check: the check runs no tool (a call may
 * change things or reach the network), yet a view must be seen rendering data of the declared shape. Examples and
 * defaults of the schema are used where it gives them; lists get three items; dates, times, URLs and emails look
 * like theirs; a record's number fields differ from one record to the next.
 */

type Schema = {
  type?: string | string[];
  properties?: Record<string, Schema>;
  items?: Schema | Schema[];
  enum?: unknown[];
  const?: unknown;
  examples?: unknown[];
  default?: unknown;
  format?: string;
  anyOf?: Schema[];
  oneOf?: Schema[];
  minimum?: number;
};

const STATUSES = ['open', 'in progress', 'done'];

function typeOf(schema: Schema): string | undefined {
  const t = Array.isArray(schema.type) ? schema.type.find((x) => x !== 'null') : schema.type;
  if (t) return t;
  if (schema.properties) return 'object';
  if (schema.items) return 'array';
  return undefined;
}

function stringOf(name: string, schema: Schema, n: number): string {
  const day = String(3 + n * 7).padStart(2, '0');
  switch (schema.format) {
    case 'date':
      return `2026-12-${day}`;
    case 'date-time':
      return `2026-12-${day}T09:30:00Z`;
    case 'uri':
    case 'url':
      return `https://example.com/${name}/${n + 1}`;
    case 'email':
      return `person${n + 1}@example.com`;
  }
  if (/status|state|stage/i.test(name)) return STATUSES[n % STATUSES.length] as string;
  if (/date|_at$|At$|time|day/i.test(name)) return `2026-12-${day}`;
  return `${name} ${n + 1}`;
}

/** A value of `schema` (named `name`, the `n`th of its list), at most `depth` levels deep. */
export function sampleOf(schema: Schema | undefined, name = 'value', n = 0, depth = 6): unknown {
  if (!schema || typeof schema !== 'object') return `${name} ${n + 1}`;
  if (schema.const !== undefined) return schema.const;
  if (Array.isArray(schema.examples) && schema.examples.length > 0) return schema.examples[n % schema.examples.length];
  if (schema.default !== undefined) return schema.default;
  if (Array.isArray(schema.enum) && schema.enum.length > 0) return schema.enum[n % schema.enum.length];
  const variant = schema.anyOf?.[0] ?? schema.oneOf?.[0];
  if (variant) return sampleOf(variant, name, n, depth);
  switch (typeOf(schema)) {
    case 'object': {
      if (depth <= 0) return {};
      const out: Record<string, unknown> = {};
      for (const [key, property] of Object.entries(schema.properties ?? {}))
        out[key] = sampleOf(property, key, n, depth - 1);
      return out;
    }
    case 'array': {
      if (depth <= 0) return [];
      const items = Array.isArray(schema.items) ? schema.items[0] : schema.items;
      return [0, 1, 2].map((i) => sampleOf(items, name.replace(/s$/, ''), i, depth - 1));
    }
    case 'integer':
      return (schema.minimum ?? 0) + (n + 1) * 3;
    case 'number':
      return (schema.minimum ?? 0) + (n + 1) * 2.5;
    case 'boolean':
      return n % 2 === 0;
    case 'null':
      return null;
    default:
      return stringOf(name, schema, n);
  }
}

/** The tool result a view is shown: the sample as `structuredContent` and as JSON text (as the runtime answers). */
export function sampleResult(outputSchema: Record<string, unknown> | undefined): Record<string, unknown> {
  if (!outputSchema)
    return { content: [{ type: 'text', text: 'A sample result: the tool declares no outputSchema.' }] };
  const structured = sampleOf(outputSchema as Schema, 'result') as Record<string, unknown>;
  return { content: [{ type: 'text', text: JSON.stringify(structured) }], structuredContent: structured };
}
