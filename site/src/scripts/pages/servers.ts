/** /servers: every server with its status, URL, calls in the last 24 h, open changes and last deploy; search and filter. */
import { api, type ChangeView, type ServerView, serverStatus } from '../lib/api.ts';
import { ago, byId, copyButton, errorBox, h, mount, pill, short, skeleton } from '../lib/dom.ts';

interface Row {
  s: ServerView;
  open: number;
  /** Calls in the last 24 hours (the list's `calls24h`). */
  calls: number | undefined;
}

let rows: Row[] = [];

function render(): void {
  const q = byId<HTMLInputElement>('search').value.trim().toLowerCase();
  const status = byId<HTMLSelectElement>('status-filter').value;
  const shown = rows.filter((r) => (!q || r.s.name.includes(q)) && (!status || serverStatus(r.s) === status));
  mount(
    byId('servers'),
    rows.length === 0
      ? h('p', { class: 'card' }, 'No servers yet. ', h('a', { href: '/servers/new/' }, 'Create one'), '.')
      : h(
          'table',
          { class: 'list' },
          h('caption', { class: 'visually-hidden' }, 'Servers'),
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              ['Name', 'Status', 'URL', 'Calls (24 h)', 'Open changes', 'Last deploy'].map((t) =>
                h('th', { scope: 'col' }, t),
              ),
            ),
          ),
          h(
            'tbody',
            {},
            shown.map(({ s, open, calls }) => {
              const last = s.history[0];
              return h(
                'tr',
                {},
                h('td', {}, h('a', { href: `/servers/${s.name}/` }, s.name)),
                h('td', {}, pill(serverStatus(s))),
                h(
                  'td',
                  {},
                  h(
                    'div',
                    { class: 'row' },
                    h('code', { class: 'small' }, s.url),
                    copyButton(s.url, `Copy URL of ${s.name}`),
                  ),
                ),
                h(
                  'td',
                  { class: 'num', 'data-calls': calls ?? '' },
                  calls === undefined
                    ? '—'
                    : h('a', { href: `/servers/${s.name}/?tab=metrics&period=day` }, calls.toLocaleString()),
                ),
                h('td', {}, open > 0 ? h('a', { href: `/servers/${s.name}/?tab=changes` }, String(open)) : '0'),
                h(
                  'td',
                  { class: 'muted' },
                  last ? `${short(last.revision)} · ${last.state} · ${ago(last.startedAt)}` : '—',
                ),
              );
            }),
            shown.length === 0 ? h('tr', {}, h('td', { colspan: 6, class: 'muted' }, 'No server matches.')) : null,
          ),
        ),
  );
}

async function load(): Promise<void> {
  mount(byId('servers'), skeleton(4));
  try {
    const { servers } = await api<{ servers: (ServerView & { calls24h?: number })[] }>('GET', '/servers');
    rows = await Promise.all(
      servers.map(async (s) => {
        const [full, changes] = await Promise.all([
          api<ServerView>('GET', `/servers/${s.name}`),
          api<{ changes: ChangeView[] }>('GET', `/servers/${s.name}/changes?state=open`),
        ]);
        return { s: full, open: changes.changes.length, calls: s.calls24h };
      }),
    );
    render();
  } catch (err) {
    mount(byId('servers'), errorBox((err as Error).message));
  }
}

byId('search').addEventListener('input', render);
byId('status-filter').addEventListener('change', render);
void load();
