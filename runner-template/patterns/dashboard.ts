import { el, type Item, start, text } from './fields.ts';

await start((data, root) => {
  const item = (typeof data === 'object' && data !== null && !Array.isArray(data) ? data : { items: data }) as Item;
  const tiles = Object.keys(item).map((key) => {
    const value = item[key];
    const shown = Array.isArray(value) ? `${value.length}` : text(value);
    const what = Array.isArray(value) ? `${key} (items)` : key;
    return el(
      'li',
      { className: 'tile' },
      el('span', { className: 'value', text: shown }),
      el('span', { className: 'key', text: what }),
    );
  });
  root.append(el('ul', { className: 'tiles' }, ...tiles));
});
