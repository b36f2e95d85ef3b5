/** The audit log in the org settings: every mutation, newest first, with filters, "Load more" and a JSON-lines export. */
import '../../styles/observe.css';
import { ApiError, api } from './api.ts';
import { h, mount, skeleton } from './dom.ts';

/** One event of `GET /api/v1/audit`. */
export interface AuditEvent {
  id: string;
  time: string;
  action: string;
  actor: { userId: string | null; email: string | null; apiKeyId: string | null } | null;
  target: { type: string; id: string | null };
  ip: string | null;
  requestId: string | null;
  data: unknown;
}

const PAGE = 50;
const FIELDS = [
  { key: 'action', label: 'Action', hint: 'server.create, or member.', type: 'text' },
  { key: 'actor', label: 'Actor', hint: 'user id or email', type: 'text' },
  { key: 'targetType', label: 'Target type', hint: 'e.g. server', type: 'text' },
  { key: 'targetId', label: 'Target id', hint: '', type: 'text' },
  { key: 'since', label: 'From', hint: '', type: 'datetime-local' },
  { key: 'until', label: 'Until', hint: '', type: 'datetime-local' },
] as const;
type Filters = Partial<Record<(typeof FIELDS)[number]['key'], string>>;

/** The filters as query parameters; the date fields (local time in the form) go out as ISO instants. */
function query(f: Filters, extra: Record<string, string> = {}): URLSearchParams {
  const params = new URLSearchParams();
  for (const { key, type } of FIELDS) {
    const v = f[key]?.trim();
    if (!v) continue;
    params.set(key, type === 'datetime-local' ? new Date(v).toISOString() : v);
  }
  for (const [k, v] of Object.entries(extra)) params.set(k, v);
  return params;
}

function actorText(e: AuditEvent): string {
  if (!e.actor) return 'the platform';
  if (e.actor.email) return e.actor.email;
  if (e.actor.apiKeyId) return `API key ${e.actor.apiKeyId.slice(0, 8)}`;
  return e.actor.userId ?? 'someone';
}

/** One row; the event's data opens below its action. */
function row(e: AuditEvent): HTMLElement {
  const data = JSON.stringify(e.data ?? {}, null, 2);
  return h(
    'tr',
    { 'data-id': e.id, 'data-action': e.action },
    h('td', { class: 'muted' }, h('time', { datetime: e.time }, new Date(e.time).toLocaleString())),
    h(
      'td',
      {},
      h('span', { class: 'mono small' }, actorText(e)),
      e.actor?.apiKeyId && e.actor.email ? h('span', { class: 'muted small' }, ' (API key)') : null,
    ),
    h(
      'td',
      {},
      data === '{}'
        ? h('code', {}, e.action)
        : h('details', {}, h('summary', {}, h('code', {}, e.action)), h('pre', { class: 'small' }, data)),
    ),
    h(
      'td',
      {},
      h('span', { class: 'small' }, e.target.type),
      e.target.id ? [' ', h('code', { class: 'small' }, e.target.id)] : null,
    ),
    h('td', { class: 'mono small' }, e.ip ?? '—'),
  );
}

function filterForm(apply: (f: Filters) => void): { form: HTMLFormElement; read: () => Filters } {
  const form = h(
    'form',
    { class: 'card stack', id: 'audit-filters', role: 'search', 'aria-label': 'Filter the audit log' },
    h(
      'div',
      { class: 'filter-grid' },
      FIELDS.map(({ key, label, hint, type }) =>
        h(
          'div',
          { class: 'field' },
          h('label', { for: `audit-${key}` }, label),
          h('input', {
            id: `audit-${key}`,
            name: key,
            type,
            autocomplete: 'off',
            ...(hint ? { placeholder: hint } : {}),
          }),
        ),
      ),
    ),
    h(
      'div',
      { class: 'row' },
      h('button', { type: 'submit', class: 'primary' }, 'Apply'),
      h('button', { type: 'reset' }, 'Clear'),
    ),
  );
  const read = () => Object.fromEntries(new FormData(form)) as Filters;
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    apply(read());
  });
  form.addEventListener('reset', () => setTimeout(() => apply({})));
  return { form, read };
}

/** Fills `panel` with the org's audit log; members who are not admins or owners read why they see none. */
export async function auditPanel(panel: HTMLElement): Promise<void> {
  mount(panel, skeleton(3));
  let filters: Filters = {};
  let next: string | null = null;
  const body = h('tbody', {});
  const status = h('p', { class: 'small muted', id: 'audit-status', 'aria-live': 'polite' });
  const more = h('button', { type: 'button', id: 'audit-more', hidden: true }, 'Load more');
  const exportLink = h('a', { class: 'button', id: 'audit-export', download: 'audit.jsonl' }, 'Export as JSON lines');
  const fetchPage = (before?: string) =>
    api<{ events: AuditEvent[]; next: string | null }>(
      'GET',
      `/audit?${query(filters, { limit: String(PAGE), ...(before ? { before } : {}) })}`,
    );
  const show = (r: { events: AuditEvent[]; next: string | null }, append: boolean) => {
    if (!append) body.replaceChildren();
    body.append(...r.events.map(row));
    next = r.next;
    more.hidden = !next;
    const n = body.childElementCount;
    status.textContent =
      n === 0
        ? 'No event matches.'
        : `${n.toLocaleString()} event${n === 1 ? '' : 's'} shown${next ? '' : ', all of them'}.`;
  };
  const load = async (f: Filters) => {
    filters = f;
    exportLink.setAttribute('href', `/api/v1/audit?${query(filters, { format: 'jsonl' })}`);
    status.textContent = 'Loading…';
    try {
      show(await fetchPage(), false);
    } catch (err) {
      status.textContent = (err as Error).message;
    }
  };
  more.addEventListener('click', async () => {
    if (!next) return;
    more.disabled = true;
    try {
      show(await fetchPage(next), true);
    } catch (err) {
      status.textContent = (err as Error).message;
    } finally {
      more.disabled = false;
    }
  });

  try {
    const first = await fetchPage();
    const { form } = filterForm((f) => void load(f));
    exportLink.setAttribute('href', `/api/v1/audit?${query({}, { format: 'jsonl' })}`);
    mount(
      panel,
      h(
        'div',
        { class: 'stack' },
        form,
        h(
          'div',
          { class: 'table-wrap' },
          h(
            'table',
            { class: 'list', id: 'audit-table' },
            h('caption', { class: 'visually-hidden' }, 'Audit events, newest first'),
            h(
              'thead',
              {},
              h(
                'tr',
                {},
                ['When', 'Who', 'Action', 'Target', 'Address'].map((t) => h('th', { scope: 'col' }, t)),
              ),
            ),
            body,
          ),
        ),
        h('div', { class: 'row spread' }, h('div', { class: 'row' }, more, status), exportLink),
      ),
    );
    show(first, false);
  } catch (err) {
    if (err instanceof ApiError && err.status === 403)
      return mount(
        panel,
        h(
          'p',
          { class: 'card', id: 'audit-forbidden' },
          'Only owners and admins of this organization can read its audit log. Ask one of them for an export.',
        ),
      );
    throw err;
  }
}
