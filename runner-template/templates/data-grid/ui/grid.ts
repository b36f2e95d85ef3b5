import { connectView, type ToolResult } from '@bmms/runner-template/view';

type Cell = string | number | boolean | null;
interface Rows {
  title: string;
  source: string;
  columns: string[];
  rows: Record<string, Cell>[];
  total: number;
}

const title = document.getElementById('title') as HTMLHeadingElement;
const filter = document.getElementById('filter') as HTMLInputElement;
const status = document.getElementById('status') as HTMLParagraphElement;
const table = document.getElementById('grid') as HTMLTableElement;
const head = table.tHead as HTMLTableSectionElement;
const body = table.tBodies[0] as HTMLTableSectionElement;

let data: Rows = { title: 'Rows', source: '', columns: [], rows: [], total: 0 };
let sortBy: { column: string; descending: boolean } | null = null;

/** The rows of a result: its structured content, else the JSON text (older hosts). */
function rowsOf(result: ToolResult): Rows | null {
  const structured = result.structuredContent ?? JSON.parse(result.content?.[0]?.text ?? 'null');
  return structured && Array.isArray(structured.rows) ? (structured as Rows) : null;
}

function compare(a: Cell, b: Cell): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return String(a ?? '').localeCompare(String(b ?? ''), undefined, { numeric: true });
}

function render(): void {
  title.textContent = data.title;
  const needle = filter.value.trim().toLowerCase();
  let rows = needle
    ? data.rows.filter((row) =>
        data.columns.some((c) =>
          String(row[c] ?? '')
            .toLowerCase()
            .includes(needle),
        ),
      )
    : data.rows;
  if (sortBy) {
    const { column, descending } = sortBy;
    rows = [...rows].sort((a, b) => compare(a[column] ?? null, b[column] ?? null) * (descending ? -1 : 1));
  }
  const headRow = document.createElement('tr');
  for (const [index, column] of data.columns.entries()) {
    const th = document.createElement('th');
    th.scope = 'col';
    th.ariaSort = sortBy?.column === column ? (sortBy.descending ? 'descending' : 'ascending') : 'none';
    const button = document.createElement('button');
    button.type = 'button';
    button.textContent = column;
    button.addEventListener('click', () => {
      sortBy = { column, descending: sortBy?.column === column && !sortBy.descending };
      render();
      // The header was drawn anew: keep the keyboard on the column just sorted, so Enter sorts it again.
      head.querySelectorAll('button')[index]?.focus();
    });
    th.append(button);
    headRow.append(th);
  }
  head.replaceChildren(headRow);
  body.replaceChildren(
    ...rows.map((row) => {
      const tr = document.createElement('tr');
      for (const column of data.columns) {
        const td = document.createElement('td');
        const value = row[column] ?? null;
        td.textContent = value === null ? '' : String(value);
        if (typeof value === 'number') td.className = 'number';
        tr.append(td);
      }
      return tr;
    }),
  );
  table.hidden = data.columns.length === 0;
  filter.disabled = data.rows.length === 0;
  status.textContent =
    data.rows.length === 0
      ? 'No rows.'
      : `${rows.length} of ${data.total} row(s)${data.total > data.rows.length ? ` (first ${data.rows.length} loaded)` : ''}`;
}

filter.addEventListener('input', render);

await connectView({
  name: 'grid',
  version: '1.0.0',
  onToolResult(result) {
    const rows = result.isError ? null : rowsOf(result);
    if (rows === null) {
      status.textContent = result.content?.[0]?.text ?? 'The tool returned no rows.';
      return;
    }
    data = rows;
    render();
  },
});
