import { config } from './config.ts';
import { el, itemsOf, pick, say, start, text } from './fields.ts';

await start((data, root) => {
  const items = itemsOf(data);
  if (items.length === 0) say('Nothing to show.');
  const cards = items.map((item) => {
    const label = pick(item, config.label, /^(title|name|label|summary)$/i, 'string');
    const details = Object.keys(item)
      .filter((key) => key !== label)
      .flatMap((key) => [el('dt', { text: key }), el('dd', { text: text(item[key]) })]);
    return el(
      'li',
      {},
      el(
        'article',
        { className: 'card' },
        el('h2', { text: label ? text(item[label]) : '' }),
        el('dl', {}, ...details),
      ),
    );
  });
  root.append(el('ul', { className: 'cards' }, ...cards));
});
