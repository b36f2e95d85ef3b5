import { defineTool, type JsonValue } from '@bmms/runner-template/runtime';
import { z } from 'zod';
import { type Cell, cellValue, parseCsv } from '../csv.ts';

export default defineTool({
  name: 'csv_to_json',
  input: {
    csv: z.string().max(1_000_000),
    delimiter: z.string().length(1).default(','),
    header: z.boolean().default(true),
    inferTypes: z.boolean().default(true),
  },
  handler({ csv, delimiter, header, inferTypes }): JsonValue {
    if (delimiter === '"' || delimiter === '\n' || delimiter === '\r')
      throw new Error('the delimiter cannot be " or a line break');
    const rows = parseCsv(csv, delimiter).filter((r) => !(r.length === 1 && r[0] === ''));
    if (!header) return { rows: rows.map((r) => r.map((f) => cellValue(f, inferTypes))) };
    const [names = [], ...body] = rows;
    const seen = new Set<string>();
    for (const name of names) {
      if (seen.has(name)) throw new Error(`the header names column "${name}" twice: rename one`);
      seen.add(name);
    }
    const records = body.map((r, line) => {
      if (r.length !== names.length) {
        throw new Error(`row ${line + 2} has ${r.length} fields but the header has ${names.length}`);
      }
      // fromEntries defines own properties, so a column named __proto__ stays an ordinary field.
      return Object.fromEntries(names.map((name, i): [string, Cell] => [name, cellValue(r[i] ?? '', inferTypes)]));
    });
    return { columns: names, records };
  },
});
