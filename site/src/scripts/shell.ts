/** Every dashboard page: the signed-in user, sign-out, and the command palette (Ctrl/Cmd+K). */
import { api, type ChangeView, currentSession, type ServerView, toSignIn } from './lib/api.ts';
import { byId, h, mount } from './lib/dom.ts';

interface Item {
  label: string;
  hint: string;
  href: string;
}

const ACTIONS: Item[] = [
  { label: 'New server', hint: 'action', href: '/servers/new/' },
  { label: 'All servers', hint: 'page', href: '/servers/' },
  { label: 'API keys', hint: 'settings', href: '/settings/#keys' },
  { label: 'Members and invitations', hint: 'settings', href: '/settings/#members' },
  { label: 'Connected apps', hint: 'settings', href: '/settings/#clients' },
  { label: 'Dashboard documentation', hint: 'docs', href: '/docs/dashboard/' },
];

async function start(): Promise<void> {
  const session = await currentSession();
  if (!session) toSignIn();
  byId('user-email').textContent = session.user.email;
  byId('user-email').title = session.user.email;
  byId('sign-out').addEventListener('click', async () => {
    await fetch('/auth/logout', {
      method: 'POST',
      headers: { 'x-csrf-token': session.csrfToken },
      credentials: 'same-origin',
    });
    location.assign('/signin/');
  });
}

let items: Item[] | undefined;
async function loadItems(): Promise<Item[]> {
  if (items) return items;
  const { servers } = await api<{ servers: ServerView[] }>('GET', '/servers');
  const found: Item[] = [...ACTIONS];
  for (const s of servers) found.push({ label: s.name, hint: 'server', href: `/servers/${s.name}/` });
  const changes = await Promise.all(
    servers.slice(0, 25).map((s) =>
      api<{ changes: ChangeView[] }>('GET', `/servers/${s.name}/changes?state=open`)
        .then((r) =>
          r.changes.map((c) => ({
            label: `${s.name} #${c.number} ${c.title}`,
            hint: 'change',
            href: `/servers/${s.name}/changes/${c.number}/`,
          })),
        )
        .catch(() => []),
    ),
  );
  items = [...found, ...changes.flat()];
  return items;
}

function palette(): void {
  const dialog = byId<HTMLDialogElement>('palette');
  const input = byId<HTMLInputElement>('palette-input');
  const list = byId('palette-list');
  let shown: Item[] = [];
  let active = 0;
  const render = () => {
    const q = input.value.trim().toLowerCase();
    shown = (items ?? ACTIONS).filter((i) => !q || `${i.label} ${i.hint}`.toLowerCase().includes(q)).slice(0, 30);
    active = Math.min(active, Math.max(0, shown.length - 1));
    mount(
      list,
      shown.length === 0
        ? h('li', { class: 'muted' }, 'Nothing matches')
        : shown.map((item, i) =>
            h(
              'li',
              { role: 'option', id: `palette-${i}`, 'aria-selected': i === active ? 'true' : 'false' },
              h('a', { href: item.href, tabindex: -1 }, item.label),
              h('span', { class: 'muted' }, item.hint),
            ),
          ),
    );
    input.setAttribute('aria-activedescendant', shown.length ? `palette-${active}` : '');
  };
  const open = async () => {
    if (!dialog.open) dialog.showModal();
    input.value = '';
    active = 0;
    render();
    input.focus();
    await loadItems().catch(() => undefined);
    render();
  };
  byId('palette-open').addEventListener('click', () => void open());
  document.addEventListener('keydown', (e) => {
    if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === 'k') {
      e.preventDefault();
      void open();
    }
  });
  input.addEventListener('input', () => {
    active = 0;
    render();
  });
  input.addEventListener('keydown', (e) => {
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      e.preventDefault();
      active = (active + (e.key === 'ArrowDown' ? 1 : -1) + shown.length) % Math.max(1, shown.length);
      render();
    } else if (e.key === 'Enter' && shown[active]) {
      e.preventDefault();
      location.assign(shown[active].href);
    }
  });
  dialog.addEventListener('click', (e) => {
    if (e.target === dialog) dialog.close();
  });
}

palette();
void start();
