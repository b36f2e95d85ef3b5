import { z } from 'zod';
import { type StaticBuild, staticTemplate } from './define.ts';

const pure = { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false };
const records = {
  type: 'array',
  items: { type: 'object' },
  maxItems: 50000,
  description: 'The records (JSON objects).',
};
const delimiter = { type: 'string', minLength: 1, maxLength: 1, description: 'Field delimiter (default ",").' };

/** `csv-json`: CSV ↔ JSON conversion and record filtering, with no network access. */
export const csvJsonTemplate = staticTemplate({
  name: 'csv-json',
  title: 'CSV and JSON transforms',
  description: 'Converts CSV to JSON records and back (RFC 4180 quoting), and filters, sorts and reshapes records.',
  options: z.strictObject({}),
  build: (): StaticBuild => ({
    description: 'CSV and JSON transforms: parse CSV, write CSV, filter, sort and reshape JSON records.',
    tools: [
      {
        name: 'csv_to_json',
        title: 'CSV to JSON',
        description:
          'Parses CSV text (RFC 4180: quoted fields, "" escapes, CRLF or LF) into JSON records keyed by the header row, or into rows of fields when header is false. Numbers, true/false and empty fields become typed values unless inferTypes is false.',
        inputSchema: {
          type: 'object',
          properties: {
            csv: { type: 'string', maxLength: 1000000, description: 'The CSV text.' },
            delimiter,
            header: { type: 'boolean', description: 'Whether the first row names the columns (default true).' },
            inferTypes: {
              type: 'boolean',
              description: 'Turn numbers, true/false and empty fields into JSON values (default true).',
            },
          },
          required: ['csv'],
        },
        annotations: pure,
      },
      {
        name: 'json_to_csv',
        title: 'JSON to CSV',
        description:
          'Writes JSON records as CSV text with a header row, quoting fields that hold the delimiter, quotes or line breaks. Columns default to every key in order of appearance; nested values are written as JSON.',
        inputSchema: {
          type: 'object',
          properties: {
            records,
            columns: {
              type: 'array',
              items: { type: 'string' },
              minItems: 1,
              description: 'Columns to write, in order.',
            },
            delimiter,
          },
          required: ['records'],
        },
        annotations: pure,
      },
      {
        name: 'transform_records',
        title: 'Filter and reshape records',
        description:
          'Filters JSON records (all conditions must hold: eq, ne, gt, gte, lt, lte, contains, exists), sorts them by a field, keeps the first N, selects and renames fields. Returns the count and the records.',
        inputSchema: {
          type: 'object',
          properties: {
            records,
            where: {
              type: 'array',
              description: 'Conditions, e.g. {"field":"age","op":"gte","value":18}.',
              items: {
                type: 'object',
                properties: {
                  field: { type: 'string' },
                  op: { type: 'string', enum: ['eq', 'ne', 'gt', 'gte', 'lt', 'lte', 'contains', 'exists'] },
                  value: {},
                },
                required: ['field', 'op'],
              },
            },
            select: { type: 'array', items: { type: 'string' }, minItems: 1, description: 'Fields to keep, in order.' },
            rename: { type: 'object', additionalProperties: { type: 'string' }, description: 'Old name to new name.' },
            sortBy: { type: 'string', description: 'Field to sort by (numbers numerically, text alphabetically).' },
            descending: { type: 'boolean', description: 'Sort from largest to smallest.' },
            limit: { type: 'integer', minimum: 0, maximum: 50000, description: 'Keep at most this many records.' },
          },
          required: ['records'],
        },
        annotations: pure,
      },
    ],
  }),
});
