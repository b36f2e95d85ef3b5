import type { PrismaClient } from '@bmms/prisma';
import type { CallMetrics, MinuteCell } from './aggregator.ts';
import { LatencyHistogram } from './histogram.ts';
import { bucketStart, RESOLUTIONS, type Resolution } from './store.ts';

/** The periods the metrics API answers for: how many buckets of which resolution, ending with the current one. */
export const PERIODS = {
  hour: { bucket: 'minute', count: 60 },
  day: { bucket: 'hour', count: 24 },
  week: { bucket: 'hour', count: 168 },
  month: { bucket: 'day', count: 30 },
} as const satisfies Record<string, { bucket: Resolution; count: number }>;
export type Period = keyof typeof PERIODS;

/** Calls, errors and latency percentiles (ms, 1 decimal; null without calls). */
export interface CallFigures {
  calls: number;
  errors: number;
  p50: number | null;
  p95: number | null;
  p99: number | null;
}

/** What GET /servers/{name}/metrics answers. */
export interface MetricsAnswer {
  period: Period;
  bucket: Resolution;
  from: string;
  to: string;
  totals: CallFigures & { coldStarts: number; deploys: number };
  series: (CallFigures & { start: string })[];
  tools: (CallFigures & { tool: string })[];
}

/** What the metrics read: the database and the calls this process has not written yet. */
export interface MetricsReader {
  db: PrismaClient;
  metrics: CallMetrics;
}

/** Deployment states of an instance that served (a later one superseded it, or it exited). */
const SERVED = ['succeeded', 'superseded', 'exited'];
/** How far back a served instance is looked for, to tell a warm instance taken back from a cold start. */
const REUSE_LOOKBACK_MS = 86_400_000;

/** Sums of calls, errors and latencies. */
class Tally {
  calls = 0;
  errors = 0;
  readonly histogram = new LatencyHistogram();

  add(calls: number, errors: number, histogram: LatencyHistogram): void {
    this.calls += calls;
    this.errors += errors;
    this.histogram.merge(histogram);
  }

  figures(): CallFigures {
    const q = (p: number) => {
      const v = this.histogram.quantile(p);
      return v === null ? null : Math.round(v * 10) / 10;
    };
    return { calls: this.calls, errors: this.errors, p50: q(0.5), p95: q(0.95), p99: q(0.99) };
  }
}

/** A server's metrics over `period` (optionally of one tool), every bucket present, at `now`. */
export async function serverMetrics(
  reader: MetricsReader,
  serverId: string,
  period: Period,
  tool: string | undefined,
  now = Date.now(),
): Promise<MetricsAnswer> {
  const { bucket, count } = PERIODS[period];
  const size = RESOLUTIONS[bucket].ms;
  const to = bucketStart(now, bucket) + size;
  const from = to - count * size;
  const { stored, unflushed } = await reader.metrics.withUnflushed([serverId], () =>
    reader.db.serverMetric.findMany({
      where: {
        serverId,
        resolution: bucket,
        start: { gte: new Date(from), lt: new Date(to) },
        ...(tool ? { tool } : {}),
      },
      select: { start: true, tool: true, calls: true, errors: true, histogram: true },
    }),
  );
  const entries = [
    ...stored.map((r) => ({ ...r, start: r.start.getTime(), histogram: LatencyHistogram.from(r.histogram) })),
    ...unflushedIn(unflushed, bucket, from, to, tool),
  ];
  const totals = new Tally();
  const buckets = Array.from({ length: count }, () => new Tally());
  const tools = new Map<string, Tally>();
  for (const e of entries) {
    totals.add(e.calls, e.errors, e.histogram);
    buckets[Math.floor((e.start - from) / size)]?.add(e.calls, e.errors, e.histogram);
    const t = tools.get(e.tool) ?? new Tally();
    tools.set(e.tool, t);
    t.add(e.calls, e.errors, e.histogram);
  }
  const events = await deployEvents(reader.db, serverId, from, to);
  return {
    period,
    bucket,
    from: new Date(from).toISOString(),
    to: new Date(to).toISOString(),
    totals: { ...totals.figures(), ...events },
    series: buckets.map((b, i) => ({ start: new Date(from + i * size).toISOString(), ...b.figures() })),
    tools: [...tools]
      .map(([name, t]) => ({ tool: name, ...t.figures() }))
      .sort((a, b) => b.calls - a.calls || a.tool.localeCompare(b.tool)),
  };
}

/** The unwritten minutes within [from, to) (of `tool`), as entries of `bucket`. */
function unflushedIn(cells: MinuteCell[], bucket: Resolution, from: number, to: number, tool: string | undefined) {
  return cells
    .filter((c) => c.minute >= from && c.minute < to && (tool === undefined || c.tool === tool))
    .map((c) => ({ ...c, start: bucketStart(c.minute, bucket) }));
}

/**
 * Cold starts (instances that started serving) and deploys (a revision other than the one before it started
 * serving) within [from, to), from the deployment history the reconciler writes. An instance kept warm and taken
 * back (a quick revert) is a deploy but no cold start; a server woken from scale-to-zero is a cold start.
 */
export async function deployEvents(
  db: PrismaClient,
  serverId: string,
  from: number,
  to: number,
): Promise<{ coldStarts: number; deploys: number }> {
  const served = { serverId, instanceId: { not: null }, state: { in: SERVED } };
  const since = from - REUSE_LOOKBACK_MS;
  const [before, rows] = await Promise.all([
    db.deployment.findFirst({
      where: { ...served, startedAt: { lt: new Date(since) } },
      orderBy: { startedAt: 'desc' },
    }),
    db.deployment.findMany({
      where: { ...served, startedAt: { gte: new Date(since), lt: new Date(to) } },
      orderBy: { startedAt: 'asc' },
      select: { revision: true, instanceId: true, startedAt: true },
    }),
  ]);
  const instances = new Set<string | null>();
  let revision = before?.revision;
  let coldStarts = 0;
  let deploys = 0;
  for (const row of rows) {
    if (row.startedAt.getTime() >= from) {
      if (!instances.has(row.instanceId)) coldStarts++;
      if (row.revision !== revision) deploys++;
    }
    instances.add(row.instanceId);
    revision = row.revision;
  }
  return { coldStarts, deploys };
}

/** Calls per server over the last 24 hours (the current hour and the 23 before it), in one grouped query. */
export async function callsLast24h(
  reader: MetricsReader,
  serverIds: string[],
  now = Date.now(),
): Promise<Map<string, number>> {
  const counts = new Map<string, number>(serverIds.map((id) => [id, 0]));
  if (serverIds.length === 0) return counts;
  const from = bucketStart(now, 'hour') - 23 * RESOLUTIONS.hour.ms;
  const { stored, unflushed } = await reader.metrics.withUnflushed(serverIds, () =>
    reader.db.serverMetric.groupBy({
      by: ['serverId'],
      where: { serverId: { in: serverIds }, resolution: 'hour', start: { gte: new Date(from) } },
      _sum: { calls: true },
    }),
  );
  for (const g of stored) counts.set(g.serverId, (counts.get(g.serverId) ?? 0) + (g._sum.calls ?? 0));
  for (const c of unflushed) {
    if (c.minute >= from) counts.set(c.serverId, (counts.get(c.serverId) ?? 0) + c.calls);
  }
  return counts;
}
