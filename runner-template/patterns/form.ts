import { config } from './config.ts';
import { dataOf, el, say, start, text } from './fields.ts';

const view = await start((data, root) => {
  root.append(
    el('pre', { className: 'result', text: typeof data === 'string' ? data : JSON.stringify(data, null, 2) }),
  );
});

const form = el('form', { className: 'form' });
for (const input of config.inputs) {
  const field = el('input');
  field.name = input.name;
  field.id = `field-${input.name}`;
  field.required = input.required;
  field.type =
    input.type === 'number' || input.type === 'integer' ? 'number' : input.type === 'boolean' ? 'checkbox' : 'text';
  const label = el('label', { text: input.description ? `${input.name} — ${input.description}` : input.name });
  label.htmlFor = field.id;
  form.append(el('div', { className: 'field' }, label, field));
}
const submit = el('button', { text: 'Run' });
submit.type = 'submit';
form.append(submit);
const output = el('pre', { className: 'result' });
form.addEventListener('submit', (event) => {
  event.preventDefault();
  const args: Record<string, unknown> = {};
  for (const input of config.inputs) {
    const field = form.elements.namedItem(input.name) as HTMLInputElement;
    if (field.type === 'checkbox') args[input.name] = field.checked;
    else if (field.value !== '') args[input.name] = field.type === 'number' ? Number(field.value) : field.value;
  }
  say('Running…');
  view.callTool(config.tool, args).then(
    (result) => {
      say(result.isError ? 'The tool failed.' : '');
      const data = dataOf(result);
      output.textContent = typeof data === 'string' ? data : JSON.stringify(data, null, 2);
    },
    (error: unknown) => say(text(error instanceof Error ? error.message : error)),
  );
});
(document.getElementById('root') as HTMLElement).before(form, output);
