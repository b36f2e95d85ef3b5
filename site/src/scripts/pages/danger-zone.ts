/** /settings/ danger zone: delete the organization (owners) or your account, each behind a typed confirmation. */
import { ApiError, api } from '../lib/api.ts';
import { byId, errorBox, h, mount } from '../lib/dom.ts';

interface Me {
  user: { email: string };
  org: string | null;
  role: string;
  orgs: { slug: string; name: string }[];
}

/** A form that enables its button only once `expected` is typed, then sends `confirm` to `path`. */
function confirmForm(opts: {
  id: string;
  label: string;
  expected: string;
  button: string;
  path: string;
  done: string;
}): HTMLFormElement {
  const input = h('input', {
    id: `${opts.id}-confirm`,
    type: 'text',
    autocomplete: 'off',
    spellcheck: false,
    'aria-describedby': `${opts.id}-error`,
  });
  const error = h('p', { class: 'field-error', id: `${opts.id}-error`, 'aria-live': 'polite' });
  const submit = h('button', { type: 'submit', class: 'danger', disabled: true }, opts.button);
  input.addEventListener('input', () => {
    submit.disabled = input.value !== opts.expected;
  });
  const form = h(
    'form',
    { class: 'card stack', id: `${opts.id}-form` },
    h('div', { class: 'field' }, h('label', { for: `${opts.id}-confirm` }, opts.label), input),
    error,
    submit,
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.textContent = '';
    submit.disabled = true;
    try {
      await api('DELETE', opts.path, { confirm: input.value });
      location.assign(opts.done);
    } catch (err) {
      error.textContent = err instanceof ApiError ? err.message : String(err);
      submit.disabled = false;
    }
  });
  return form;
}

async function dangerZone(): Promise<void> {
  const panel = byId('danger-panel');
  const me = await api<Me>('GET', '/me');
  const org = me.orgs.find((o) => o.slug === me.org);
  const parts: HTMLElement[] = [];
  if (org && me.role === 'owner') {
    parts.push(
      h(
        'p',
        {},
        `Deleting ${org.name} removes every server (instances, repositories, secrets, logs), member, key and template of it. It cannot be undone.`,
      ),
      confirmForm({
        id: 'delete-org',
        label: `Type ${org.slug} to confirm`,
        expected: org.slug,
        button: 'Delete organization',
        path: '/org',
        done: '/dashboard/',
      }),
    );
  }
  parts.push(
    h(
      'p',
      {},
      'Deleting your account removes your email, name, password, sessions and keys, and the organizations where you are the only member. Audit events stay, anonymized.',
    ),
    confirmForm({
      id: 'delete-account',
      label: `Type ${me.user.email} to confirm`,
      expected: me.user.email,
      button: 'Delete account',
      path: '/me',
      done: '/',
    }),
  );
  mount(panel, ...parts);
}

dangerZone().catch((err) => mount(byId('danger-panel'), errorBox((err as Error).message)));
