import type { CallFigures, ServerMetrics } from '../client.ts';
import { type Command, str } from '../command.ts';
import { UsageError } from '../exit-codes.ts';
import { type Io, json, out, table } from '../io.ts';

const PERIODS = ['hour', 'day', 'week', 'month'];

const ms = (v: number | null) => (v === null ? '-' : `${v} ms`);
const figures = (f: CallFigures) => [String(f.calls), String(f.errors), ms(f.p50), ms(f.p95), ms(f.p99)];

/** Prints metrics for people: the totals, the tools, then the buckets that had calls. */
function printMetrics(io: Io, server: string, m: ServerMetrics): void {
  const t = m.totals;
  const rate = t.calls > 0 ? ` (${((100 * t.errors) / t.calls).toFixed(1)} %)` : '';
  out(io, `${server}: last ${m.period}, ${m.from} to ${m.to}`);
  out(io, `calls ${t.calls}  errors ${t.errors}${rate}  p50 ${ms(t.p50)}  p95 ${ms(t.p95)}  p99 ${ms(t.p99)}`);
  out(io, `cold starts ${t.coldStarts}  deploys ${t.deploys}`);
  if (m.tools.length === 0) {
    out(io, 'No tool calls in this period.');
    return;
  }
  out(io);
  table(
    io,
    ['TOOL', 'CALLS', 'ERRORS', 'P50', 'P95', 'P99'],
    m.tools.map((tool) => [tool.tool, ...figures(tool)]),
  );
  out(io);
  table(
    io,
    [m.bucket.toUpperCase(), 'CALLS', 'ERRORS', 'P50', 'P95', 'P99'],
    m.series.filter((b) => b.calls > 0).map((b) => [b.start, ...figures(b)]),
  );
}

export const metricsCommand: Command = {
  words: ['metrics'],
  usage: '<server> [--period hour|day|week|month] [--tool <name>]',
  summary: "A server's tool calls, errors and latency (p50/p95/p99) over the last hour, day (default), week or month.",
  arity: [1, 1],
  options: { period: { type: 'string' }, tool: { type: 'string' } },
  async run({ io, args, values, json: asJson, client }) {
    const server = args[0] as string;
    const period = str(values, 'period');
    if (period !== undefined && !PERIODS.includes(period)) {
      throw new UsageError(`--period must be one of ${PERIODS.join(', ')}`);
    }
    const metrics = await (await client()).serverMetrics(server, period, str(values, 'tool'));
    if (asJson) return json(io, metrics);
    printMetrics(io, server, metrics);
  },
};
