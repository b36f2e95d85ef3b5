/** /servers/<name>/: overview (conditions, history, roll back, install), tools, logs, metrics, changes, iterate, views, secrets, domains, settings. */
import {
  api,
  type ChangeView,
  type Condition,
  changeStatus,
  type ServerView,
  serverStatus,
  type ToolView,
} from '../lib/api.ts';
import { ago, announce, byId, codeBlock, errorBox, h, mount, pill, short, skeleton } from '../lib/dom.ts';
import { domainsPanel } from '../lib/domains.ts';
import { installSnippets } from '../lib/install.ts';
import { iteratePanel } from '../lib/iterate.ts';
import { logsPanel } from '../lib/logs.ts';
import { metricsPanel } from '../lib/metrics.ts';
import { tryPanel } from '../lib/tryit.ts';
import { viewsPanel } from '../lib/views.ts';

const name = decodeURIComponent(location.pathname.split('/')[2] ?? '');
const TABS = [
  'overview',
  'tools',
  'logs',
  'metrics',
  'changes',
  'iterate',
  'views',
  'secrets',
  'domains',
  'settings',
] as const;
type Tab = (typeof TABS)[number];
const tab: Tab = (TABS as readonly string[]).includes(new URLSearchParams(location.search).get('tab') ?? '')
  ? (new URLSearchParams(location.search).get('tab') as Tab)
  : 'overview';
const panel = byId('panel');

document.title = `${name} · BuildMyMCPServer`;
byId('server-name').textContent = name;
mount(
  byId('tabs'),
  TABS.map((t) =>
    h('a', { href: `?tab=${t}`, 'aria-current': t === tab ? 'page' : false }, t[0]?.toUpperCase() + t.slice(1)),
  ),
);

/** A condition in words a person understands; the raw reason stays on hover. */
const WORDS: Record<string, string> = {
  Serving: 'Serving requests',
  CheckingRevision: 'Checking the newest revision',
  ChecksFailed: 'The newest revision failed its checks',
  Deploying: 'Deploying a new revision',
  RollingUpdate: 'Switching to a new revision',
  ConfigChanged: 'Restarting with new settings or secrets',
  InstanceCrashed: 'The server crashed and is restarting',
  CrashLoopRollback: 'Crashed repeatedly: rolled back to the last healthy revision',
  RolledBack: 'Serving an earlier revision',
  RollingBack: 'Rolling back to the last healthy revision',
  ScaledToZero: 'Asleep: wakes on the next call',
  NoRevision: 'Nothing merged yet',
  NoManifest: 'Nothing to deploy yet',
  Restarting: 'Restarting',
};
function conditionRow(c: Condition): HTMLElement {
  const ok = c.status === 'True';
  const bad = (c.type === 'Degraded' || c.type === 'Stalled') && ok;
  return h(
    'li',
    { class: 'row' },
    h(
      'span',
      { class: `pill pill-${bad ? 'failed' : ok && c.type === 'Ready' ? 'live' : ok ? 'building' : 'draft'}` },
      h('span', { class: 'dot', 'aria-hidden': 'true' }),
      `${c.type}: ${ok ? 'yes' : 'no'}`,
    ),
    h(
      'span',
      { title: `${c.reason}: ${c.message}` },
      WORDS[c.reason] ?? c.message,
      h('span', { class: 'visually-hidden' }, ` (${c.reason}: ${c.message})`),
    ),
  );
}

async function overview(s: ServerView): Promise<void> {
  const current = s.observedRevision;
  const rollback = async (revision: string, button: HTMLButtonElement) => {
    if (!confirm(`Roll back ${name} to ${short(revision)}? A revert commit is added to main and deployed.`)) return;
    button.disabled = true;
    try {
      const r = await api<{ sha: string }>('POST', `/servers/${name}/rollback`, { revision });
      announce(`Rolled back: revert commit ${short(r.sha)} is deploying`);
      await render();
    } catch (err) {
      button.disabled = false;
      button.after(errorBox((err as Error).message));
    }
  };
  const seen = new Set<string>();
  mount(
    panel,
    h(
      'div',
      { class: 'split' },
      h(
        'div',
        { class: 'stack' },
        h('h2', {}, 'Status'),
        h('ul', { class: 'plain stack', id: 'conditions' }, s.conditions.map(conditionRow)),
        h('h2', {}, 'Deployment history'),
        s.history.length === 0
          ? h('p', { class: 'muted' }, 'No deploys yet: merge a change with green checks.')
          : h(
              'div',
              { class: 'table-wrap' },
              h(
                'table',
                { class: 'list', id: 'history' },
                h(
                  'thead',
                  {},
                  h(
                    'tr',
                    {},
                    ['Revision', 'State', 'When', ''].map((t) => h('th', { scope: 'col' }, t)),
                  ),
                ),
                h(
                  'tbody',
                  {},
                  s.history.map((d) => {
                    // Every revision that once served (and is not what serves now) can be rolled back to.
                    const served = d.state === 'succeeded' || d.state === 'superseded';
                    const earlier = served && d.revision !== current && !seen.has(d.revision);
                    if (served) seen.add(d.revision);
                    const button = h('button', { type: 'button', class: 'small' }, 'Roll back to this');
                    button.addEventListener('click', () => void rollback(d.revision, button));
                    return h(
                      'tr',
                      { 'data-revision': d.revision },
                      h(
                        'td',
                        {},
                        h('code', {}, short(d.revision)),
                        d.revision === current ? h('span', { class: 'muted' }, ' (serving)') : '',
                      ),
                      h('td', { title: d.message ?? '' }, `${d.state}${d.reason ? ` · ${d.reason}` : ''}`),
                      h('td', { class: 'muted' }, ago(d.startedAt)),
                      h('td', {}, earlier ? button : ''),
                    );
                  }),
                ),
              ),
            ),
      ),
      h(
        'div',
        { class: 'stack' },
        h('h2', {}, 'Endpoint'),
        codeBlock(s.url, 'MCP URL'),
        h(
          'dl',
          { class: 'small' },
          h('dt', {}, 'Desired revision'),
          h('dd', {}, h('code', {}, short(s.desiredRevision))),
          h('dt', {}, 'Observed revision'),
          h('dd', {}, h('code', {}, short(s.observedRevision))),
          h('dt', {}, s.github ? 'GitHub' : 'Git'),
          h(
            'dd',
            {},
            s.github?.url
              ? h('a', { href: s.github.url, id: 'github-link', rel: 'noopener' }, `${s.github.owner}/${s.github.repo}`)
              : h('code', {}, s.gitUrl),
          ),
        ),
        h('h2', {}, 'Install'),
        installSnippets(s.name, s.url).map((snip) =>
          h(
            'div',
            { class: 'install' },
            h('h3', {}, snip.client),
            codeBlock(snip.text, `${snip.client} install`),
            snip.link ? h('a', { class: 'button', href: snip.link.href }, snip.link.label) : null,
          ),
        ),
      ),
    ),
  );
}

async function tools(): Promise<void> {
  const r = await api<{ revision: string | null; tools: ToolView[] }>('GET', `/servers/${name}/tools`);
  if (r.tools.length === 0) return mount(panel, h('p', { class: 'muted' }, 'No tools deployed yet.'));
  mount(
    panel,
    h('p', { class: 'muted' }, `Tools of ${short(r.revision)}. Calls go to production.`),
    r.tools.map((t) =>
      h(
        'details',
        { class: 'diff-file tool', 'data-tool': t.name },
        h('summary', {}, h('span', {}, t.name), h('span', { class: 'muted' }, t.title ?? '')),
        h(
          'div',
          { class: 'card stack' },
          h('p', {}, t.description),
          codeBlock(JSON.stringify(t.inputSchema, null, 2), `${t.name} input schema`),
          tryPanel(name, [t]),
        ),
      ),
    ),
  );
}

/** The names of the deployed tools (none when the server has none yet). */
const toolNames = () =>
  api<{ tools: ToolView[] }>('GET', `/servers/${name}/tools`).then(
    (r) => r.tools.map((t) => t.name),
    () => [],
  );

async function changes(): Promise<void> {
  const r = await api<{ changes: ChangeView[] }>('GET', `/servers/${name}/changes`);
  mount(
    panel,
    r.changes.length === 0
      ? h('p', { class: 'muted' }, 'No changes yet.')
      : h(
          'div',
          { class: 'table-wrap' },
          h(
            'table',
            { class: 'list' },
            h(
              'thead',
              {},
              h(
                'tr',
                {},
                ['#', 'Title', 'Status', 'Branch', 'Updated'].map((t) => h('th', { scope: 'col' }, t)),
              ),
            ),
            h(
              'tbody',
              {},
              r.changes.map((c) =>
                h(
                  'tr',
                  {},
                  h('td', {}, h('a', { href: `/servers/${name}/changes/${c.number}/` }, `#${c.number}`)),
                  h('td', {}, c.title),
                  h('td', {}, pill(changeStatus(c))),
                  h('td', {}, h('code', {}, c.branch)),
                  h('td', { class: 'muted' }, ago(c.updatedAt)),
                ),
              ),
            ),
          ),
        ),
  );
}

async function secrets(): Promise<void> {
  const r = await api<{ secrets: { name: string; updatedAt?: string }[]; missing: string[] }>(
    'GET',
    `/servers/${name}/secrets`,
  );
  const names = [...r.missing, ...r.secrets.map((s) => s.name)];
  const row = (secret: string, missing: boolean) => {
    const id = `secret-${secret}`;
    const input = h('input', { id, type: 'password', autocomplete: 'off', 'aria-describedby': `${id}-state` });
    const error = h('p', { class: 'field-error', 'aria-live': 'polite' });
    const save = h('button', { type: 'submit', class: missing ? 'primary' : '' }, missing ? 'Set' : 'Replace');
    const form = h(
      'form',
      { class: `card stack secret${missing ? ' missing' : ''}`, 'data-secret': secret },
      h(
        'div',
        { class: 'row spread' },
        h('label', { for: id }, h('code', {}, secret)),
        h(
          'span',
          { id: `${id}-state`, class: missing ? 'error' : 'muted' },
          missing ? 'missing: the server needs it' : 'set (value hidden)',
        ),
      ),
      input,
      error,
      h(
        'div',
        { class: 'row' },
        save,
        missing
          ? null
          : h(
              'button',
              {
                type: 'button',
                class: 'danger',
                onclick: (async () => {
                  if (!confirm(`Delete secret ${secret}?`)) return;
                  try {
                    await api('DELETE', `/servers/${name}/secrets/${secret}`);
                    await secrets();
                  } catch (err) {
                    error.textContent = (err as Error).message;
                  }
                }) as EventListener,
              },
              'Delete',
            ),
      ),
    );
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      error.textContent = '';
      try {
        await api('PUT', `/servers/${name}/secrets/${secret}`, { value: input.value });
        announce(`${secret} saved`);
        await secrets();
      } catch (err) {
        error.textContent = (err as Error).message;
        input.focus();
      }
    });
    return form;
  };
  const newName = h('input', { id: 'new-secret-name', type: 'text', pattern: '[A-Z][A-Z0-9_]*' });
  mount(
    panel,
    h('p', { class: 'muted' }, 'Values are encrypted at rest and never shown again.'),
    names.length === 0 ? h('p', { class: 'muted' }, 'This server declares no secrets.') : null,
    r.missing.map((n) => row(n, true)),
    r.secrets.map((s) => row(s.name, false)),
    h(
      'form',
      {
        class: 'row',
        onsubmit: ((e: Event) => {
          e.preventDefault();
          if (newName.value) panel.append(row(newName.value, true));
        }) as EventListener,
      },
      h('label', { for: 'new-secret-name' }, 'Another secret'),
      newName,
      h('button', { type: 'submit' }, 'Add'),
    ),
  );
}

async function settings(): Promise<void> {
  const publishError = h('p', { class: 'field-error', 'aria-live': 'polite' });
  const visibility = h(
    'select',
    { id: 'visibility' },
    h('option', { value: 'org' }, 'My organization'),
    h('option', { value: 'public' }, 'Public (every org may fork it)'),
  );
  const confirmName = h('input', { id: 'confirm-name', type: 'text', autocomplete: 'off' });
  const deleteButton = h('button', { type: 'submit', class: 'danger', disabled: true }, `Delete ${name}`);
  confirmName.addEventListener('input', () => {
    deleteButton.disabled = confirmName.value !== name;
  });
  const deleteError = h('p', { class: 'field-error', 'aria-live': 'polite' });
  mount(
    panel,
    h('h2', {}, 'Publish as a template'),
    h(
      'form',
      {
        class: 'card stack',
        onsubmit: (async (e: Event) => {
          e.preventDefault();
          publishError.textContent = '';
          try {
            const t = await api<{ ref?: string }>('POST', `/servers/${name}/publish`, { visibility: visibility.value });
            announce(`Published${t.ref ? ` as ${t.ref}` : ''}`);
            publishError.textContent = `Published${t.ref ? ` as ${t.ref}` : ''}.`;
          } catch (err) {
            publishError.textContent = (err as Error).message;
          }
        }) as EventListener,
      },
      h('div', { class: 'field' }, h('label', { for: 'visibility' }, 'Who may fork it'), visibility),
      h('button', { type: 'submit' }, 'Publish'),
      publishError,
    ),
    h('h2', {}, 'Delete this server'),
    h(
      'form',
      {
        class: 'card stack',
        onsubmit: (async (e: Event) => {
          e.preventDefault();
          try {
            await api('DELETE', `/servers/${name}`);
            location.assign('/servers/');
          } catch (err) {
            deleteError.textContent = (err as Error).message;
          }
        }) as EventListener,
      },
      h('p', {}, 'This removes the repository, its changes, its secrets and its deploys.'),
      h('div', { class: 'field' }, h('label', { for: 'confirm-name' }, `Type ${name} to confirm`), confirmName),
      deleteButton,
      deleteError,
    ),
  );
}

let timer: ReturnType<typeof setTimeout> | undefined;
async function render(): Promise<void> {
  clearTimeout(timer);
  try {
    const s = await api<ServerView>('GET', `/servers/${name}`);
    mount(byId('server-status'), pill(serverStatus(s)));
    if (tab === 'overview') {
      await overview(s);
      // Live status while something is moving.
      if (serverStatus(s) === 'building' || s.desiredRevision !== s.observedRevision)
        timer = setTimeout(() => void render(), 2000);
    }
  } catch (err) {
    mount(panel, errorBox((err as Error).message));
  }
}

async function start(): Promise<void> {
  mount(panel, skeleton(5));
  try {
    if (tab === 'overview') return await render();
    void render().catch(() => undefined);
    if (tab === 'tools') await tools();
    else if (tab === 'logs' || tab === 'metrics') {
      // These panels update on their own: announcing each change of the whole panel would drown a screen reader.
      panel.removeAttribute('aria-live');
      mount(panel, tab === 'logs' ? logsPanel(name, toolNames()) : metricsPanel(name));
    } else if (tab === 'changes') await changes();
    else if (tab === 'iterate') mount(panel, iteratePanel(name));
    else if (tab === 'views') mount(panel, viewsPanel(name, toolNames()));
    else if (tab === 'secrets') await secrets();
    else if (tab === 'domains') mount(panel, domainsPanel(name));
    else await settings();
  } catch (err) {
    mount(panel, errorBox((err as Error).message));
  }
}

void start();
