/** /servers/new/: from a template, a prompt or an OpenAPI document; each ends on the new change's review page. */
import { ApiError, api, type JsonSchema } from '../lib/api.ts';
import { byId, errorBox, h, mount, skeleton } from '../lib/dom.ts';
import { follow, type GenerationView } from '../lib/iterate.ts';
import { field, readArguments } from '../lib/tryit.ts';

const way = new URLSearchParams(location.search).get('from') ?? 'template';
const wizard = byId('wizard');
for (const w of ['template', 'prompt', 'openapi']) if (w === way) byId(`way-${w}`).setAttribute('aria-current', 'page');

interface Template {
  kind: 'builtin' | 'published';
  name: string;
  title?: string;
  description: string | null;
  options?: JsonSchema | null;
  id?: string;
}

const nameField = (id: string) =>
  h(
    'div',
    { class: 'field' },
    h('label', { for: id }, 'Server name'),
    h('input', {
      id,
      name: 'name',
      type: 'text',
      required: true,
      autocomplete: 'off',
      pattern: '[a-z][a-z0-9-]{2,39}',
      'aria-describedby': `${id}-hint ${id}-error`,
    }),
    h('p', { class: 'hint', id: `${id}-hint` }, '3–40 lowercase letters, digits and hyphens; it becomes the URL.'),
    h('p', { class: 'field-error', id: `${id}-error`, 'aria-live': 'polite' }),
  );

/** Shows an API error next to its field (name errors next to the name), else under the form. */
function showError(form: HTMLElement, err: unknown): void {
  const message = err instanceof Error ? err.message : String(err);
  const code = err instanceof ApiError ? err.code : '';
  const nameError = form.querySelector<HTMLElement>('[id$="name-error"]');
  if (nameError && (code === 'invalid_name' || code === 'name_taken')) {
    nameError.textContent = message;
    form.querySelector<HTMLInputElement>('input[name="name"]')?.focus();
    return;
  }
  const box =
    form.querySelector('.form-error') ?? form.appendChild(h('p', { class: 'form-error error', role: 'alert' }));
  box.textContent = message;
}

const goToChange = (server: string, n: number) => location.assign(`/servers/${server}/changes/${n}/`);

async function fromTemplate(): Promise<void> {
  mount(wizard, skeleton(4));
  const { templates } = await api<{ templates: Template[] }>('GET', '/templates');
  const list = h('div', { class: 'grid', role: 'radiogroup', 'aria-label': 'Template' });
  const optionsHolder = h('div');
  const form = h(
    'form',
    { class: 'stack', id: 'template-form', novalidate: true },
    nameField('server-name'),
    h('h2', {}, 'Template'),
    list,
    optionsHolder,
    h('button', { type: 'submit', class: 'primary' }, 'Create server'),
  );
  // Arriving from the gallery's "Use this template": that one is chosen.
  const wanted = new URLSearchParams(location.search).get('template');
  const first = Math.max(
    0,
    templates.findIndex((t) => t.name === wanted),
  );
  let chosen: Template | undefined;
  const choose = (t: Template) => {
    chosen = t;
    const props = t.options?.properties ?? {};
    const required = new Set(t.options?.required ?? []);
    mount(
      optionsHolder,
      Object.keys(props).length
        ? [h('h2', {}, 'Options'), Object.entries(props).map(([k, s]) => field('opt', k, s, required.has(k)))]
        : null,
    );
  };
  templates.forEach((t, i) => {
    const id = `tpl-${i}`;
    const radio = h('input', {
      type: 'radio',
      name: 'template',
      id,
      value: t.name,
      ...(i === first ? { checked: true } : {}),
    });
    radio.addEventListener('change', () => choose(t));
    list.append(
      h(
        'label',
        { class: 'card', for: id },
        h(
          'span',
          { class: 'row' },
          radio,
          h('strong', {}, t.title ?? t.name),
          t.kind === 'published' ? h('span', { class: 'muted small' }, 'published') : '',
        ),
        h('span', { class: 'muted small' }, t.description ?? ''),
      ),
    );
  });
  const start = templates[first];
  if (start) choose(start);
  if (wanted && start?.name !== wanted) {
    form.prepend(
      h(
        'p',
        { class: 'error', role: 'alert' },
        `The template “${wanted}” is not available to you: choose another one.`,
      ),
    );
  }
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    form.querySelectorAll('.field-error, .form-error').forEach((el) => {
      el.textContent = '';
    });
    if (!chosen) return;
    const name = (form.elements.namedItem('name') as HTMLInputElement).value.trim();
    try {
      const body =
        chosen.kind === 'published'
          ? { name, from: chosen.id ?? chosen.name }
          : { name, template: chosen.name, options: readArguments(form, chosen.options ?? {}) };
      const r = await api<{ server: { name: string }; change: { number: number } }>('POST', '/servers', body);
      goToChange(r.server.name, r.change.number);
    } catch (err) {
      showError(form, err);
    }
  });
  mount(wizard, form);
}

const EXAMPLES = [
  'A weather server: current conditions and a 3-day forecast for a city, from api.open-meteo.com',
  'Look up a GitHub repository’s open issues and pull requests (needs a GITHUB_TOKEN)',
  'Convert between currencies with today’s rates from api.frankfurter.app',
];

async function fromPrompt(): Promise<void> {
  const prompt = h('textarea', { id: 'prompt', name: 'prompt', required: true, rows: 5 });
  const log = h('ol', { class: 'events stack', 'aria-live': 'polite', id: 'events' });
  const confirmHolder = h('div');
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Generate');
  const form = h(
    'form',
    { class: 'stack', id: 'prompt-form', novalidate: true },
    h('div', { class: 'field' }, h('label', { for: 'prompt' }, 'Describe the server'), prompt),
    h(
      'div',
      { class: 'chips', role: 'group', 'aria-label': 'Examples' },
      EXAMPLES.map((x) =>
        h(
          'button',
          {
            type: 'button',
            onclick: (() => {
              prompt.value = x;
              prompt.focus();
            }) as EventListener,
          },
          x.split(':')[0] ?? x,
        ),
      ),
    ),
    submit,
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    submit.disabled = true;
    log.replaceChildren();
    mount(confirmHolder);
    try {
      const g = await api<GenerationView>('POST', '/generations', { prompt: prompt.value });
      const waiting = await follow(g.id, log, (v) => v.status === 'awaiting_confirmation' || v.change !== null);
      if (waiting.change !== null && waiting.server) return goToChange(waiting.server, waiting.change);
      mount(confirmHolder, confirmForm(waiting));
    } catch (err) {
      showError(form, err);
    } finally {
      submit.disabled = false;
    }
  });
  mount(wizard, form, h('h2', {}, 'Progress'), log, confirmHolder);
}

interface SpecDraft {
  name: string;
  description: string;
  tools: { name: string; description: string; scopes?: string[] }[];
  secrets: string[];
  egress: string[];
  [k: string]: unknown;
}

/** The structured confirmation: tools, secrets (with values to fill), egress hosts and scopes, editable. */
function confirmForm(g: GenerationView): HTMLElement {
  const spec = structuredClone(g.spec) as unknown as SpecDraft;
  const lines = (id: string, label: string, values: string[], hint: string) =>
    h(
      'div',
      { class: 'field' },
      h('label', { for: id }, label),
      h('textarea', { id, rows: Math.max(2, values.length + 1), 'aria-describedby': `${id}-hint` }, values.join('\n')),
      h('p', { class: 'hint', id: `${id}-hint` }, hint),
    );
  const toolRows = spec.tools.map((t, i) =>
    h(
      'fieldset',
      { class: 'card stack' },
      h('legend', {}, h('code', {}, t.name)),
      h(
        'div',
        { class: 'field' },
        h('label', { for: `tool-${i}-desc` }, 'Description'),
        h('textarea', { id: `tool-${i}-desc`, rows: 2 }, t.description),
      ),
      h(
        'div',
        { class: 'field' },
        h('label', { for: `tool-${i}-scopes` }, 'Scopes (space separated)'),
        h('input', { id: `tool-${i}-scopes`, type: 'text', value: (t.scopes ?? []).join(' ') }),
      ),
      h(
        'label',
        { class: 'row' },
        h('input', { type: 'checkbox', id: `tool-${i}-keep`, checked: true }),
        'Keep this tool',
      ),
    ),
  );
  const secretFields = h('div', { id: 'secret-values' });
  const renderSecrets = (names: string[]) =>
    mount(
      secretFields,
      names.map((n) =>
        h(
          'div',
          { class: 'field' },
          h('label', { for: `secret-value-${n}` }, 'Value of ', h('code', {}, n)),
          h('input', { id: `secret-value-${n}`, type: 'password', autocomplete: 'off', 'data-secret': n }),
          h('p', { class: 'hint' }, 'Saved encrypted once the server exists; never shown again.'),
        ),
      ),
    );
  const secretsBox = lines(
    'spec-secrets',
    'Required secrets (one name a line)',
    spec.secrets,
    'Names only: values go below.',
  );
  secretsBox
    .querySelector('textarea')
    ?.addEventListener('input', (e) => renderSecrets(split((e.target as HTMLTextAreaElement).value)));
  renderSecrets(spec.secrets);
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Confirm and open the change');
  const form = h(
    'form',
    { class: 'stack', id: 'confirm-form', novalidate: true },
    h('h2', {}, 'Confirm'),
    nameField('spec-name'),
    h(
      'div',
      { class: 'field' },
      h('label', { for: 'spec-description' }, 'Description'),
      h('textarea', { id: 'spec-description', rows: 2 }, spec.description),
    ),
    h('h3', {}, 'Tools'),
    toolRows,
    secretsBox,
    secretFields,
    lines('spec-egress', 'Egress hosts (one a line)', spec.egress, 'The only hosts the server may reach.'),
    submit,
  );
  (form.querySelector('#spec-name') as HTMLInputElement).value = spec.name;
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    form.querySelectorAll('.field-error, .form-error').forEach((el) => {
      el.textContent = '';
    });
    const value = (id: string) => (form.querySelector(`#${id}`) as HTMLInputElement | HTMLTextAreaElement).value;
    const edited: SpecDraft = {
      ...spec,
      name: value('spec-name').trim(),
      description: value('spec-description'),
      tools: spec.tools
        .map((t, i) => ({
          ...t,
          description: value(`tool-${i}-desc`),
          scopes: split(value(`tool-${i}-scopes`)),
          keep: (form.querySelector(`#tool-${i}-keep`) as HTMLInputElement).checked,
        }))
        .filter((t) => t.keep)
        .map(({ keep: _keep, ...t }) => t),
      secrets: split(value('spec-secrets')),
      egress: split(value('spec-egress')),
    };
    if (edited.tools.every((t) => (t.scopes ?? []).length === 0)) for (const t of edited.tools) delete t.scopes;
    submit.disabled = true;
    try {
      await api('POST', `/generations/${g.id}/confirm`, { spec: edited });
      const done = await follow(g.id, byId('events'), (v) => v.change !== null);
      for (const input of form.querySelectorAll<HTMLInputElement>('input[data-secret]')) {
        if (input.value)
          await api('PUT', `/servers/${edited.name}/secrets/${input.dataset.secret}`, { value: input.value });
      }
      goToChange(edited.name, done.change ?? 1);
    } catch (err) {
      showError(form, err);
      submit.disabled = false;
    }
  });
  return form;
}

const split = (text: string) =>
  text
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter(Boolean);

interface Operation {
  id: string;
  method: string;
  path: string;
  summary?: string;
}

async function fromOpenApi(): Promise<void> {
  const file = h('input', { id: 'oa-file', type: 'file', accept: '.json,.yaml,.yml,application/json' });
  const text = h('textarea', { id: 'oa-text', rows: 8, placeholder: '{"openapi": "3.1.0", …}' });
  const url = h('input', { id: 'oa-url', type: 'url', placeholder: 'https://…/openapi.json' });
  const picker = h('div', { id: 'oa-picker' });
  const errorAt = h('div', { class: 'error', id: 'oa-error', role: 'alert' });
  let document: unknown;
  let limit = 0;
  let operations: Operation[] = [];
  const selected = new Set<string>();
  const renderPicker = (q = '') => {
    const shown = operations
      .filter((o) => !q || `${o.id} ${o.method} ${o.path} ${o.summary ?? ''}`.toLowerCase().includes(q.toLowerCase()))
      .slice(0, 200);
    const count = h('p', { class: 'muted', 'aria-live': 'polite' }, `${selected.size} of at most ${limit} selected`);
    const list = h(
      'ul',
      { class: 'plain', id: 'oa-ops' },
      shown.map((o) => {
        const id = `op-${o.id}`;
        const box = h('input', { type: 'checkbox', id, value: o.id, ...(selected.has(o.id) ? { checked: true } : {}) });
        box.addEventListener('change', () => {
          if (box.checked && selected.size >= limit) {
            box.checked = false;
            count.textContent = `At most ${limit} operations: unselect one first`;
            return;
          }
          if (box.checked) selected.add(o.id);
          else selected.delete(o.id);
          count.textContent = `${selected.size} of at most ${limit} selected`;
        });
        return h(
          'li',
          {},
          h(
            'label',
            { for: id, class: 'row' },
            box,
            h('code', {}, `${o.method.toUpperCase()} ${o.path}`),
            h('span', { class: 'muted small' }, o.summary ?? o.id),
          ),
        );
      }),
    );
    const search = h('input', { id: 'oa-search', type: 'search', value: q, placeholder: 'Search operations…' });
    search.addEventListener('input', () => {
      const pos = search.value;
      renderPicker(pos);
      (byId('oa-search') as HTMLInputElement).focus();
    });
    mount(
      picker,
      h('h2', {}, 'Operations'),
      h('label', { class: 'visually-hidden', for: 'oa-search' }, 'Search operations'),
      search,
      count,
      list,
    );
  };
  const load = async () => {
    errorAt.textContent = '';
    try {
      if (file.files?.[0]) document = await file.files[0].text();
      else if (text.value.trim()) document = text.value;
      else document = url.value.trim();
      if (typeof document === 'string' && document.trim().startsWith('{')) document = JSON.parse(document);
      const r = await api<{ operations: Operation[]; maxTools: number }>('POST', '/openapi/operations', {
        openapi: document,
      });
      operations = r.operations;
      limit = r.maxTools;
      selected.clear();
      for (const o of operations.slice(0, Math.min(limit, operations.length)))
        if (operations.length <= limit) selected.add(o.id);
      renderPicker();
    } catch (err) {
      const issues =
        err instanceof ApiError && Array.isArray(err.details?.issues)
          ? (err.details.issues as { path: string; message: string }[])
          : [];
      // Each problem with the JSON path it is at, so the document can be fixed where it is wrong.
      mount(
        errorAt,
        (err as Error).message,
        issues.length
          ? h(
              'ul',
              { id: 'oa-issues' },
              issues.map((x) => h('li', {}, h('code', {}, x.path), ` ${x.message}`)),
            )
          : null,
      );
    }
  };
  const form = h(
    'form',
    { class: 'stack', id: 'openapi-form', novalidate: true },
    nameField('oa-name'),
    h('div', { class: 'field' }, h('label', { for: 'oa-file' }, 'Upload a document'), file),
    h('div', { class: 'field' }, h('label', { for: 'oa-text' }, 'or paste it'), text),
    h('div', { class: 'field' }, h('label', { for: 'oa-url' }, 'or its URL'), url),
    h('button', { type: 'button', id: 'oa-load', onclick: (() => void load()) as EventListener }, 'Read the document'),
    errorAt,
    picker,
    h('button', { type: 'submit', class: 'primary' }, 'Create server'),
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    form.querySelectorAll('.field-error, .form-error').forEach((el) => {
      el.textContent = '';
    });
    const name = (form.elements.namedItem('name') as HTMLInputElement).value.trim();
    try {
      if (document === undefined) await load();
      const r = await api<{ server: { name: string }; change: { number: number } }>('POST', '/servers', {
        name,
        openapi: document,
        ...(selected.size ? { operations: [...selected] } : {}),
      });
      goToChange(r.server.name, r.change.number);
    } catch (err) {
      showError(form, err);
    }
  });
  mount(wizard, form);
}

(way === 'prompt' ? fromPrompt() : way === 'openapi' ? fromOpenApi() : fromTemplate()).catch((err) =>
  mount(wizard, errorBox((err as Error).message)),
);
