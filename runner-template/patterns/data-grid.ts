import { el, type Item, itemsOf, say, start, text } from './fields.ts';

let sortBy: { key: string; descending: boolean } | null = null;

function draw(items: Item[], root: HTMLElement): void {
  const columns = [...new Set(items.flatMap((item) => Object.keys(item)))];
  const rows =
    sortBy === null ? items : [...items].sort((a, b) => compare(a, b, sortBy as { key: string; descending: boolean }));
  const head = el('tr');
  for (const [index, key] of columns.entries()) {
    const button = el('button', { text: key });
    button.type = 'button';
    button.addEventListener('click', () => {
      sortBy = { key, descending: sortBy?.key === key && !sortBy.descending };
      root.replaceChildren();
      draw(items, root);
      // The table was drawn anew: keep the keyboard on the column just sorted, so Enter sorts it again.
      root.querySelectorAll<HTMLButtonElement>('thead button')[index]?.focus();
    });
    const th = el('th', {}, button);
    th.scope = 'col';
    th.ariaSort = sortBy?.key === key ? (sortBy.descending ? 'descending' : 'ascending') : 'none';
    head.append(th);
  }
  const body = rows.map((item) => el('tr', {}, ...columns.map((key) => el('td', { text: text(item[key]) }))));
  root.append(el('div', { className: 'scroll' }, el('table', {}, el('thead', {}, head), el('tbody', {}, ...body))));
}

function compare(a: Item, b: Item, by: { key: string; descending: boolean }): number {
  const x = a[by.key];
  const y = b[by.key];
  const order =
    typeof x === 'number' && typeof y === 'number'
      ? x - y
      : text(x).localeCompare(text(y), undefined, { numeric: true });
  return by.descending ? -order : order;
}

await start((data, root) => {
  const items = itemsOf(data);
  if (items.length === 0) say('No rows.');
  draw(items, root);
});
