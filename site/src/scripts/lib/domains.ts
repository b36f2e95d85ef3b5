/** The server page's Domains tab: claim a hostname, publish the two DNS records it shows, verify it, remove it. */
import { ApiError, api, type CustomDomain } from './api.ts';
import { ago, announce, codeBlock, errorBox, h, mount, pill } from './dom.ts';

/** Where custom domains are explained. */
const DOCS = '/docs/custom-domains/';

/** Where the keyboard goes once the list is read again: a domain's row, or the panel's heading (its row is gone). */
type Focus = { domain: string } | 'heading';

/** What a row needs from its panel. */
interface PanelContext {
  server: string;
  /** Reads the list again, then moves the focus to `focus` (nowhere when not given: the first load). */
  reload: (focus?: Focus) => Promise<void>;
}

const domainPath = (server: string, hostname: string) => `/servers/${server}/domains/${encodeURIComponent(hostname)}`;

/** The two records as DNS providers list them (type, name, value), each name and value with its copy button. */
function recordsTable(d: CustomDomain): HTMLElement {
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      { class: 'list dns-records' },
      h('caption', { class: 'visually-hidden' }, `DNS records for ${d.hostname}`),
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ['Type', 'Name', 'Value'].map((t) => h('th', { scope: 'col' }, t)),
        ),
      ),
      h(
        'tbody',
        {},
        [d.verification, d.routing].map((r) =>
          h(
            'tr',
            { 'data-record': r.type },
            h('td', {}, h('code', {}, r.type)),
            h('td', {}, codeBlock(r.name, `${r.type} name for ${d.hostname}`)),
            h('td', {}, codeBlock(r.value, `${r.type} value for ${d.hostname}`)),
          ),
        ),
      ),
    ),
  );
}

/** The Verify button of a pending domain: one lookup per press; pressed too soon, it looks up once the wait is over. */
function verifyButton(ctx: PanelContext, d: CustomDomain, row: HTMLElement, note: HTMLElement): HTMLButtonElement {
  const button = h('button', { type: 'button', class: 'primary' }, 'Verify');
  const verify = async (again: boolean): Promise<void> => {
    button.disabled = true;
    button.textContent = 'Verifying…';
    note.textContent = '';
    try {
      await api<CustomDomain>('POST', `${domainPath(ctx.server, d.hostname)}/verify`);
      announce(`${d.hostname} verified: calls to it reach ${ctx.server}`);
      await ctx.reload({ domain: d.hostname });
    } catch (err) {
      const wait = err instanceof ApiError && err.code === 'domain_check_too_soon' ? (err.retryAfter ?? 5) : null;
      if (wait !== null && !again) {
        // The press asked for a lookup: make it as soon as the platform allows one, rather than refuse it.
        note.textContent = `${(err as Error).message}. Verifying again by itself then.`;
        setTimeout(() => void (row.isConnected ? verify(true) : undefined), wait * 1000);
        return;
      }
      note.textContent = (err as Error).message;
      button.disabled = false;
      button.textContent = 'Verify';
    }
  };
  button.addEventListener('click', () => void verify(false));
  return button;
}

/** The Remove button of a domain, behind a confirmation that says what removing it stops. */
function removeButton(ctx: PanelContext, d: CustomDomain, note: HTMLElement): HTMLButtonElement {
  const button = h('button', { type: 'button', class: 'danger' }, 'Remove');
  button.addEventListener('click', async () => {
    const question =
      d.status === 'verified'
        ? `Remove ${d.hostname}? Calls to it stop at once, and the OAuth grants issued for it are revoked: clients using it must sign in again on another URL.`
        : `Remove ${d.hostname}? Adding it again later needs a new TXT record.`;
    if (!confirm(question)) return;
    button.disabled = true;
    note.textContent = '';
    try {
      await api('DELETE', domainPath(ctx.server, d.hostname));
      announce(`${d.hostname} removed`);
      await ctx.reload('heading');
    } catch (err) {
      note.textContent = (err as Error).message;
      button.disabled = false;
    }
  });
  return button;
}

/** One domain: its state, its URL once verified, the records to publish while pending, and its actions. */
function domainRow(ctx: PanelContext, d: CustomDomain, index: number): HTMLElement {
  const id = `domain-${index}`;
  const note = h(
    'p',
    { class: 'field-error', id: `${id}-note`, 'aria-live': 'polite' },
    d.lastError ? `Last check ${ago(d.checkedAt)}: ${d.lastError}` : '',
  );
  const row = h('section', {
    class: 'card stack domain',
    'data-domain': d.hostname,
    'data-status': d.status,
    'aria-labelledby': `${id}-name`,
  });
  const verified = d.status === 'verified';
  mount(
    row,
    h(
      'div',
      { class: 'row spread' },
      h('h3', { id: `${id}-name`, tabindex: -1 }, h('code', {}, d.hostname)),
      pill(d.status),
    ),
    verified
      ? [
          codeBlock(d.url, `MCP URL on ${d.hostname}`),
          h('p', { class: 'muted small' }, `Verified ${ago(d.verifiedAt)}. Keep both records published.`),
          h('details', {}, h('summary', {}, 'DNS records'), recordsTable(d)),
        ]
      : [
          h(
            'p',
            { class: 'muted' },
            'Publish both records at your DNS provider, then verify: the TXT record proves the name is yours, the CNAME sends its calls here.',
          ),
          recordsTable(d),
        ],
    note,
    h('div', { class: 'row' }, verified ? null : verifyButton(ctx, d, row, note), removeButton(ctx, d, note)),
  );
  return row;
}

/** The form that claims a hostname; its errors (an upgrade link with a plan's refusal) stay beside it. */
function addForm(ctx: PanelContext): HTMLFormElement {
  const input = h('input', {
    id: 'domain-hostname',
    type: 'text',
    required: true,
    autocomplete: 'off',
    spellcheck: false,
    inputmode: 'url',
    placeholder: 'mcp.example.com',
    'aria-describedby': 'domain-hostname-hint domain-form-error',
  });
  const error = h('p', { class: 'field-error', id: 'domain-form-error', 'aria-live': 'polite' });
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Add domain');
  const form = h(
    'form',
    { class: 'card stack', id: 'domain-form' },
    h(
      'div',
      { class: 'field' },
      h('label', { for: 'domain-hostname' }, 'Hostname'),
      input,
      h('p', { class: 'hint', id: 'domain-hostname-hint' }, 'A name you control, without https:// or a path.'),
    ),
    error,
    submit,
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    mount(error);
    input.removeAttribute('aria-invalid');
    submit.disabled = true;
    try {
      const d = await api<CustomDomain>('POST', `/servers/${ctx.server}/domains`, { hostname: input.value });
      input.value = '';
      announce(`${d.hostname} added: publish its DNS records, then verify it`);
      await ctx.reload({ domain: d.hostname });
    } catch (err) {
      const upgrade = err instanceof ApiError ? err.details?.upgrade : undefined;
      mount(
        error,
        (err as Error).message,
        typeof upgrade === 'string' && upgrade.startsWith('/')
          ? [' ', h('a', { href: upgrade }, 'Change the plan')]
          : null,
      );
      if (err instanceof ApiError && err.field === 'hostname') input.setAttribute('aria-invalid', 'true');
      input.focus();
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

/** The Domains panel of a server: its custom domains, each with what it needs next, and a form to add one. */
export function domainsPanel(server: string): HTMLElement {
  const heading = h('h2', { id: 'domains-heading', tabindex: -1 }, 'Custom domains');
  const list = h('div', { class: 'stack', id: 'domain-list' });
  const ctx: PanelContext = {
    server,
    reload: async (focus) => {
      try {
        const r = await api<{ domains: CustomDomain[] }>('GET', `/servers/${server}/domains`);
        mount(
          list,
          r.domains.length === 0
            ? h('p', { class: 'muted' }, 'No custom domains yet: the server answers on its platform URL only.')
            : r.domains.map((d, i) => domainRow(ctx, d, i)),
        );
        if (focus === 'heading') heading.focus();
        else if (focus) {
          const rows = [...list.querySelectorAll<HTMLElement>('.domain')];
          rows
            .find((el) => el.dataset.domain === focus.domain)
            ?.querySelector<HTMLElement>('h3')
            ?.focus();
        }
      } catch (err) {
        mount(list, errorBox((err as Error).message));
      }
    },
  };
  void ctx.reload();
  return h(
    'div',
    { class: 'stack', id: 'domains' },
    heading,
    h(
      'p',
      { class: 'hint' },
      'A custom domain serves this server’s MCP endpoint on a hostname of yours, beside its platform URL. Add the name, publish the two DNS records it shows, then verify it. ',
      h('a', { href: DOCS }, 'How custom domains work'),
    ),
    list,
    h('h2', {}, 'Add a domain'),
    addForm(ctx),
  );
}
