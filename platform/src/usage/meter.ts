import { randomUUID } from 'node:crypto';
import type { PrismaClient } from '@bmms/prisma';
import type { Logger } from '../logger.ts';
import { readOthersBillable, type UsageRow, writeUsageRows } from './store.ts';

/** The MCP methods counted under their own name; any other method a client sends counts as OTHER_METHOD. */
const KNOWN_METHODS = new Set([
  'initialize',
  'notifications/initialized',
  'notifications/cancelled',
  'ping',
  'tools/list',
  'tools/call',
  'resources/list',
  'resources/read',
  'resources/templates/list',
  'prompts/list',
  'prompts/get',
  'completion/complete',
  'logging/setLevel',
]);
export const OTHER_METHOD = '(other)';
/** GET (the SSE stream), DELETE (end of session), or a body that is not a request. */
export const NO_METHOD = '';
/** Distinct tool names kept per server and month; further names (unknown tools) count as OTHER_TOOL. */
const MAX_TOOLS_PER_SERVER = 200;
export const OTHER_TOOL = '(other)';
/** How often each process writes its counts (BMMS_USAGE_FLUSH_SECONDS): what a crash may lose at most. */
export const DEFAULT_FLUSH_MS = 10_000;

/** One counter: the requests of one server, method, tool and status in one month, counted by this process. */
interface Cell {
  month: string;
  orgId: string;
  serverId: string;
  preview: boolean;
  method: string;
  tool: string;
  status: number;
  /** This process's running total for the month. */
  calls: number;
}

/** Whether a request counts towards the plan's monthly calls: a tool call to production that succeeded. */
export function isBillable(c: { preview: boolean; method: string; status: number }): boolean {
  return !c.preview && c.method === 'tools/call' && c.status < 300;
}

/** The calendar month (UTC) that holds `at`: its first day (YYYY-MM-01) and its bounds. */
export function monthOf(at: number): { key: string; start: number; end: number } {
  const d = new Date(at);
  const start = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
  const end = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
  return { key: new Date(start).toISOString().slice(0, 10), start, end };
}

export interface UsageMeterDeps {
  db: PrismaClient;
  log: Logger;
  /** The clock (tests pass their own, to roll the month over). */
  now?: () => number;
  flushMs?: number;
  /** False with BMMS_METERING=off (benchmarks): the gateway then counts nothing and enforces no quota. */
  enabled?: boolean;
}

/**
 * Meters every MCP request through the gateway: counted in memory per (month, server, preview, method, tool, status)
 * with no database on the call path, written in batches every flush interval and at `close()`. Each process writes
 * its own rows with its running totals (see store.ts), so processes sharing a database never count a call twice and a
 * repeated flush never adds twice; a crash loses at most what one interval counted.
 */
export class UsageMeter {
  /** This process's rows in usage_counts. */
  readonly processId: string = randomUUID();
  readonly #deps: UsageMeterDeps;
  readonly #now: () => number;
  #month: { key: string; start: number; end: number };
  /** The current month's cells, by `server\0preview\0method\0tool\0status`. */
  #cells = new Map<string, Cell>();
  /** Cells changed since they were last written (the current month's and, until written, the previous one's). */
  #dirty = new Set<Cell>();
  /** Tool names per server this month, to bound what a client can add. */
  #tools = new Map<string, Set<string>>();
  /** Each server's most recently counted cell this month. */
  #last = new Map<string, Cell>();
  /** Billable calls per org this month, counted by this process. */
  #billable = new Map<string, number>();
  /** Billable calls per org this month counted by every other process, as of the last flush. */
  #others: { month: string; byOrg: Map<string, number> } = { month: '', byOrg: new Map() };
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> | undefined;

  constructor(deps: UsageMeterDeps) {
    this.#deps = deps;
    this.#now = deps.now ?? Date.now;
    this.#month = monthOf(this.#now());
  }

  /** Whether the gateway meters calls (and enforces quotas): false only with BMMS_METERING=off. */
  get enabled(): boolean {
    return this.#deps.enabled ?? true;
  }

  /** The meter's clock (epoch ms). */
  now(): number {
    return this.#now();
  }

  /** The current calendar month (UTC), rolled over when the clock passed its end. */
  month(): { key: string; start: number; end: number } {
    const now = this.#now();
    if (now >= this.#month.end || now < this.#month.start) this.#rollOver(now);
    return this.#month;
  }

  /** Counts one request that got an answer. Runs on the call path: memory only. */
  record(
    orgId: string,
    serverId: string,
    preview: boolean,
    method: string | undefined,
    tool: string | undefined,
    status: number,
  ): void {
    this.month();
    const m = method === undefined ? NO_METHOD : KNOWN_METHODS.has(method) ? method : OTHER_METHOD;
    const t = m === 'tools/call' ? this.#toolName(serverId, tool ?? '') : '';
    // A server's calls mostly repeat its previous one's cell: found without building the key then.
    let cell = this.#last.get(serverId);
    if (!cell || cell.status !== status || cell.preview !== preview || cell.method !== m || cell.tool !== t) {
      cell = this.#cell(orgId, serverId, preview, m, t, status);
      this.#last.set(serverId, cell);
    }
    cell.calls++;
    this.#dirty.add(cell);
    if (!preview && m === 'tools/call' && status < 300) {
      this.#billable.set(orgId, (this.#billable.get(orgId) ?? 0) + 1);
    }
  }

  /** The billable calls this process counted for `orgId` this month. */
  ownBillable(orgId: string): number {
    this.month();
    return this.#billable.get(orgId) ?? 0;
  }

  /**
   * The billable calls of `orgId` this month in every process: this one's exactly, the others' as of the last flush
   * (what the quota compares; another process's calls reach this one within a flush interval).
   */
  billable(orgId: string): number {
    const month = this.month();
    const others = this.#others.month === month.key ? (this.#others.byOrg.get(orgId) ?? 0) : 0;
    return (this.#billable.get(orgId) ?? 0) + others;
  }

  /** This process's counts of `orgId` for the current month (written or not): to add to the other processes' rows. */
  ownCells(orgId: string): UsageRow[] {
    this.month();
    const out: UsageRow[] = [];
    for (const c of this.#cells.values()) if (c.orgId === orgId) out.push({ ...c });
    return out;
  }

  /** Starts the periodic flush. */
  start(): void {
    this.#timer ??= setInterval(() => {
      this.flush().catch((err) => this.#deps.log.warn('usage flush failed', { err }));
    }, this.#deps.flushMs ?? DEFAULT_FLUSH_MS);
    this.#timer.unref();
  }

  /** Stops the timer and writes everything counted. */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.flush();
  }

  /**
   * Writes the cells changed since the last flush (one flush at a time; a failed one is retried by the next), then
   * reads what the other processes counted.
   */
  async flush(): Promise<void> {
    await this.#write();
    await this.refresh();
  }

  /** Reads the other processes' billable calls of this month (at start, and after each flush). */
  async refresh(): Promise<void> {
    const { key } = this.month();
    const byOrg = await readOthersBillable(this.#deps.db, key, this.processId);
    this.#others = { month: key, byOrg };
  }

  async #write(): Promise<void> {
    while (this.#flushing) await this.#flushing;
    this.month();
    if (this.#dirty.size === 0) return;
    const cells = [...this.#dirty];
    this.#dirty = new Set();
    // Snapshots: counting goes on while the rows are written.
    const rows = cells.map((c) => ({ ...c }));
    this.#flushing = writeUsageRows(this.#deps.db, this.processId, rows)
      .catch((err) => {
        // Kept dirty: the next flush writes the running totals again (a row only ever grows to them).
        for (const c of cells) this.#dirty.add(c);
        throw err;
      })
      .finally(() => {
        this.#flushing = undefined;
      });
    await this.#flushing;
  }

  #cell(orgId: string, serverId: string, preview: boolean, method: string, tool: string, status: number): Cell {
    const key = `${serverId}\u0000${preview ? 1 : 0}\u0000${method}\u0000${tool}\u0000${status}`;
    let cell = this.#cells.get(key);
    if (!cell) {
      cell = { month: this.#month.key, orgId, serverId, preview, method, tool, status, calls: 0 };
      this.#cells.set(key, cell);
    }
    return cell;
  }

  #rollOver(now: number): void {
    this.#month = monthOf(now);
    // The previous month's cells that are still dirty stay in #dirty until written; new calls start at zero.
    this.#cells = new Map();
    this.#last = new Map();
    this.#tools = new Map();
    this.#billable = new Map();
  }

  #toolName(serverId: string, tool: string): string {
    let names = this.#tools.get(serverId);
    if (!names) {
      names = new Set();
      this.#tools.set(serverId, names);
    }
    if (names.has(tool)) return tool;
    if (names.size >= MAX_TOOLS_PER_SERVER) return OTHER_TOOL;
    names.add(tool);
    return tool;
  }
}
