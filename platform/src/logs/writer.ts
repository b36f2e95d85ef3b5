import type { Database, PrismaClient } from '@bmms/prisma';
import type { CallRecord } from '../gateway/calls.ts';
import type { Logger } from '../logger.ts';
import {
  BATCH_SPAN_MS,
  callEntry,
  highestLevel,
  type LogEntry,
  type LogLevel,
  RECORDS_PER_ROW,
  type StoredCall,
  storedCall,
} from './records.ts';

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

/** A row of `server_logs` as the insert takes it (`time` in epoch ms); `calls` for a batch of gateway calls. */
interface Row extends Omit<LogEntry, 'owner' | 'time'> {
  serverId: string;
  orgId: string;
  time: number;
  calls: StoredCall[] | null;
}

/** Gateway calls of one server waiting to be written as one row (`from`, `to`: their earliest and latest `at`). */
interface CallBatch {
  serverId: string;
  orgId: string;
  calls: StoredCall[];
  from: number;
  to: number;
}

const isBatch = (item: LogEntry | CallBatch): item is CallBatch => 'calls' in item && Array.isArray(item.calls);

/**
 * Writes server log records in batches, off the request path: `add` and `addCall` only queue (bounded; what does
 * not fit is counted and summarized as a notice), a timer writes every `flushMs` or at `batchSize` records with one
 * multi-row insert, a sweep deletes what is older than the retention, and `close` writes what is left. A server's
 * gateway calls between two writes go in one row (`calls`), up to RECORDS_PER_ROW calls or BATCH_SPAN_MS apart.
 */
export class LogWriter {
  readonly #db: PrismaClient;
  readonly #raw: Database['raw'];
  readonly #log: Logger;
  readonly #flushMs: number;
  readonly #batchSize: number;
  readonly #maxQueue: number;
  readonly #retentionMs: number;
  /** Records and call batches, in the order of their first record. */
  #queue: (LogEntry | CallBatch)[] = [];
  /** Records waiting (a batch counts its calls). */
  #pending = 0;
  /** The batch each server's next call joins, until the next write. */
  #open = new Map<string, CallBatch>();
  /** Records dropped because the queue was full, per server (id or name), for the notice that says so. */
  readonly #droppedBy = new Map<string, { entry: LogEntry; count: number }>();
  #droppedTotal = 0;
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> | undefined;
  readonly #sweeper: NodeJS.Timeout;
  /** The sweep at start: a sweep asked for meanwhile runs after it (and so counts what it deletes itself). */
  readonly #firstSweep: Promise<void>;
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
    this.#firstSweep = this.#sweep(Date.now()).then(
      () => {},
      () => {},
    );
  }

  /** Queues a record; returns at once. Over the queue's bound the record is dropped and counted. */
  add(entry: LogEntry): void {
    if (this.#closed) return;
    if (this.#pending >= this.#maxQueue) {
      this.#drop('serverId' in entry.owner ? entry.owner.serverId : entry.owner.serverName, entry);
      return;
    }
    this.#queue.push(entry);
    this.#queued();
  }

  /** Queues the record of a gateway call (in its server's batch); returns at once. Bounded like `add`. */
  addCall(call: CallRecord): void {
    if (this.#closed) return;
    if (this.#pending >= this.#maxQueue) {
      this.#drop(call.serverId, call);
      return;
    }
    const { at } = call;
    let batch = this.#open.get(call.serverId);
    if (
      !batch ||
      batch.calls.length >= RECORDS_PER_ROW ||
      Math.max(batch.to, at) - Math.min(batch.from, at) >= BATCH_SPAN_MS
    ) {
      batch = { serverId: call.serverId, orgId: call.orgId, calls: [], from: at, to: at };
      this.#open.set(call.serverId, batch);
      this.#queue.push(batch);
    }
    batch.calls.push(storedCall(call));
    if (at < batch.from) batch.from = at;
    else if (at > batch.to) batch.to = at;
    this.#queued();
  }

  #queued(): void {
    this.#pending++;
    if (this.#pending >= this.#batchSize) this.#flushSoon(0);
    else this.#flushSoon(this.#flushMs);
  }

  /** Counts a record that did not fit, for its server's notice. */
  #drop(key: string, what: LogEntry | CallRecord): void {
    const dropped = this.#droppedBy.get(key);
    if (dropped) dropped.count++;
    else if (this.#droppedBy.size < 10_000) {
      this.#droppedBy.set(key, { entry: 'owner' in what ? what : callEntry(what), count: 1 });
    }
    this.#droppedTotal++;
  }

  /** Records dropped since start because the queue was full. */
  get dropped(): number {
    return this.#droppedTotal;
  }

  /** Records waiting to be written. */
  get pending(): number {
    return this.#pending;
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
    if (this.#pending > 0) this.#flushSoon(this.#pending >= this.#batchSize ? 0 : this.#flushMs);
  }

  async #writeAll(): Promise<void> {
    const items = this.#queue;
    this.#queue = [];
    this.#pending = 0;
    this.#open.clear();
    items.push(...this.#droppedNotices());
    const written = new Set<string>();
    // Statements of about `batchSize` records each (a batch of calls is never split).
    for (let i = 0; i < items.length; ) {
      const chunk: (LogEntry | CallBatch)[] = [];
      for (let records = 0; i < items.length && records < this.#batchSize; i++) {
        const item = items[i] as LogEntry | CallBatch;
        chunk.push(item);
        records += isBatch(item) ? item.calls.length : 1;
      }
      const rows = await this.#rows(chunk);
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
  async #rows(items: (LogEntry | CallBatch)[]): Promise<Row[]> {
    const names = new Set<string>();
    for (const e of items) if (!isBatch(e) && 'serverName' in e.owner) names.add(e.owner.serverName);
    const byName = new Map<string, { id: string; orgId: string }>();
    if (names.size > 0) {
      const servers = await this.#db.server.findMany({
        where: { name: { in: [...names] } },
        select: { id: true, orgId: true, name: true },
      });
      for (const s of servers) byName.set(s.name, s);
    }
    const rows: Row[] = [];
    for (const e of items) {
      if (isBatch(e)) {
        rows.push(batchRow(e));
        continue;
      }
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
        calls: null,
      });
    }
    return rows;
  }

  /**
   * One multi-row insert. Rows of servers deleted meanwhile are left out by the statement itself; a server deleted
   * while it runs breaks the foreign key, and the second try leaves it out.
   */
  async #insert(rows: Row[]): Promise<void> {
    for (const statement of statementsOf(rows)) {
      try {
        await statement(this.#raw);
      } catch {
        await statement(this.#raw).catch((err: unknown) => {
          this.#log.warn('server log records could not be written', { count: rows.length, err });
        });
      }
    }
  }

  /** Deletes the records older than the retention; returns how many. */
  async sweep(now = Date.now()): Promise<number> {
    await this.#firstSweep;
    return this.#sweep(now);
  }

  async #sweep(now: number): Promise<number> {
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

/** The row of a batch of calls: its earliest call's time, its calls' highest level, their tool when they share one. */
function batchRow(batch: CallBatch): Row {
  const tool = (batch.calls[0] as StoredCall)[2];
  const level: LogLevel = highestLevel(batch.calls);
  return {
    serverId: batch.serverId,
    orgId: batch.orgId,
    time: batch.from,
    kind: 'call',
    level,
    message: `${batch.calls.length} calls`,
    preview: null,
    revision: null,
    stream: null,
    tool: tool !== null && batch.calls.every((c) => c[2] === tool) ? tool : null,
    call: null,
    calls: batch.calls,
  };
}

/** A batch of calls this large is inserted by a statement of its own (its calls a parameter the database reads once). */
const OWN_STATEMENT_CALLS = 32;

type Statement = (raw: Database['raw']) => Promise<unknown>;

/**
 * The statements that insert `rows`, in their order: a large batch of calls by itself, its calls one `json`
 * parameter that the database only validates (on the embedded database that is half the CPU per call of reading it
 * out of a record set); the other rows together, by one record set.
 */
function statementsOf(rows: Row[]): Statement[] {
  const statements: Statement[] = [];
  let small: Row[] = [];
  const flushSmall = () => {
    if (small.length === 0) return;
    const these = small;
    statements.push((raw) => insertLogRows(raw, these));
    small = [];
  };
  for (const row of rows) {
    if (row.calls && row.calls.length >= OWN_STATEMENT_CALLS) {
      flushSmall();
      statements.push((raw) => insertBatchRow(raw, row));
    } else small.push(row);
  }
  flushSmall();
  return statements;
}

/** Inserts one row of a batch of calls (skipped when its server no longer exists). */
async function insertBatchRow(raw: Database['raw'], row: Row): Promise<void> {
  await raw.query(
    `INSERT INTO server_logs (server_id, org_id, time, kind, level, message, tool, calls)
     SELECT s.id, $2::uuid, to_timestamp($3 / 1000.0) AT TIME ZONE 'UTC', 'call', $4, $5, $6, $7::json
       FROM servers s WHERE s.id = $1::uuid`,
    [row.serverId, row.orgId, row.time, row.level, row.message, row.tool, logPayload(row.calls ?? [])],
  );
}

/**
 * Inserts `rows` with one statement whose only parameter is their JSON, past the client: about a fifth of the CPU
 * per row of the client's `createMany` (which builds and binds every value of every row), and on the embedded
 * database all of it is the platform's own CPU, on the call path's budget. The batch is read as `json`, not `jsonb`:
 * it is read once, row by row, and converting all of it to jsonb first costs about a tenth of the insert. Rows of
 * servers that no longer exist are skipped.
 */
async function insertLogRows(raw: Database['raw'], rows: Row[]): Promise<void> {
  await raw.query(
    `INSERT INTO server_logs (server_id, org_id, time, kind, level, message, preview, revision, stream, tool, call, calls)
     SELECT r."serverId"::uuid, r."orgId"::uuid, to_timestamp(r.time / 1000.0) AT TIME ZONE 'UTC', r.kind, r.level,
            r.message, r.preview, r.revision, r.stream, r.tool, r.call, r.calls
       FROM json_to_recordset($1::json) AS r("serverId" text, "orgId" text, time double precision, kind text,
                                              level text, message text, preview int, revision text, stream text,
                                              tool text, call jsonb, calls json)
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
