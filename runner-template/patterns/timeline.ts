import { config } from './config.ts';
import { el, itemsOf, pick, say, start, text } from './fields.ts';

await start((data, root) => {
  const items = itemsOf(data);
  if (items.length === 0) say('Nothing happened yet.');
  const first = items[0] ?? {};
  const date = pick(first, config.date, /(date|time|_at|At|due|start|when)$/);
  const label = pick(first, config.label, /^(title|name|label|summary|event)$/i, 'string');
  const sorted = date === null ? items : [...items].sort((a, b) => text(a[date]).localeCompare(text(b[date])));
  const entries = sorted.map((item) => {
    const when = el('time', { text: date ? text(item[date]) : '' });
    if (date) when.dateTime = text(item[date]);
    return el('li', {}, when, el('span', { text: label ? text(item[label]) : text(item) }));
  });
  root.append(el('ol', { className: 'timeline' }, ...entries));
});
