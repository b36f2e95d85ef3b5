/** /settings/: members, roles and invitations; API keys (the value shown once); connected OAuth clients. */
import { api } from '../lib/api.ts';
import { ago, announce, byId, codeBlock, errorBox, h, mount, skeleton } from '../lib/dom.ts';

const ROLES = ['owner', 'admin', 'developer', 'viewer'];

interface Member {
  userId: string;
  email: string;
  name: string;
  role: string;
  since: string;
}

async function members(): Promise<void> {
  const panel = byId('members-panel');
  mount(panel, skeleton(3));
  const { members } = await api<{ members: Member[] }>('GET', '/org/members');
  const invitations = await api<{ invitations: { id: string; email: string; role: string; expiresAt: string }[] }>(
    'GET',
    '/org/invitations',
  ).catch(() => null);
  const email = h('input', {
    id: 'invite-email',
    type: 'email',
    required: true,
    autocomplete: 'off',
    'aria-describedby': 'invite-error',
  });
  const role = h(
    'select',
    { id: 'invite-role' },
    ROLES.map((r) => h('option', { value: r, ...(r === 'developer' ? { selected: true } : {}) }, r)),
  );
  const error = h('p', { class: 'field-error', id: 'invite-error', 'aria-live': 'polite' });
  const result = h('div', { id: 'invite-result' });
  const invite = h(
    'form',
    { class: 'card stack', id: 'invite-form', novalidate: true },
    h(
      'div',
      { class: 'row' },
      h('div', { class: 'field' }, h('label', { for: 'invite-email' }, 'Email'), email),
      h('div', { class: 'field' }, h('label', { for: 'invite-role' }, 'Role'), role),
    ),
    error,
    h('button', { type: 'submit', class: 'primary' }, 'Invite'),
    result,
  );
  invite.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.textContent = '';
    try {
      const r = await api<{ token: string; email: string }>('POST', '/org/invitations', {
        email: email.value,
        role: role.value,
      });
      const link = `${location.origin}/signin/?invitation=${encodeURIComponent(r.token)}`;
      mount(result, h('p', {}, `Send this link to ${r.email} (shown once):`), codeBlock(link, 'invitation link'));
      announce(`Invited ${r.email}`);
    } catch (err) {
      error.textContent = (err as Error).message;
      email.focus();
    }
  });
  mount(
    panel,
    h(
      'div',
      { class: 'table-wrap' },
      h(
        'table',
        { class: 'list', id: 'members-table' },
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            ['Member', 'Role', 'Since', ''].map((t) => h('th', { scope: 'col' }, t)),
          ),
        ),
        h(
          'tbody',
          {},
          members.map((m) => {
            const id = `role-${m.userId}`;
            const select = h(
              'select',
              { id, 'aria-label': `Role of ${m.email}` },
              ROLES.map((r) => h('option', { value: r, ...(r === m.role ? { selected: true } : {}) }, r)),
            );
            const err = h('span', { class: 'error small', 'aria-live': 'polite' });
            select.addEventListener('change', async () => {
              err.textContent = '';
              try {
                await api('PATCH', `/org/members/${m.userId}`, { role: select.value });
                announce(`${m.email} is now ${select.value}`);
              } catch (e) {
                err.textContent = (e as Error).message;
                select.value = m.role;
              }
            });
            return h(
              'tr',
              {},
              h('td', {}, m.name, h('br'), h('span', { class: 'muted small mono' }, m.email)),
              h('td', {}, select, err),
              h('td', { class: 'muted' }, ago(m.since)),
              h('td', {}),
            );
          }),
        ),
      ),
    ),
    invitations && invitations.invitations.length
      ? h(
          'ul',
          { class: 'plain', id: 'pending-invitations' },
          invitations.invitations.map((i) =>
            h(
              'li',
              { class: 'muted' },
              `${i.email} invited as ${i.role}, until ${new Date(i.expiresAt).toLocaleDateString()}`,
            ),
          ),
        )
      : null,
    h('h3', {}, 'Invite someone'),
    invite,
  );
}

interface Key {
  id: string;
  name: string;
  prefix: string;
  scopes: string[];
  createdAt: string;
  lastUsedAt: string | null;
}

async function keys(): Promise<void> {
  const panel = byId('keys-panel');
  const { keys: list } = await api<{ keys: Key[] }>('GET', '/keys');
  const name = h('input', { id: 'key-name', type: 'text', required: true, 'aria-describedby': 'key-error' });
  const error = h('p', { class: 'field-error', id: 'key-error', 'aria-live': 'polite' });
  const created = h('div', { id: 'key-created' });
  const form = h(
    'form',
    { class: 'card stack', id: 'key-form', novalidate: true },
    h('div', { class: 'field' }, h('label', { for: 'key-name' }, 'Name of the new key'), name),
    error,
    h('button', { type: 'submit', class: 'primary' }, 'Create key'),
    created,
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.textContent = '';
    try {
      const r = await api<{ key: string; name: string }>('POST', '/keys', { name: name.value });
      await keys();
      mount(
        byId('key-created'),
        h('p', {}, `Copy the key "${r.name}" now: it is shown only once.`),
        codeBlock(r.key, 'new API key'),
      );
    } catch (err) {
      error.textContent = (err as Error).message;
      name.focus();
    }
  });
  mount(
    panel,
    h(
      'div',
      { class: 'table-wrap' },
      h(
        'table',
        { class: 'list', id: 'keys-table' },
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            ['Name', 'Key', 'Scopes', 'Last used', ''].map((t) => h('th', { scope: 'col' }, t)),
          ),
        ),
        h(
          'tbody',
          {},
          list.map((k) =>
            h(
              'tr',
              {},
              h('td', {}, k.name),
              h('td', {}, h('code', {}, `${k.prefix}…`)),
              h('td', {}, h('code', {}, k.scopes.join(' '))),
              h('td', { class: 'muted' }, ago(k.lastUsedAt)),
              h(
                'td',
                {},
                h(
                  'button',
                  {
                    type: 'button',
                    class: 'danger',
                    'aria-label': `Revoke key ${k.name}`,
                    onclick: (async () => {
                      if (!confirm(`Revoke the key "${k.name}"? Anything using it stops working.`)) return;
                      await api('DELETE', `/keys/${k.id}`);
                      await keys();
                    }) as EventListener,
                  },
                  'Revoke',
                ),
              ),
            ),
          ),
        ),
      ),
    ),
    form,
  );
}

async function clients(): Promise<void> {
  const panel = byId('clients-panel');
  const { clients: list } = await api<{
    clients: {
      clientId: string;
      clientName: string;
      resources: { resource: string; scopes: string[] }[];
      grantedAt: string;
    }[];
  }>('GET', '/me/clients');
  mount(
    panel,
    list.length === 0
      ? h('p', { class: 'muted' }, 'No app is connected to your account.')
      : h(
          'ul',
          { class: 'plain stack' },
          list.map((c) =>
            h(
              'li',
              { class: 'card row spread' },
              h(
                'span',
                {},
                h('strong', {}, c.clientName),
                h('br'),
                h('span', { class: 'muted small mono' }, c.resources.map((r) => r.resource).join(', ')),
              ),
              h(
                'button',
                {
                  type: 'button',
                  class: 'danger',
                  onclick: (async () => {
                    await api('DELETE', `/me/clients/${encodeURIComponent(c.clientId)}`);
                    announce(`${c.clientName} revoked`);
                    await clients();
                  }) as EventListener,
                },
                'Revoke',
              ),
            ),
          ),
        ),
  );
}

for (const [id, load] of [
  ['members-panel', members],
  ['keys-panel', keys],
  ['clients-panel', clients],
] as const) {
  load().catch((err) => mount(byId(id), errorBox((err as Error).message)));
}
