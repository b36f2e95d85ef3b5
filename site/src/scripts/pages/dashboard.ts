/** /dashboard: servers by status, recent deploys and changes. */
import { api, type ChangeView, type ServerView, serverStatus } from '../lib/api.ts';
import { ago, byId, errorBox, h, mount, pill, short, skeleton } from '../lib/dom.ts';

async function load(): Promise<void> {
  mount(byId('server-list'), skeleton());
  mount(byId('recent'), skeleton());
  try {
    const { servers } = await api<{ servers: ServerView[] }>('GET', '/servers');
    const counts = { live: 0, building: 0, failed: 0, draft: 0 };
    for (const s of servers) counts[serverStatus(s)]++;
    mount(
      byId('status-counts'),
      Object.entries(counts).map(([status, n]) =>
        h(
          'div',
          { class: 'card' },
          pill(status),
          h('p', { class: 'big' }, h('strong', {}, n), ` server${n === 1 ? '' : 's'}`),
        ),
      ),
    );
    mount(
      byId('server-list'),
      servers.length === 0
        ? h(
            'div',
            { class: 'card' },
            h('p', {}, 'No servers yet.'),
            h('a', { class: 'button primary', href: '/servers/new/' }, 'Create your first server'),
          )
        : h(
            'ul',
            { class: 'plain' },
            servers.map((s) =>
              h(
                'li',
                { class: 'row spread card' },
                h('a', { href: `/servers/${s.name}/` }, s.name),
                pill(serverStatus(s)),
              ),
            ),
          ),
    );
    const details = await Promise.all(
      servers.slice(0, 20).map(async (s) => {
        const [full, changes] = await Promise.all([
          api<ServerView>('GET', `/servers/${s.name}`),
          api<{ changes: ChangeView[] }>('GET', `/servers/${s.name}/changes`),
        ]);
        return { s: full, changes: changes.changes };
      }),
    );
    const events = details.flatMap(({ s, changes }) => [
      ...s.history.map((d) => ({
        at: d.startedAt,
        node: h(
          'li',
          {},
          h('a', { href: `/servers/${s.name}/` }, s.name),
          ` deploy ${short(d.revision)} `,
          h('span', { class: 'muted' }, `${d.state} · ${ago(d.startedAt)}`),
        ),
      })),
      ...changes.map((c) => ({
        at: c.updatedAt,
        node: h(
          'li',
          {},
          h('a', { href: `/servers/${s.name}/changes/${c.number}/` }, `${s.name} #${c.number}`),
          ` ${c.title} `,
          h('span', { class: 'muted' }, `${c.state} · ${ago(c.updatedAt)}`),
        ),
      })),
    ]);
    events.sort((a, b) => b.at.localeCompare(a.at));
    mount(
      byId('recent'),
      events.length
        ? h(
            'ul',
            { class: 'plain stack' },
            events.slice(0, 15).map((e) => e.node),
          )
        : h('p', { class: 'muted' }, 'Nothing yet.'),
    );
  } catch (err) {
    mount(byId('server-list'), errorBox((err as Error).message));
    mount(byId('recent'));
  }
}

void load();
