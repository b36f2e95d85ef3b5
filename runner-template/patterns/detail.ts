import { el, type Item, say, start, text } from './fields.ts';

await start((data, root) => {
  const item: Item | undefined = Array.isArray(data)
    ? (data[0] as Item | undefined)
    : typeof data === 'object' && data !== null
      ? (data as Item)
      : undefined;
  if (item === undefined) {
    say(text(data));
    return;
  }
  const rows = Object.keys(item).flatMap((key) => [el('dt', { text: key }), el('dd', { text: text(item[key]) })]);
  root.append(el('dl', { className: 'detail' }, ...rows));
});
