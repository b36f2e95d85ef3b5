/** The try-it form: one field per property of a tool's input schema, the call, and its result. */
import { api, type JsonSchema, type ToolView } from './api.ts';
import { codeBlock, h, mount } from './dom.ts';

const typeOf = (s: JsonSchema) => (Array.isArray(s.type) ? s.type.find((t) => t !== 'null') : s.type) ?? 'string';

/** One form field for a property of a JSON Schema (ids are prefixed by `tool`). */
export function field(tool: string, name: string, schema: JsonSchema, required: boolean): HTMLElement {
  const id = `try-${tool}-${name}`;
  const type = typeOf(schema);
  const hint = schema.description ? h('p', { class: 'hint', id: `${id}-hint` }, schema.description) : null;
  const common = {
    id,
    name,
    ...(required ? { required: true } : {}),
    ...(hint ? { 'aria-describedby': `${id}-hint` } : {}),
  };
  let control: HTMLElement;
  if (schema.enum) {
    control = h(
      'select',
      common,
      schema.enum.map((v) => h('option', { value: JSON.stringify(v) }, String(v))),
    );
  } else if (type === 'boolean') {
    control = h('input', { ...common, type: 'checkbox', 'data-kind': 'boolean' });
  } else if (type === 'number' || type === 'integer') {
    control = h('input', { ...common, type: 'number', step: type === 'integer' ? '1' : 'any', 'data-kind': 'number' });
  } else if (type === 'string') {
    control = h('input', { ...common, type: 'text', 'data-kind': 'string' });
  } else {
    control = h('textarea', { ...common, 'data-kind': 'json', placeholder: type === 'array' ? '[]' : '{}' });
  }
  return h(
    'div',
    { class: 'field' },
    h('label', { for: id }, name, required ? '' : h('span', { class: 'muted' }, ' (optional)')),
    control,
    hint,
  );
}

/** Reads the values of the fields `field` built back into a JSON object. */
export function readArguments(form: HTMLFormElement, schema: JsonSchema): Record<string, unknown> {
  const args: Record<string, unknown> = {};
  for (const name of Object.keys(schema.properties ?? {})) {
    const el = form.elements.namedItem(name) as HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement | null;
    if (!el) continue;
    const kind = el.dataset.kind;
    if (el instanceof HTMLSelectElement) args[name] = JSON.parse(el.value);
    else if (kind === 'boolean') args[name] = (el as HTMLInputElement).checked;
    else if (el.value === '') continue;
    else if (kind === 'number') args[name] = Number(el.value);
    else if (kind === 'json') {
      try {
        args[name] = JSON.parse(el.value);
      } catch {
        throw new Error(`"${name}" must be JSON`);
      }
    } else args[name] = el.value;
  }
  return args;
}

/** A form to call `tool` on `server` (a change's preview when `change` is given). */
export function tryForm(server: string, tool: ToolView, change?: number): HTMLElement {
  const schema = tool.inputSchema ?? {};
  const required = new Set(schema.required ?? []);
  const result = h('div', { class: 'result', 'aria-live': 'polite' });
  const submit = h('button', { type: 'submit', class: 'primary' }, change ? 'Call on the preview' : 'Call');
  const form = h(
    'form',
    { class: 'try-form', 'data-tool': tool.name, novalidate: true },
    Object.entries(schema.properties ?? {}).map(([name, s]) => field(tool.name, name, s, required.has(name))),
    submit,
    result,
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    submit.disabled = true;
    mount(result, h('p', { class: 'muted' }, 'Calling…'));
    try {
      const args = readArguments(form, schema);
      const r = await api<{
        durationMs: number;
        result: { content?: { type: string; text?: string }[]; isError?: boolean };
      }>('POST', `/servers/${server}/tools/${encodeURIComponent(tool.name)}/call`, {
        arguments: args,
        ...(change ? { change } : {}),
      });
      const text = (r.result.content ?? []).map((c) => (c.type === 'text' ? c.text : JSON.stringify(c))).join('\n');
      mount(
        result,
        h(
          'p',
          { class: r.result.isError ? 'error' : 'muted' },
          r.result.isError ? 'The tool returned an error' : `Result in ${r.durationMs} ms`,
        ),
        codeBlock(text || JSON.stringify(r.result, null, 2), `result of ${tool.name}`),
      );
    } catch (err) {
      mount(result, h('p', { class: 'error', role: 'alert' }, (err as Error).message));
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

/** A tool picker with the try-it form of the picked tool. */
export function tryPanel(server: string, tools: ToolView[], change?: number): HTMLElement {
  const holder = h('div');
  const id = `tool-pick-${change ?? 'prod'}`;
  const select = h(
    'select',
    { id },
    tools.map((t) => h('option', { value: t.name }, t.name)),
  );
  const show = () => {
    const tool = tools.find((t) => t.name === select.value);
    if (tool) mount(holder, h('p', { class: 'muted' }, tool.description), tryForm(server, tool, change));
  };
  select.addEventListener('change', show);
  show();
  return h(
    'div',
    { class: 'try-panel stack' },
    h('div', { class: 'field' }, h('label', { for: id }, 'Tool'), select),
    holder,
  );
}
