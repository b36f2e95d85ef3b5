/**
 * /settings#github: the organization's connection to GitHub. Shows only "connected as …" (never the token or key),
 * where GitHub delivers webhooks, and what GitHub refuses now; admins connect a token or an app, or disconnect.
 */
import { api } from '../lib/api.ts';
import { ago, announce, byId, codeBlock, errorBox, h, mount, skeleton } from '../lib/dom.ts';

interface Connection {
  connected: boolean;
  kind: 'token' | 'app' | null;
  login: string | null;
  apiUrl: string;
  appId: string | null;
  installationId: string | null;
  problem: string | null;
  connectedAt: string | null;
  webhookUrl: string;
  webhookSecret?: string;
}

/** A labelled input of the connect form. */
function field(id: string, label: string, input: HTMLElement, hint?: string): HTMLElement {
  return h(
    'div',
    { class: 'field' },
    h('label', { for: id }, label),
    input,
    hint ? h('p', { class: 'muted small' }, hint) : null,
  );
}

/** The form that connects (or reconnects) GitHub with a token or an app installation. */
function connectForm(onConnected: (c: Connection) => void): HTMLElement {
  const kind = h('select', { id: 'github-kind' }, [
    h('option', { value: 'token' }, 'Fine-grained personal access token'),
    h('option', { value: 'app' }, 'GitHub App installation'),
  ]);
  const token = h('input', { id: 'github-token', type: 'password', autocomplete: 'off', spellcheck: 'false' });
  const appId = h('input', { id: 'github-app-id', inputmode: 'numeric', autocomplete: 'off' });
  const installationId = h('input', { id: 'github-installation-id', inputmode: 'numeric', autocomplete: 'off' });
  const privateKey = h('textarea', { id: 'github-private-key', rows: 4, spellcheck: 'false' });
  const webhookSecret = h('input', { id: 'github-webhook-secret', type: 'password', autocomplete: 'off' });
  const tokenFields = h(
    'div',
    { class: 'stack' },
    field(
      'github-token',
      'Token',
      token,
      'Read and write: Administration, Contents, Pull requests, Checks, Commit statuses, Webhooks.',
    ),
  );
  const appFields = h(
    'div',
    { class: 'stack', hidden: true },
    field('github-app-id', 'App id', appId),
    field('github-installation-id', 'Installation id', installationId),
    field('github-private-key', 'Private key (PEM)', privateKey),
    field('github-webhook-secret', "The app's webhook secret", webhookSecret),
  );
  kind.addEventListener('change', () => {
    tokenFields.hidden = kind.value !== 'token';
    appFields.hidden = kind.value !== 'app';
  });
  const error = h('p', { class: 'field-error', id: 'github-error', 'aria-live': 'polite' });
  const form = h(
    'form',
    { class: 'card stack', id: 'github-form', novalidate: true },
    field('github-kind', 'Connect with', kind),
    tokenFields,
    appFields,
    error,
    h('button', { type: 'submit', class: 'primary' }, 'Connect GitHub'),
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.textContent = '';
    const body =
      kind.value === 'token'
        ? { token: token.value.trim() }
        : {
            appId: appId.value.trim(),
            installationId: installationId.value.trim(),
            privateKey: privateKey.value,
            ...(webhookSecret.value ? { webhookSecret: webhookSecret.value } : {}),
          };
    try {
      const connected = await api<Connection>('PUT', '/github/connection', body);
      announce(`Connected to GitHub as ${connected.login}`);
      onConnected(connected);
    } catch (err) {
      error.textContent = (err as Error).message;
    }
  });
  return form;
}

/** What the connection is: as whom, how, where webhooks go, what GitHub refuses now. */
function status(c: Connection, secret: string | undefined, onChange: () => void): HTMLElement {
  const disconnect = h('button', { type: 'button', class: 'button danger', id: 'github-disconnect' }, 'Disconnect');
  const error = h('p', { class: 'error small', 'aria-live': 'polite' });
  disconnect.addEventListener('click', async () => {
    if (
      !confirm('Disconnect GitHub? Repositories on GitHub stay as they are; nothing syncs until you connect again.')
    ) {
      return;
    }
    try {
      await api('DELETE', '/github/connection');
      announce('GitHub disconnected');
      onChange();
    } catch (err) {
      error.textContent = (err as Error).message;
    }
  });
  return h(
    'div',
    { class: 'card stack', id: 'github-status' },
    h(
      'p',
      {},
      'Connected as ',
      h('strong', { id: 'github-login' }, c.login ?? '?'),
      c.kind === 'app' ? ` (GitHub App ${c.appId}, installation ${c.installationId})` : ' (personal access token)',
      c.connectedAt ? h('span', { class: 'muted' }, ` · ${ago(c.connectedAt)}`) : null,
    ),
    c.problem ? errorBox(c.problem) : null,
    h('p', { class: 'muted small' }, `API: ${c.apiUrl}`),
    h('h3', {}, 'Webhook'),
    h('p', { class: 'small' }, 'Deliver Pushes, Pull requests, Check runs (and, for an app, Installation) to:'),
    codeBlock(c.webhookUrl, 'webhook URL'),
    secret ? [h('p', { class: 'small' }, 'With this secret (shown once):'), codeBlock(secret, 'webhook secret')] : null,
    h('div', { class: 'row' }, disconnect),
    error,
  );
}

async function github(secret?: string): Promise<void> {
  const panel = byId('github-panel');
  mount(panel, skeleton(2));
  try {
    const c = await api<Connection>('GET', '/github/connection');
    const refresh = (next?: Connection) => void github(next?.webhookSecret);
    if (!c.connected) {
      mount(
        panel,
        h(
          'p',
          { class: 'muted' },
          'Connect GitHub to create servers whose repository lives in your own GitHub organization, with every change as a pull request.',
        ),
        connectForm(refresh),
      );
      return;
    }
    mount(
      panel,
      status(c, secret, () => refresh()),
      h('details', {}, h('summary', {}, 'Connect again (another token or app)'), connectForm(refresh)),
    );
  } catch (err) {
    mount(panel, errorBox((err as Error).message));
  }
}

void github();
