import { defineTool } from '@bmms/runner-template/runtime';
import { z } from 'zod';
import { fieldOf, formatField } from '../csv.ts';

export default defineTool({
  name: 'json_to_csv',
  input: {
    records: z.array(z.record(z.string(), z.json())).max(50_000),
    columns: z.array(z.string()).min(1).optional(),
    delimiter: z.string().length(1).default(','),
  },
  handler({ records, columns, delimiter }) {
    const names = columns ?? [...new Set(records.flatMap((r) => Object.keys(r)))];
    const lines = [names.map((n) => formatField(n, delimiter)).join(delimiter)];
    for (const record of records)
      lines.push(names.map((n) => formatField(fieldOf(record, n), delimiter)).join(delimiter));
    return `${lines.join('\r\n')}\r\n`;
  },
});
