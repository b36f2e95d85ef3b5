/** The Logs tab: the newest lines, then a live tail over server-sent events; filters, pause, at most 1,000 lines. */
import '../../styles/observe.css';
import { api } from './api.ts';
import { announce, h, mount } from './dom.ts';

/** One log record as `GET /api/v1/servers/<name>/logs` returns it. */
export interface LogRecord {
  id: string;
  time: string;
  kind: 'call' | 'output' | 'deploy' | 'notice';
  level: 'debug' | 'info' | 'warn' | 'error';
  message: string;
  preview: number | null;
  revision: string | null;
  stream: 'stdout' | 'stderr' | null;
  call: {
    method: string | null;
    tool: string | null;
    status: number;
    rpcErrorCode: number | null;
    failed: boolean;
    latencyMs: number;
    requestBytes: number;
    responseBytes: number;
    clientName: string | null;
    clientId: string;
    requestId: string;
    traceId: string | null;
  } | null;
}

/** The most lines the page keeps: older ones leave the top as new ones arrive. */
export const MAX_LINES = 1000;
/** Screen readers hear a summary of new lines at most this often, never every line. */
const ANNOUNCE_EVERY_MS = 10_000;
/** A dropped live stream is reopened after this pause. */
const RECONNECT_MS = 3000;
const FILTERS = ['level', 'kind', 'tool', 'q'] as const;
type Filters = Record<(typeof FILTERS)[number], string>;

const pad = (n: number, width = 2) => String(n).padStart(width, '0');
/** 14:03:07.123 in the viewer's time zone. */
const clock = (iso: string) => {
  const d = new Date(iso);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
};
const bytes = (n: number) => (n < 1024 ? `${n} B` : `${(n / 1024).toFixed(1)} KB`);

/** What a call record says at a glance: tool (or method), status and latency. */
function callSummary(c: NonNullable<LogRecord['call']>): string {
  const what = c.tool ?? c.method ?? 'request';
  const error = c.rpcErrorCode !== null ? ` · JSON-RPC ${c.rpcErrorCode}` : '';
  return `${what} · ${c.status}${error}${c.failed ? ' · failed' : ''} · ${Math.round(c.latencyMs)} ms`;
}

/** The facts of one call, shown when its line is opened. */
function callFacts(r: LogRecord, c: NonNullable<LogRecord['call']>): HTMLElement {
  const facts: [string, string][] = [
    ['Method', c.method ?? '—'],
    ['Tool', c.tool ?? '—'],
    ['HTTP status', String(c.status)],
    ['JSON-RPC error', c.rpcErrorCode === null ? '—' : String(c.rpcErrorCode)],
    ['Latency', `${c.latencyMs} ms`],
    ['Request / response', `${bytes(c.requestBytes)} / ${bytes(c.responseBytes)}`],
    ['Client', `${c.clientName ?? '—'} (${c.clientId})`],
    ['Request id', c.requestId],
    ['Trace id', c.traceId ?? '—'],
    ['Revision', r.revision ? r.revision.slice(0, 7) : '—'],
  ];
  return h(
    'dl',
    { class: 'log-facts small' },
    facts.map(([k, v]) => [h('dt', {}, k), h('dd', {}, h('code', {}, v))]),
  );
}

/** Fields of a JSON log line that the line's own columns already show. */
const SHOWN_FIELDS = new Set(['ts', 'time', 'level', 'msg', 'message']);

/** A JSON line printed by the server reads as its message and then key=value pairs; other text stays as it is. */
export function readable(message: string): string {
  if (!message.startsWith('{')) return message;
  try {
    const o = JSON.parse(message) as Record<string, unknown>;
    const text = typeof o.msg === 'string' ? o.msg : typeof o.message === 'string' ? o.message : '';
    const rest = Object.entries(o)
      .filter(([k]) => !SHOWN_FIELDS.has(k))
      .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
    return [text, ...rest].filter(Boolean).join(' ');
  } catch {
    return message;
  }
}

/** One line of the tail; a call's line opens to show its facts. */
export function logLine(r: LogRecord): HTMLElement {
  const head = [
    h('time', { datetime: r.time, title: r.time }, clock(r.time)),
    h('span', { class: `log-level log-level-${r.level}` }, r.level),
    h('span', { class: 'log-kind' }, r.preview !== null ? `${r.kind} (preview)` : (r.stream ?? r.kind)),
    h(
      'span',
      { class: 'log-msg', title: r.call ? false : r.message },
      r.call ? callSummary(r.call) : readable(r.message),
    ),
  ];
  const attrs = { class: `log-line log-${r.kind}`, 'data-id': r.id, 'data-kind': r.kind, 'data-level': r.level };
  if (!r.call) return h('li', attrs, ...head);
  return h(
    'li',
    { ...attrs, 'data-tool': r.call.tool ?? '' },
    h('details', {}, h('summary', {}, ...head), callFacts(r, r.call)),
  );
}

function filterForm(initial: Filters, apply: (f: Filters) => void): HTMLFormElement {
  const select = (id: string, label: string, options: [string, string][], value: string) =>
    h(
      'div',
      { class: 'field' },
      h('label', { for: id }, label),
      h(
        'select',
        { id, name: id.slice(4) },
        options.map(([v, t]) => h('option', { value: v, ...(v === value ? { selected: true } : {}) }, t)),
      ),
    );
  const text = (id: string, label: string, value: string, extra: Record<string, string> = {}) =>
    h(
      'div',
      { class: 'field' },
      h('label', { for: id }, label),
      h('input', { id, name: id.slice(4), value, ...extra }),
    );
  const form = h(
    'form',
    { class: 'row log-filters', id: 'log-filters', role: 'search', 'aria-label': 'Filter the log' },
    select(
      'log-level',
      'Level',
      [
        ['', 'Every level'],
        ['debug', 'debug and up'],
        ['info', 'info and up'],
        ['warn', 'warn and up'],
        ['error', 'error'],
      ],
      initial.level,
    ),
    select(
      'log-kind',
      'Kind',
      [
        ['', 'Every kind'],
        ['call', 'Calls'],
        ['output', 'Output'],
        ['deploy', 'Deploys'],
        ['notice', 'Notices'],
      ],
      initial.kind,
    ),
    text('log-tool', 'Tool', initial.tool, { type: 'text', list: 'log-tools', autocomplete: 'off' }),
    text('log-q', 'Text', initial.q, { type: 'search', autocomplete: 'off' }),
    h('datalist', { id: 'log-tools' }),
    h('button', { type: 'submit' }, 'Apply'),
  );
  const read = (): Filters => {
    const data = new FormData(form);
    return Object.fromEntries(FILTERS.map((k) => [k, String(data.get(k) ?? '').trim()])) as Filters;
  };
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    apply(read());
  });
  for (const s of form.querySelectorAll('select')) s.addEventListener('change', () => apply(read()));
  return form;
}

/** The filters in the page's address, so a filtered view can be shared and survives a reload. */
function filtersFromUrl(): Filters {
  const params = new URLSearchParams(location.search);
  return Object.fromEntries(FILTERS.map((k) => [k, params.get(k) ?? ''])) as Filters;
}

function filtersToUrl(f: Filters): void {
  const params = new URLSearchParams(location.search);
  for (const k of FILTERS) {
    if (f[k]) params.set(k, f[k]);
    else params.delete(k);
  }
  history.replaceState(null, '', `?${params}`);
}

/** The lines on screen: at most MAX_LINES, appended a frame at a time, summarized to screen readers now and then. */
class TailView {
  readonly list = h('ol', { class: 'log-lines', id: 'log-lines' });
  readonly view: HTMLElement;
  readonly empty = h('p', { class: 'muted log-empty', id: 'log-empty' }, 'No log lines match yet.');
  private readonly shown = new Set<string>();
  private queued: LogRecord[] = [];
  private frame = 0;
  private unheard = 0;
  private unheardErrors = 0;
  private lastAnnounce = 0;

  constructor(server: string) {
    this.view = h(
      'div',
      { class: 'log-view', tabindex: 0, role: 'region', 'aria-label': `Log of ${server}, newest at the bottom` },
      this.list,
    );
  }

  /** Empties the view (the filters changed). */
  clear(): void {
    this.shown.clear();
    this.queued = [];
    this.list.replaceChildren();
  }

  /** Queues records for the next frame: a burst of lines is one DOM update, not one per line. */
  show(records: LogRecord[], quiet = false): void {
    const fresh = records.filter((r) => !this.shown.has(r.id));
    for (const r of fresh) this.shown.add(r.id);
    this.empty.hidden = this.shown.size > 0;
    if (fresh.length === 0) return;
    if (!quiet) {
      this.unheard += fresh.length;
      this.unheardErrors += fresh.filter((r) => r.level === 'error').length;
    }
    this.queued.push(...fresh);
    if (this.queued.length > MAX_LINES) this.queued = this.queued.slice(-MAX_LINES);
    this.frame ||= requestAnimationFrame(() => this.flush());
  }

  private flush(): void {
    this.frame = 0;
    const { view, list } = this;
    const atBottom = view.scrollHeight - view.scrollTop - view.clientHeight < 40;
    const fragment = document.createDocumentFragment();
    for (const r of this.queued) fragment.append(logLine(r));
    this.queued = [];
    list.append(fragment);
    while (list.childElementCount > MAX_LINES) {
      const first = list.firstElementChild as HTMLElement;
      this.shown.delete(first.dataset.id ?? '');
      first.remove();
    }
    if (atBottom) view.scrollTop = view.scrollHeight;
    this.announce();
  }

  /** Tells screen readers how many lines arrived, at most every ANNOUNCE_EVERY_MS. */
  private announce(): void {
    if (this.unheard === 0 || Date.now() - this.lastAnnounce < ANNOUNCE_EVERY_MS) return;
    const n = this.unheard;
    announce(
      `${n.toLocaleString()} new log line${n === 1 ? '' : 's'}${this.unheardErrors ? `, ${this.unheardErrors} with errors` : ''}`,
    );
    this.lastAnnounce = Date.now();
    this.unheard = 0;
    this.unheardErrors = 0;
  }
}

/** The Logs tab of server `server`; `tools` names its tools for the tool filter's suggestions. */
export function logsPanel(server: string, tools: Promise<string[]>): HTMLElement {
  let filters = filtersFromUrl();
  let source: EventSource | undefined;
  let generation = 0;
  let paused = false;
  let held: LogRecord[] = [];
  const tail = new TailView(server);
  const state = h('span', { id: 'log-state', class: 'small muted', 'data-live': 'false' }, 'Connecting…');
  const pause = h('button', { type: 'button', id: 'log-pause' }, 'Pause');
  const form = filterForm(filters, (f) => {
    filters = f;
    filtersToUrl(f);
    void restart();
  });

  const setState = (text: string, live = false) => {
    state.textContent = text;
    state.dataset.live = String(live);
  };
  const describePause = () =>
    setState(
      held.length
        ? `Paused: ${held.length.toLocaleString()} new line${held.length === 1 ? '' : 's'} waiting`
        : 'Paused',
    );
  const receive = (r: LogRecord) => {
    if (!paused) return tail.show([r]);
    held.push(r);
    if (held.length > MAX_LINES) held = held.slice(-MAX_LINES);
    describePause();
  };
  const query = (extra: Record<string, string>) => {
    const params = new URLSearchParams();
    for (const k of FILTERS) if (filters[k]) params.set(k, filters[k]);
    for (const [k, v] of Object.entries(extra)) params.set(k, v);
    return params;
  };

  /**
   * Follows from just after `last` (the stream then sends only newer lines), or from the newest lines. A dropped
   * stream is reopened here, after the last line received, rather than by the browser (whose retry would ask again
   * for everything after the first `after`).
   */
  const follow = (last: string | undefined, mine: number) => {
    let newest = last;
    const from: Record<string, string> = last ? { after: last } : { limit: String(MAX_LINES) };
    const stream = new EventSource(
      `/api/v1/servers/${encodeURIComponent(server)}/logs?${query({ follow: '1', ...from })}`,
    );
    source = stream;
    stream.addEventListener('open', () => {
      if (mine === generation) paused ? describePause() : setState('Live', true);
    });
    stream.addEventListener('log', (e) => {
      const r = JSON.parse((e as MessageEvent<string>).data) as LogRecord;
      newest = r.id;
      receive(r);
    });
    stream.addEventListener('error', () => {
      stream.close();
      if (mine !== generation) return;
      setState('Reconnecting…');
      setTimeout(() => mine === generation && follow(newest, mine), RECONNECT_MS);
    });
  };

  async function restart(): Promise<void> {
    const mine = ++generation;
    source?.close();
    held = [];
    tail.clear();
    setState('Connecting…');
    try {
      const { logs } = await api<{ logs: LogRecord[] }>(
        'GET',
        `/servers/${encodeURIComponent(server)}/logs?${query({ limit: String(MAX_LINES) })}`,
      );
      if (mine !== generation) return;
      tail.show(logs, true);
      follow(logs.at(-1)?.id, mine);
    } catch (err) {
      if (mine === generation) setState(`Could not read the log: ${(err as Error).message}`);
    }
  }

  pause.addEventListener('click', () => {
    paused = !paused;
    pause.textContent = paused ? 'Resume' : 'Pause';
    if (paused) {
      announce('Log paused: new lines wait until you resume');
      return describePause();
    }
    announce(`Log resumed${held.length ? `: ${held.length.toLocaleString()} lines added` : ''}`);
    tail.show(held, true);
    held = [];
    const open = source?.readyState === EventSource.OPEN;
    setState(open ? 'Live' : 'Reconnecting…', open);
  });
  void tools.then((names) =>
    mount(
      form.querySelector('datalist') as HTMLElement,
      names.map((n) => h('option', { value: n })),
    ),
  );
  void restart();
  return h(
    'div',
    { class: 'stack', id: 'logs' },
    form,
    h(
      'div',
      { class: 'row spread' },
      h('div', { class: 'row' }, pause, state),
      h('span', { class: 'small muted' }, `Last ${MAX_LINES.toLocaleString()} lines, newest at the bottom.`),
    ),
    tail.view,
    tail.empty,
  );
}
