/** The server page's Views tab: pick one of the nine patterns and the tool that feeds it; the result is a change. */
import { api, type ChangeView } from './api.ts';
import { errorBox, h, mount } from './dom.ts';

interface Pattern {
  name: string;
  title: string;
}

/** The Views panel of a server: a pattern, a tool, and "Open a change". */
export function viewsPanel(server: string, tools: Promise<string[]>): HTMLElement {
  const patterns = h('fieldset', { class: 'stack' }, h('legend', {}, 'Pattern'));
  const tool = h('select', { id: 'view-tool', required: true });
  const out = h('div', { 'aria-live': 'polite' });
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Open a change');
  const form = h(
    'form',
    { class: 'stack', id: 'views-form' },
    h(
      'p',
      { class: 'hint' },
      'A view is an interface hosts with MCP Apps show beside a tool’s result. The platform renders a first version from the pattern, fed by the tool you pick, as a change: review it, preview it, merge it.',
    ),
    patterns,
    h('div', { class: 'field' }, h('label', { for: 'view-tool' }, 'Tool that feeds it'), tool),
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
    },
    (err: unknown) => mount(out, errorBox((err as Error).message)),
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const pattern = (form.elements.namedItem('pattern') as RadioNodeList).value;
    submit.disabled = true;
    mount(out);
    try {
      const change = await api<ChangeView>('POST', `/servers/${server}/views`, { pattern, tool: tool.value });
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
