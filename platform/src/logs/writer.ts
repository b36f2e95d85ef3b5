import type { Database, PrismaClient } from '@bmms/prisma';
import type { Logger } from '../logger.ts';
import type { LogEntry } from './records.ts';

export interface LogWriterOptions {
  db: PrismaClient;
  /** Runs the inserts (one statement per batch, past the client: see insertLogRows). */
  raw: Database['raw'];
  log: Logger;
  /** Records older than this are deleted by the sweep (BMMS_LOG_RETENTION_DAYS). */
  retentionMs: number;
  /** How long a record may wait before its batch is written (default 250 ms). */
  flushMs?: number;
  /** A batch this large is written at once (default 500); also the most rows of one insert. */
  batchSize?: number;
  /** The most records waiting in memory; past it new records are dropped and counted (default 20,000). */
  maxQueue?: number;
  /** How often the retention sweep runs (default 10 minutes; it also runs at start). */
  sweepMs?: number;
}

/** Hears which servers got new records after each write (the live followers of their logs). */
export type FlushListener = (serverIds: ReadonlySet<string>) => void;

/** A row of `server_logs` as the insert takes it (`time` in epoch ms). */
interface Row extends Omit<LogEntry, 'owner' | 'time'> {
  serverId: string;
  orgId: string;
  time: number;
}

/**
 * Writes server log records in batches, off the request path: `add` only queues (bounded; what does not fit is
 * counted and summarized as a notice), a timer writes every `flushMs` or at `batchSize` records with one
 * multi-row insert, a sweep deletes what is older than the retention, and `close` writes what is left.
 */
export class LogWriter {
  readonly #db: PrismaClient;
  readonly #raw: Database['raw'];
  readonly #log: Logger;
  readonly #flushMs: number;
  readonly #batchSize: number;
  readonly #maxQueue: number;
  readonly #retentionMs: number;
  #queue: LogEntry[] = [];
  /** Records dropped because the queue was full, per server (id or name), for the notice that says so. */
  readonly #droppedBy = new Map<string, { entry: LogEntry; count: number }>();
  #droppedTotal = 0;
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> | undefined;
  readonly #sweeper: NodeJS.Timeout;
  readonly #listeners = new Set<FlushListener>();
  #closed = false;

  constructor(opts: LogWriterOptions) {
    this.#db = opts.db;
    this.#raw = opts.raw;
    this.#log = opts.log;
    this.#flushMs = opts.flushMs ?? 250;
    this.#batchSize = opts.batchSize ?? 500;
    this.#maxQueue = opts.maxQueue ?? 20_000;
    this.#retentionMs = opts.retentionMs;
    this.#sweeper = setInterval(() => void this.sweep().catch(() => {}), opts.sweepMs ?? 600_000);
    this.#sweeper.unref();
    void this.sweep().catch(() => {});
  }

  /** Queues a record; returns at once. Over the queue's bound the record is dropped and counted. */
  add(entry: LogEntry): void {
    if (this.#closed) return;
    if (this.#queue.length >= this.#maxQueue) {
      const key = 'serverId' in entry.owner ? entry.owner.serverId : entry.owner.serverName;
      const dropped = this.#droppedBy.get(key);
      if (dropped) dropped.count++;
      else if (this.#droppedBy.size < 10_000) this.#droppedBy.set(key, { entry, count: 1 });
      this.#droppedTotal++;
      return;
    }
    this.#queue.push(entry);
    if (this.#queue.length >= this.#batchSize) this.#flushSoon(0);
    else this.#flushSoon(this.#flushMs);
  }

  /** Records dropped since start because the queue was full. */
  get dropped(): number {
    return this.#droppedTotal;
  }

  /** Records waiting to be written. */
  get pending(): number {
    return this.#queue.length;
  }

  /** Adds a listener of writes; returns a function that removes it. */
  onFlush(listener: FlushListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #flushSoon(ms: number): void {
    if (this.#flushing) return;
    if (this.#timer && ms > 0) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.flush().catch((err: unknown) => this.#log.warn('server log records could not be written', { err }));
    }, ms);
    this.#timer.unref();
  }

  /** Writes everything queued now (in batches); resolves when it is written. */
  async flush(): Promise<void> {
    while (this.#flushing) await this.#flushing;
    if (this.#queue.length === 0 && this.#droppedBy.size === 0) return;
    this.#flushing = this.#writeAll().finally(() => {
      this.#flushing = undefined;
    });
    await this.#flushing;
    // What arrived while writing waits for its own timer (or goes now, when a whole batch is there).
    if (this.#queue.length > 0) this.#flushSoon(this.#queue.length >= this.#batchSize ? 0 : this.#flushMs);
  }

  async #writeAll(): Promise<void> {
    const entries = this.#queue;
    this.#queue = [];
    entries.push(...this.#droppedNotices());
    const written = new Set<string>();
    for (let i = 0; i < entries.length; i += this.#batchSize) {
      const rows = await this.#rows(entries.slice(i, i + this.#batchSize));
      if (rows.length === 0) continue;
      await this.#insert(rows);
      for (const row of rows) written.add(row.serverId);
    }
    if (written.size === 0) return;
    for (const listener of this.#listeners) {
      try {
        listener(written);
      } catch (err) {
        this.#log.warn('log listener failed', { err });
      }
    }
  }

  /** One notice per server whose records were dropped: "N log records dropped". */
  #droppedNotices(): LogEntry[] {
    const notices = [...this.#droppedBy.values()].map(({ entry, count }) => ({
      ...entry,
      kind: 'notice' as const,
      level: 'warn' as const,
      stream: null,
      tool: null,
      call: null,
      message: `[bmms] ${count.toLocaleString('en-US')} log records dropped: the platform's log writer fell behind`,
    }));
    this.#droppedBy.clear();
    return notices;
  }

  /** The rows of entries, owners looked up by name where needed (entries of unknown servers are skipped). */
  async #rows(entries: LogEntry[]): Promise<Row[]> {
    const names = new Set<string>();
    for (const e of entries) if ('serverName' in e.owner) names.add(e.owner.serverName);
    const byName = new Map<string, { id: string; orgId: string }>();
    if (names.size > 0) {
      const servers = await this.#db.server.findMany({
        where: { name: { in: [...names] } },
        select: { id: true, orgId: true, name: true },
      });
      for (const s of servers) byName.set(s.name, s);
    }
    const rows: Row[] = [];
    for (const e of entries) {
      const owner = 'serverName' in e.owner ? byName.get(e.owner.serverName) : e.owner;
      if (!owner) continue;
      rows.push({
        serverId: 'id' in owner ? owner.id : owner.serverId,
        orgId: owner.orgId,
        time: e.time.getTime(),
        kind: e.kind,
        level: e.level,
        message: e.message,
        preview: e.preview,
        revision: e.revision,
        stream: e.stream,
        tool: e.tool,
        call: e.call,
      });
    }
    return rows;
  }

  /**
   * One multi-row insert. Rows of servers deleted meanwhile are left out by the statement itself; a server deleted
   * while it runs breaks the foreign key, and the second try leaves it out.
   */
  async #insert(rows: Row[]): Promise<void> {
    try {
      await insertLogRows(this.#raw, rows);
    } catch {
      await insertLogRows(this.#raw, rows).catch((err: unknown) => {
        this.#log.warn('server log records could not be written', { count: rows.length, err });
      });
    }
  }

  /** Deletes the records older than the retention; returns how many. */
  async sweep(now = Date.now()): Promise<number> {
    const { count } = await this.#db.serverLog.deleteMany({
      where: { time: { lt: new Date(now - this.#retentionMs) } },
    });
    if (count > 0) this.#log.info('swept old server log records', { count });
    return count;
  }

  /** Stops taking records and writes every queued one (call before the database closes). */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#sweeper);
    clearTimeout(this.#timer);
    this.#timer = undefined;
    try {
      await this.flush();
    } catch (err) {
      this.#log.warn('server log records could not be written at close', { err });
    }
    this.#listeners.clear();
  }
}

/**
 * Inserts `rows` with one statement whose only parameter is their JSON, past the client: about a fifth of the CPU
 * per row of the client's `createMany` (which builds and binds every value of every row), and on the embedded
 * database all of it is the platform's own CPU, on the call path's budget. The batch is read as `json`, not `jsonb`:
 * it is read once, row by row, and converting all of it to jsonb first costs about a tenth of the insert. Rows of servers that no longer exist
 * are skipped.
 */
async function insertLogRows(raw: Database['raw'], rows: Row[]): Promise<void> {
  await raw.query(
    `INSERT INTO server_logs (server_id, org_id, time, kind, level, message, preview, revision, stream, tool, call)
     SELECT r."serverId"::uuid, r."orgId"::uuid, to_timestamp(r.time / 1000.0) AT TIME ZONE 'UTC', r.kind, r.level,
            r.message, r.preview, r.revision, r.stream, r.tool, r.call
       FROM json_to_recordset($1::json) AS r("serverId" text, "orgId" text, time double precision, kind text,
                                              level text, message text, preview int, revision text, stream text,
                                              tool text, call jsonb)
      WHERE EXISTS (SELECT 1 FROM servers s WHERE s.id = r."serverId"::uuid)`,
    [logPayload(rows)],
  );
}

/** A `\u0000` escape that is not itself an escaped backslash followed by `u0000`. */
const NUL_ESCAPE = /(?<!\\)((?:\\\\)*)\\u0000/g;

/**
 * The rows as JSON, with NUL characters replaced by U+FFFD: Postgres text and jsonb cannot hold them, and one NUL
 * in an instance's output or a client's name would otherwise lose the whole batch, other servers' records with it.
 */
export function logPayload(rows: readonly object[]): string {
  const json = JSON.stringify(rows);
  return json.includes('\\u0000') ? json.replace(NUL_ESCAPE, '$1\\ufffd') : json;
}
