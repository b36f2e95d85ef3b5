/** /dashboard: usage against the plan, servers by status, recent deploys and changes. */
import { api, type ChangeView, type ServerView, serverStatus, type UsageView } from '../lib/api.ts';
import { ago, byId, errorBox, h, mount, pill, short, skeleton } from '../lib/dom.ts';

const count = new Intl.NumberFormat('en');

/** The month's calls against the plan's quota (a bar when there is one), and each server's figures. */
async function loadUsage(): Promise<void> {
  const box = byId('usage');
  mount(box, skeleton(2));
  try {
    const u = await api<UsageView>('GET', '/usage');
    const resets = new Date(u.period.to).toLocaleDateString('en', { day: 'numeric', month: 'long', timeZone: 'UTC' });
    const quota = u.quota;
    const share = quota ? Math.min(1, u.calls / quota) : 0;
    mount(
      box,
      h(
        'div',
        { class: 'card stack', id: 'usage-card' },
        h(
          'p',
          { class: 'row spread' },
          h(
            'span',
            {},
            h('strong', {}, `${u.plan.name} plan`),
            ' · ',
            `${count.format(u.calls)} tool call${u.calls === 1 ? '' : 's'}`,
          ),
          h(
            'span',
            { class: 'muted' },
            quota === null ? 'no monthly limit' : `of ${count.format(quota)} · resets ${resets} (UTC)`,
          ),
        ),
        quota === null
          ? null
          : h('progress', {
              id: 'usage-bar',
              max: String(quota),
              value: String(Math.min(u.calls, quota)),
              'aria-label': `${Math.round(share * 100)}% of the monthly tool calls used`,
            }),
        quota !== null && u.calls >= quota
          ? h(
              'p',
              { class: 'error', role: 'alert' },
              `The ${u.plan.name} plan's ${count.format(quota)} tool calls this month are used up: calls are refused (429) until ${resets}. A larger plan raises the limit.`,
            )
          : null,
        h(
          'p',
          { class: 'muted' },
          `Servers: ${u.servers.count}${u.servers.limit === null ? '' : ` of ${u.servers.limit}`}`,
        ),
        u.byServer.length === 0
          ? null
          : h(
              'table',
              { class: 'list' },
              h(
                'thead',
                {},
                h(
                  'tr',
                  {},
                  h('th', {}, 'Server'),
                  h('th', {}, 'Tool calls'),
                  h('th', {}, 'Requests'),
                  h('th', {}, 'Errors'),
                ),
              ),
              h(
                'tbody',
                {},
                u.byServer.map((s) =>
                  h(
                    'tr',
                    {},
                    h('td', {}, s.server ?? h('span', { class: 'muted' }, '(deleted)')),
                    h('td', {}, count.format(s.calls)),
                    h('td', {}, count.format(s.requests)),
                    h('td', {}, count.format(s.errors)),
                  ),
                ),
              ),
            ),
      ),
    );
  } catch (err) {
    mount(box, errorBox((err as Error).message));
  }
}

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

void loadUsage();
void load();
