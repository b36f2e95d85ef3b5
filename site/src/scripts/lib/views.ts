/** The server page's Views tab: pick one of the nine patterns and the tools that feed it; the result is a change. */
import { api, type ChangeView } from './api.ts';
import { errorBox, h, mount } from './dom.ts';

interface Pattern {
  name: string;
  title: string;
}

/**
 * "Also fed by": a checkbox per tool of the server, the one picked as the first tool disabled (the API bounds how
 * many and says so).
 */
function otherTools(first: HTMLSelectElement) {
  const fieldset = h(
    'fieldset',
    { class: 'stack', id: 'view-also', hidden: true },
    h('legend', {}, 'Also fed by'),
    h(
      'p',
      { class: 'hint' },
      'Other tools whose results the view shows. Its fields come from the first tool: each of these must return them too, with the same names and types.',
    ),
  );
  let boxes: HTMLInputElement[] = [];
  const sync = () => {
    for (const box of boxes) {
      box.disabled = box.value === first.value;
      if (box.disabled) box.checked = false;
    }
  };
  first.addEventListener('change', sync);
  return {
    fieldset,
    /** Lists the server's tools (the fieldset shows once there are two). */
    fill(names: string[]): void {
      boxes = names.map((name) => {
        const id = `view-also-${name}`;
        const box = h('input', { type: 'checkbox', name: 'also', value: name, id });
        fieldset.append(h('div', { class: 'choice' }, box, h('label', { for: id }, name)));
        return box;
      });
      fieldset.hidden = names.length < 2;
      sync();
    },
    /** The tools checked, in the server's order. */
    checked: () => boxes.filter((b) => b.checked && !b.disabled).map((b) => b.value),
  };
}

/** The Views panel of a server: a pattern, the tools that feed it, and "Open a change". */
export function viewsPanel(server: string, tools: Promise<string[]>): HTMLElement {
  const patterns = h('fieldset', { class: 'stack' }, h('legend', {}, 'Pattern'));
  const tool = h('select', { id: 'view-tool', required: true });
  const also = otherTools(tool);
  const out = h('div', { 'aria-live': 'polite' });
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Open a change');
  const form = h(
    'form',
    { class: 'stack', id: 'views-form' },
    h(
      'p',
      { class: 'hint' },
      'A view is an interface hosts with MCP Apps show beside a tool’s result. The platform renders a first version from the pattern, fed by the tools you pick, as a change: review it, preview it, merge it.',
    ),
    patterns,
    h('div', { class: 'field' }, h('label', { for: 'view-tool' }, 'Tool that feeds it (its fields)'), tool),
    also.fieldset,
    submit,
    out,
  );
  void Promise.all([api<{ patterns: Pattern[] }>('GET', '/view-patterns'), tools]).then(
    ([list, names]) => {
      for (const [i, p] of list.patterns.entries()) {
        const id = `pattern-${p.name}`;
        const radio = h('input', { type: 'radio', name: 'pattern', value: p.name, id, required: true });
        if (i === 0) radio.checked = true;
        patterns.append(h('div', { class: 'choice' }, radio, h('label', { for: id }, p.title)));
      }
      mount(tool, ...names.map((n) => h('option', { value: n }, n)));
      also.fill(names);
    },
    (err: unknown) => mount(out, errorBox((err as Error).message)),
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const pattern = (form.elements.namedItem('pattern') as RadioNodeList).value;
    submit.disabled = true;
    mount(out);
    try {
      const body = { pattern, tools: [tool.value, ...also.checked()] };
      const change = await api<ChangeView>('POST', `/servers/${server}/views`, body);
      mount(
        out,
        h(
          'a',
          { class: 'button primary', href: `/servers/${server}/changes/${change.number}/` },
          `Review change #${change.number}`,
        ),
      );
    } catch (err) {
      mount(out, errorBox((err as Error).message));
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}
