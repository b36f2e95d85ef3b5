import { config } from './config.ts';
import { el, itemsOf, pick, say, start, text } from './fields.ts';

await start((data, root) => {
  const items = itemsOf(data);
  if (items.length === 0) say('The board is empty.');
  const first = items[0] ?? {};
  const status = pick(first, config.status, /^(status|state|stage|column|lane|phase)$/i);
  const label = pick(first, config.label, /^(title|name|label|summary)$/i, 'string');
  const columns = new Map<string, HTMLElement[]>();
  for (const item of items) {
    const column = status ? text(item[status]) || '(none)' : 'Items';
    const cards = columns.get(column) ?? [];
    cards.push(el('li', { className: 'card', text: label ? text(item[label]) : text(item) }));
    columns.set(column, cards);
  }
  const lanes = [...columns].map(([name, cards]) =>
    el('section', { className: 'lane' }, el('h2', { text: `${name} (${cards.length})` }), el('ul', {}, ...cards)),
  );
  root.append(el('div', { className: 'kanban' }, ...lanes));
});
