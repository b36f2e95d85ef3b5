/** A cell the table shows: nested values become JSON text. */
export type Cell = string | number | boolean | null;
export type Row = Record<string, Cell>;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The list of records in an API's answer: at `rowsKey` (a dotted path), else the answer or its first list. */
export function findList(body: unknown, rowsKey: string | null): unknown[] {
  if (rowsKey !== null) {
    let at: unknown = body;
    // Own properties only, looked up in a Map: a key from the config never reaches a prototype.
    for (const key of rowsKey.split('.')) at = isRecord(at) ? new Map(Object.entries(at)).get(key) : undefined;
    if (!Array.isArray(at)) throw new Error(`the answer has no list at "${rowsKey}"`);
    return at;
  }
  if (Array.isArray(body)) return body;
  if (isRecord(body)) for (const value of Object.values(body)) if (Array.isArray(value)) return value;
  throw new Error('the answer holds no list of records; set rowsKey in src/config.ts');
}

function cell(value: unknown): Cell {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return value;
  return JSON.stringify(value);
}

/** Rows and their columns (in order of first appearance) from an API's answer. */
export function rowsOf(body: unknown, rowsKey: string | null): { columns: string[]; rows: Row[] } {
  const columns: string[] = [];
  const seen = new Set<string>();
  const rows = findList(body, rowsKey).map((item) => {
    const record = isRecord(item) ? item : { value: item };
    const row: Row = {};
    for (const [key, value] of Object.entries(record)) {
      if (!seen.has(key)) {
        seen.add(key);
        columns.push(key);
      }
      row[key] = cell(value);
    }
    return row;
  });
  return { columns, rows };
}
