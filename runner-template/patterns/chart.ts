import { config } from './config.ts';
import { el, itemsOf, pick, say, start, text } from './fields.ts';

await start((data, root) => {
  const items = itemsOf(data);
  const first = items[0] ?? {};
  const value = pick(first, config.number, /^(value|count|total|amount|score)$/i, 'number');
  const label = pick(first, config.label, /^(label|name|title|date|day|month)$/i, 'string');
  if (value === null) {
    say('No numbers to chart.');
    return;
  }
  const numbers = items.map((item) => Number(item[value]) || 0);
  const max = Math.max(1, ...numbers.map(Math.abs));
  const bars = items.map((item, i) => {
    const bar = el('span', { className: 'bar' });
    bar.style.width = `${(Math.abs(numbers[i] ?? 0) / max) * 100}%`;
    return el(
      'li',
      {},
      el('span', { className: 'label', text: label ? text(item[label]) : String(i + 1) }),
      bar,
      el('span', { className: 'value', text: String(numbers[i]) }),
    );
  });
  const chart = el('ol', { className: 'chart' }, ...bars);
  chart.ariaLabel = `${value} by ${label ?? 'item'}`;
  root.append(chart);
});
