/** The Metrics tab: calls, errors and latency per bucket for a period, charted and as tables; per tool. */
import '../../styles/observe.css';
import { api } from './api.ts';
import type { ChartSeries } from './charts.ts';
import { errorBox, h, mount, skeleton } from './dom.ts';

/** Latencies in milliseconds; null where no call finished in the bucket. */
interface Latency {
  p50: number | null;
  p95: number | null;
  p99: number | null;
}

/** `GET /api/v1/servers/<name>/metrics?period=…` */
export interface MetricsView {
  period: Period;
  bucket: 'minute' | 'hour' | 'day';
  from: string;
  to: string;
  totals: { calls: number; errors: number; coldStarts: number; deploys: number } & Latency;
  series: ({ start: string; calls: number; errors: number } & Latency)[];
  tools: ({ tool: string; calls: number; errors: number } & Latency)[];
}

type Period = 'hour' | 'day' | 'week' | 'month';
const PERIODS: [Period, string][] = [
  ['hour', 'Last hour'],
  ['day', 'Last 24 hours'],
  ['week', 'Last 7 days'],
  ['month', 'Last 30 days'],
];
/** The numbers follow new calls while the tab is open. */
const REFRESH_MS = 30_000;

/** 12 ms, 1.25 s, or — when nothing was measured. */
export const ms = (v: number | null) =>
  v === null ? '—' : v < 1000 ? `${Math.round(v)} ms` : `${(v / 1000).toFixed(2)} s`;
/** Errors as a share of calls, or — without calls. */
export const rate = (errors: number, calls: number) =>
  calls === 0 ? '—' : errors === 0 ? '0%' : `${((errors / calls) * 100).toFixed(errors * 1000 < calls ? 2 : 1)}%`;

function bucketLabel(iso: string, bucket: MetricsView['bucket']): string {
  const d = new Date(iso);
  if (bucket === 'day') return d.toLocaleDateString(undefined, { month: 'short', day: 'numeric' });
  const time = d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
  return bucket === 'minute' ? time : `${d.toLocaleDateString(undefined, { month: 'short', day: 'numeric' })} ${time}`;
}

function totals(m: MetricsView): HTMLElement {
  const t = m.totals;
  const stats: [string, string][] = [
    ['Calls', t.calls.toLocaleString()],
    ['Errors', t.errors.toLocaleString()],
    ['Error rate', rate(t.errors, t.calls)],
    ['p50', ms(t.p50)],
    ['p95', ms(t.p95)],
    ['p99', ms(t.p99)],
    ['Cold starts', t.coldStarts.toLocaleString()],
    ['Deploys', t.deploys.toLocaleString()],
  ];
  return h(
    'dl',
    { class: 'stats', id: 'metrics-totals' },
    stats.map(([k, v]) => h('div', { class: 'stat', 'data-stat': k }, h('dt', {}, k), h('dd', {}, v))),
  );
}

const table = (id: string, caption: string, head: string[], rows: (string | Node)[][]) =>
  h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      { class: 'list', id },
      h('caption', { class: 'visually-hidden' }, caption),
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          head.map((t) => h('th', { scope: 'col' }, t)),
        ),
      ),
      h(
        'tbody',
        {},
        rows.map(([first, ...rest]) =>
          h(
            'tr',
            {},
            h('th', { scope: 'row' }, first),
            rest.map((c) => h('td', {}, c)),
          ),
        ),
      ),
    ),
  );

function toolTable(m: MetricsView, pick: (tool: string) => void): HTMLElement {
  if (m.tools.length === 0) return h('p', { class: 'muted' }, 'No tool was called in this period.');
  const rows = [...m.tools]
    .sort((a, b) => b.calls - a.calls)
    .map((t) => {
      const link = h('button', { type: 'button', class: 'link', 'data-tool': t.tool }, t.tool);
      link.addEventListener('click', () => {
        pick(t.tool);
        // The table goes away with the choice: focus moves to the tool picker, which now names it.
        document.getElementById('metrics-tool')?.focus();
      });
      return [
        link,
        t.calls.toLocaleString(),
        t.errors.toLocaleString(),
        rate(t.errors, t.calls),
        ms(t.p50),
        ms(t.p95),
        ms(t.p99),
      ];
    });
  return table(
    'metrics-tools',
    'Calls, errors and latency per tool',
    ['Tool', 'Calls', 'Errors', 'Error rate', 'p50', 'p95', 'p99'],
    rows,
  );
}

/** Every bucket in a table: what the charts draw, for screen readers and for reading exact numbers. */
function seriesTable(m: MetricsView, open: boolean): HTMLElement {
  return h(
    'details',
    { class: 'metrics-data', open },
    h('summary', {}, `The numbers per ${m.bucket}, as a table (${m.bucket}s without calls left out)`),
    table(
      'metrics-series',
      `Calls, errors and latency per ${m.bucket}`,
      [m.bucket[0]?.toUpperCase() + m.bucket.slice(1), 'Calls', 'Errors', 'Error rate', 'p50', 'p95', 'p99'],
      m.series
        .filter((b) => b.calls > 0)
        .map((b) => [
          h('time', { datetime: b.start }, bucketLabel(b.start, m.bucket)),
          b.calls.toLocaleString(),
          b.errors.toLocaleString(),
          rate(b.errors, b.calls),
          ms(b.p50),
          ms(b.p95),
          ms(b.p99),
        ]),
    ),
  );
}

interface Chart {
  id: string;
  /** The values are counts (whole numbers). */
  counts?: boolean;
  title: string;
  summary: string;
  series: ChartSeries[];
  format: (v: number) => string;
}

/** The three charts of a period: calls and errors, error rate, latency percentiles. */
function charts(m: MetricsView): Chart[] {
  const peak = m.series.reduce((a, b) => (b.calls > a.calls ? b : a), m.series[0] ?? { calls: 0, start: m.from });
  const worst = m.series.reduce<number | null>(
    (a, b) => (b.p95 !== null && (a === null || b.p95 > a) ? b.p95 : a),
    null,
  );
  const errorRates = m.series.map((b) => (b.calls ? (b.errors / b.calls) * 100 : null));
  const maxRate = Math.max(0, ...errorRates.map((r) => r ?? 0));
  return [
    {
      id: 'chart-calls',
      counts: true,
      title: `Calls per ${m.bucket}`,
      summary: `${m.totals.calls.toLocaleString()} calls and ${m.totals.errors.toLocaleString()} errors; the busiest ${m.bucket} had ${peak.calls.toLocaleString()} calls.`,
      series: [
        { label: 'Calls', values: m.series.map((b) => b.calls), color: '--accent', bars: true },
        { label: 'Errors', values: m.series.map((b) => b.errors), color: '--red', bars: true },
      ],
      format: (v) => v.toLocaleString(),
    },
    {
      id: 'chart-latency',
      title: 'Latency (p50, p95, p99)',
      summary: `Overall p50 ${ms(m.totals.p50)}, p95 ${ms(m.totals.p95)}, p99 ${ms(m.totals.p99)}; the slowest ${m.bucket} had a p95 of ${ms(worst)}.`,
      series: [
        { label: 'p50', values: m.series.map((b) => b.p50), color: '--green' },
        { label: 'p95', values: m.series.map((b) => b.p95), color: '--amber', dash: [8, 4] },
        { label: 'p99', values: m.series.map((b) => b.p99), color: '--red', dash: [2, 3] },
      ],
      format: (v) => ms(v),
    },
    {
      id: 'chart-errors',
      title: 'Error rate',
      summary: `${rate(m.totals.errors, m.totals.calls)} of calls failed; the worst ${m.bucket} reached ${maxRate.toFixed(1)}%.`,
      series: [{ label: 'Error rate', values: errorRates, color: '--red' }],
      format: (v) => `${v >= 10 ? v.toFixed(0) : Number(v.toFixed(2))}%`,
    },
  ];
}

/** A chart's figure: its title, a legend in words, the canvas (hidden from screen readers) and a summary sentence. */
function figure(c: Chart): { el: HTMLElement; plot: HTMLElement } {
  const plot = h('div', { class: 'chart-plot', 'aria-hidden': 'true' });
  const legend = h(
    'ul',
    { class: 'chart-legend plain row small', 'aria-hidden': 'true' },
    c.series.map((s) =>
      h(
        'li',
        {},
        h('span', { class: `swatch${s.dash ? ' dashed' : ''}`, style: `--swatch: var(${s.color})` }),
        s.label,
      ),
    ),
  );
  const el = h(
    'figure',
    { class: 'chart card', id: c.id, 'aria-labelledby': `${c.id}-title`, 'aria-describedby': `${c.id}-summary` },
    h('figcaption', { id: `${c.id}-title` }, c.title),
    legend,
    plot,
    h('p', { class: 'small muted', id: `${c.id}-summary` }, c.summary),
  );
  return { el, plot };
}

/** The Metrics tab of server `server`. */
export function metricsPanel(server: string): HTMLElement {
  const params = new URLSearchParams(location.search);
  let period = (PERIODS.find(([p]) => p === params.get('period'))?.[0] ?? 'day') as Period;
  let tool = params.get('tool') ?? '';
  let drawn: { destroy: () => void }[] = [];
  let timer: ReturnType<typeof setTimeout> | undefined;
  let drawing = 0;
  const body = h('div', { class: 'stack', id: 'metrics-body' }, skeleton(6));
  const toolSelect = h('select', { id: 'metrics-tool' }, h('option', { value: '' }, 'Every tool'));
  const periods = h(
    'fieldset',
    { class: 'segmented', id: 'metrics-period' },
    h('legend', { class: 'visually-hidden' }, 'Period'),
    PERIODS.map(([p, label]) =>
      h(
        'label',
        {},
        h('input', { type: 'radio', name: 'period', value: p, ...(p === period ? { checked: true } : {}) }),
        label,
      ),
    ),
  );

  const render = async (m: MetricsView) => {
    for (const c of drawn) c.destroy();
    drawn = [];
    const tools = [...new Set([...m.tools.map((t) => t.tool), ...(tool ? [tool] : [])])].sort();
    mount(
      toolSelect,
      h('option', { value: '' }, 'Every tool'),
      tools.map((t) => h('option', { value: t, ...(t === tool ? { selected: true } : {}) }, t)),
    );
    const mine = ++drawing;
    const specs = m.totals.calls > 0 ? charts(m) : [];
    const figures = specs.map(figure);
    mount(
      body,
      totals(m),
      m.totals.calls === 0
        ? h('p', { class: 'card muted' }, `No calls ${tool ? `to ${tool} ` : ''}in this period yet.`)
        : [
            h(
              'div',
              { class: 'charts' },
              figures.map((f) => f.el),
            ),
            seriesTable(m, body.querySelector<HTMLDetailsElement>('.metrics-data')?.open ?? false),
          ],
      tool ? null : [h('h2', {}, 'Per tool'), toolTable(m, pick)],
    );
    if (figures.length === 0) return;
    const { timeChart } = await import('./charts.ts');
    if (mine !== drawing) return;
    const times = m.series.map((b) => Date.parse(b.start) / 1000);
    drawn = figures.map((f, i) =>
      timeChart(f.plot, times, specs[i]?.series ?? [], specs[i]?.format ?? String, specs[i]?.counts),
    );
  };

  const load = async () => {
    clearTimeout(timer);
    const q = new URLSearchParams({ period, ...(tool ? { tool } : {}) });
    history.replaceState(null, '', `?tab=metrics&${q}`);
    try {
      await render(await api<MetricsView>('GET', `/servers/${encodeURIComponent(server)}/metrics?${q}`));
    } catch (err) {
      mount(body, errorBox((err as Error).message));
    }
    // A refresh redraws the panel: it waits while the reader is inside it (focus would be lost).
    const refresh = () => {
      if (!body.isConnected) return;
      if (body.contains(document.activeElement)) timer = setTimeout(refresh, REFRESH_MS);
      else void load();
    };
    timer = setTimeout(refresh, REFRESH_MS);
  };
  const pick = (t: string) => {
    tool = t;
    toolSelect.value = t;
    void load();
  };

  periods.addEventListener('change', (e) => {
    period = (e.target as HTMLInputElement).value as Period;
    void load();
  });
  toolSelect.addEventListener('change', () => pick(toolSelect.value));
  void load();
  return h(
    'div',
    { class: 'stack', id: 'metrics' },
    h(
      'div',
      { class: 'row spread' },
      periods,
      h('div', { class: 'row' }, h('label', { for: 'metrics-tool' }, 'Tool'), toolSelect),
    ),
    body,
  );
}
