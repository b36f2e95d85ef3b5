// CSV as RFC 4180 writes it: fields separated by a delimiter, quoted with " when they hold the
// delimiter, a quote or a line break, "" for a quote inside a quoted field; CRLF or LF line ends.

export type Cell = string | number | boolean | null;
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** Parses CSV text into rows of fields; throws on an unterminated quoted field. */
export function parseCsv(text: string, delimiter: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  let i = 0;
  const input = text.startsWith('\uFEFF') ? text.slice(1) : text;
  while (i < input.length) {
    const c = input.charAt(i);
    if (quoted) {
      if (c === '"' && input.charAt(i + 1) === '"') {
        field += '"';
        i += 2;
        continue;
      }
      if (c === '"') quoted = false;
      else field += c;
      i++;
      continue;
    }
    if (c === '"' && field === '') {
      quoted = true;
    } else if (c === delimiter) {
      row.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      if (c === '\r' && input.charAt(i + 1) === '\n') i++;
    } else {
      field += c;
    }
    i++;
  }
  if (quoted) throw new Error('the CSV ends inside a quoted field: a closing " is missing');
  if (field !== '' || row.length > 0) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}

/** A field as typed JSON when `infer` is on: numbers, true/false and empty → null; otherwise the text. */
export function cellValue(text: string, infer: boolean): Cell {
  if (!infer) return text;
  if (text === '') return null;
  if (text === 'true' || text === 'false') return text === 'true';
  if (/^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/.test(text)) return Number(text);
  return text;
}

/** One CSV field, quoted when it must be. */
export function formatField(value: JsonValue | undefined, delimiter: string): string {
  if (value === undefined || value === null) return '';
  const text = typeof value === 'object' ? JSON.stringify(value) : String(value);
  const mustQuote = text.includes(delimiter) || text.includes('"') || text.includes('\n') || text.includes('\r');
  return mustQuote ? `"${text.replace(/"/g, '""')}"` : text;
}

/** The value of `field` in a record (own properties only). */
export function fieldOf(record: Record<string, JsonValue>, field: string): JsonValue | undefined {
  return Object.hasOwn(record, field) ? record[field] : undefined;
}
