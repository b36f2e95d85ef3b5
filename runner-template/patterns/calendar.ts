import { config } from './config.ts';
import { el, itemsOf, pick, say, start, text } from './fields.ts';

await start((data, root) => {
  const items = itemsOf(data);
  const first = items[0] ?? {};
  const date = pick(first, config.date, /(date|time|_at|At|due|start|when)$/);
  const label = pick(first, config.label, /^(title|name|label|summary|event)$/i, 'string');
  const dated = items
    .map((item) => ({ item, day: date ? new Date(text(item[date])) : new Date(Number.NaN) }))
    .filter((d) => !Number.isNaN(d.day.getTime()));
  if (dated.length === 0) {
    say('No dated items.');
    return;
  }
  const month = new Date(Date.UTC(dated[0]?.day.getUTCFullYear() ?? 2000, dated[0]?.day.getUTCMonth() ?? 0, 1));
  const days = new Date(Date.UTC(month.getUTCFullYear(), month.getUTCMonth() + 1, 0)).getUTCDate();
  const heading = month.toLocaleDateString(undefined, { month: 'long', year: 'numeric', timeZone: 'UTC' });
  const cells = [];
  for (let blank = 0; blank < (month.getUTCDay() + 6) % 7; blank++) cells.push(el('li', { className: 'blank' }));
  for (let day = 1; day <= days; day++) {
    const here = dated.filter(
      (d) =>
        d.day.getUTCMonth() === month.getUTCMonth() &&
        d.day.getUTCFullYear() === month.getUTCFullYear() &&
        d.day.getUTCDate() === day,
    );
    const events = here.map((d) => el('li', { text: label ? text(d.item[label]) : '' }));
    cells.push(el('li', {}, el('span', { className: 'day', text: String(day) }), el('ul', {}, ...events)));
  }
  root.append(el('h2', { text: heading }), el('ol', { className: 'calendar' }, ...cells));
});
