import type { PrismaClient } from '@bmms/prisma';
import type { CallRecord } from '../gateway/calls.ts';
import type { Logger } from '../logger.ts';
import { LatencyHistogram } from './histogram.ts';
import { addMetricRows, bucketStart, type MetricRow, pruneMetricRows, RESOLUTIONS, type Resolution } from './store.ts';

/** The calls of one tool of one server in one minute, not yet in the database. */
export interface MinuteCell {
  serverId: string;
  orgId: string;
  tool: string;
  /** The minute's start (epoch ms). */
  minute: number;
  calls: number;
  errors: number;
  latencySum: number;
  histogram: LatencyHistogram;
}

/** Distinct tool names kept per server and minute; calls to further names (unknown tools) count as OTHER_TOOL. */
const MAX_TOOLS_PER_MINUTE = 100;
export const OTHER_TOOL = '(other)';
const FLUSH_MS = 60_000;
const PRUNE_MS = 3_600_000;

export interface CallMetricsDeps {
  db: PrismaClient;
  log: Logger;
  /** The clock (tests pass their own). */
  now?: () => number;
}

/**
 * Per-server and per-tool call metrics: every `tools/call` through the gateway (previews excepted) is counted in
 * memory per (server, tool, minute), with its latency in a mergeable histogram, and added into the database once a
 * minute and at `close()`, at minute, hour and day resolution. Reads see the minutes not yet written, so a call is
 * visible at once on the process that served it.
 */
export class CallMetrics {
  readonly #deps: CallMetricsDeps;
  /**
   * Pending cells by server, minute and tool (nested maps: the call path builds no key string). A server's minute
   * holds at most MAX_TOOLS_PER_MINUTE tool names.
   */
  #pending = new Map<string, Map<number, Map<string, MinuteCell>>>();
  #flushing: Promise<void> | undefined;
  /** Incremented when a flush starts: a read that saw it change while it read the database reads again. */
  #flushes = 0;
  #timer: NodeJS.Timeout | undefined;
  #lastPrune = 0;

  constructor(deps: CallMetricsDeps) {
    this.#deps = deps;
  }

  /** The call observer to add to ctx.calls. */
  readonly observe = (call: CallRecord): void => {
    if (call.method !== 'tools/call' || call.preview !== undefined) return;
    const minute = bucketStart(call.at, 'minute');
    let minutes = this.#pending.get(call.serverId);
    if (!minutes) {
      minutes = new Map();
      this.#pending.set(call.serverId, minutes);
    }
    let tools = minutes.get(minute);
    if (!tools) {
      tools = new Map();
      minutes.set(minute, tools);
    }
    let tool = call.tool ?? '';
    let cell = tools.get(tool);
    if (!cell) {
      if (tools.size >= MAX_TOOLS_PER_MINUTE) tool = OTHER_TOOL;
      cell = tools.get(tool);
      if (!cell) {
        const { serverId, orgId } = call;
        cell = { serverId, orgId, tool, minute, calls: 0, errors: 0, latencySum: 0, histogram: new LatencyHistogram() };
        tools.set(tool, cell);
      }
    }
    cell.calls++;
    if (call.failed) cell.errors++;
    cell.latencySum += call.latencyMs;
    cell.histogram.add(call.latencyMs);
  };

  /** The pending cells. */
  #cells(serverIds?: ReadonlySet<string>): MinuteCell[] {
    const cells: MinuteCell[] = [];
    for (const [serverId, minutes] of this.#pending) {
      if (serverIds && !serverIds.has(serverId)) continue;
      for (const tools of minutes.values()) cells.push(...tools.values());
    }
    return cells;
  }

  /** Starts the once-a-minute flush. */
  start(): void {
    this.#timer ??= setInterval(() => {
      this.flush().catch((err) => this.#deps.log.warn('metrics flush failed', { err }));
    }, FLUSH_MS);
    this.#timer.unref();
  }

  /** Stops the timer and writes what is pending. */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.flush();
  }

  /** Adds the pending minutes into the database (one flush at a time; a flush asked for meanwhile follows it). */
  async flush(): Promise<void> {
    while (this.#flushing) await this.#flushing;
    if (this.#pending.size === 0) return this.#prune();
    const cells = this.#cells();
    this.#flushes++;
    this.#flushing = this.#write(cells).finally(() => {
      this.#flushing = undefined;
    });
    // Moved out of `pending` only now, together with the flush starting: a reader sees them in one place or the other.
    this.#pending = new Map();
    await this.#flushing;
    await this.#prune();
  }

  /**
   * Reads the database with `read` and hands back its result with the cells of `serverIds` not yet written: a
   * consistent sum, never a minute counted twice or missed while a flush runs.
   */
  async withUnflushed<T>(serverIds: string[], read: () => Promise<T>): Promise<{ stored: T; unflushed: MinuteCell[] }> {
    const wanted = new Set(serverIds);
    for (;;) {
      while (this.#flushing) await this.#flushing.catch(() => {});
      const flushes = this.#flushes;
      const unflushed = this.#cells(wanted);
      const stored = await read();
      if (flushes === this.#flushes) return { stored, unflushed };
    }
  }

  async #write(cells: MinuteCell[]): Promise<void> {
    try {
      await addMetricRows(this.#deps.db, rollUp(cells));
    } catch (err) {
      // Lost rather than retried forever: a database that refuses them now would keep refusing.
      const calls = cells.reduce((n, c) => n + c.calls, 0);
      this.#deps.log.warn('metrics of a minute could not be written', { calls, err });
    }
  }

  async #prune(): Promise<void> {
    const now = (this.#deps.now ?? Date.now)();
    if (now - this.#lastPrune < PRUNE_MS) return;
    this.#lastPrune = now;
    await pruneMetricRows(this.#deps.db, now).catch((err) => this.#deps.log.warn('metrics prune failed', { err }));
  }
}

/** The rows that add `cells` into the table: each minute, and its share of its hour and day, merged per key. */
export function rollUp(cells: MinuteCell[]): MetricRow[] {
  const rows = new Map<string, { row: MetricRow; histogram: LatencyHistogram }>();
  for (const cell of cells) {
    for (const resolution of Object.keys(RESOLUTIONS) as Resolution[]) {
      const start = bucketStart(cell.minute, resolution);
      const key = `${cell.serverId}\u0000${resolution}\u0000${start}\u0000${cell.tool}`;
      let entry = rows.get(key);
      if (!entry) {
        const { serverId, orgId, tool } = cell;
        const row = { serverId, orgId, resolution, start, tool, calls: 0, errors: 0, latencySum: 0, histogram: {} };
        entry = { row, histogram: new LatencyHistogram() };
        rows.set(key, entry);
      }
      entry.row.calls += cell.calls;
      entry.row.errors += cell.errors;
      entry.row.latencySum += cell.latencySum;
      entry.histogram.merge(cell.histogram);
    }
  }
  return [...rows.values()].map(({ row, histogram }) => ({ ...row, histogram: histogram.toJSON() }));
}
