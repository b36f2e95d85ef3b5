import { setImmediate } from 'node:timers/promises';
import type { Prisma, PrismaClient } from '@bmms/prisma';
import {
  BATCH_SPAN_MS,
  type LogKind,
  type LogLevel,
  type LogRecord,
  levelsFrom,
  recordId,
  rowOf,
  type StoredCall,
  storedCallLevel,
  storedCallRecord,
  toRecord,
} from './records.ts';

/** What a reader asks of a server's log (the query of GET /servers/{name}/logs, parsed). */
export interface LogFilter {
  since?: string | undefined;
  until?: string | undefined;
  level?: LogLevel | undefined;
  kind?: LogKind | undefined;
  tool?: string | undefined;
  q?: string | undefined;
  /** Older than this id. */
  before?: bigint | undefined;
  /** Newer than this id. */
  after?: bigint | undefined;
}

/** The most records one page of a follower's catch-up reads. */
export const PAGE = 1000;

/**
 * Rows read per query while a page of records is gathered: the first read takes FIRST_READ rows, the next ones as
 * many as hold about RECORDS_PER_READ records at the rows' size so far (a batch row holds up to RECORDS_PER_ROW
 * calls, an output line is a row of its own), at most MAX_READ rows. One read's work stays small either way.
 */
const FIRST_READ = 16;
const RECORDS_PER_READ = 16_384;
const MAX_READ = 500;

type Row = Prisma.ServerLogGetPayload<object>;

/**
 * The database condition of a filter on one server's rows: what can be decided per row. A batch row of calls is
 * kept whenever one of its calls may match (its `level` is its calls' highest, its `time` its first call's); every
 * record is then matched exactly (`matchesOf`).
 */
function rowWhere(serverId: string, f: LogFilter): Prisma.ServerLogWhereInput {
  const id: Prisma.BigIntFilter = {};
  if (f.before !== undefined) id.lte = rowOf(f.before - 1n);
  if (f.after !== undefined) id.gte = rowOf(f.after);
  const time: Prisma.DateTimeFilter = {};
  if (f.since) time.gte = new Date(new Date(f.since).getTime() - BATCH_SPAN_MS);
  if (f.until) time.lt = new Date(f.until);
  const and: Prisma.ServerLogWhereInput[] = [];
  if (f.tool) and.push({ OR: [{ tool: f.tool }, { kind: 'call', tool: null }] });
  if (f.q) {
    and.push({
      OR: [
        { kind: 'call' },
        { message: { contains: f.q, mode: 'insensitive' } },
        { tool: { contains: f.q, mode: 'insensitive' } },
      ],
    });
  }
  return {
    serverId,
    ...(Object.keys(id).length > 0 ? { id } : {}),
    ...(Object.keys(time).length > 0 ? { time } : {}),
    ...(f.level && f.level !== 'debug' ? { level: { in: levelsFrom(f.level) } } : {}),
    ...(f.kind ? { kind: f.kind } : {}),
    ...(and.length > 0 ? { AND: and } : {}),
  };
}

/** A filter with its times as epoch ms and its levels as a list, for matching many records. */
interface Matcher {
  f: LogFilter;
  since: number | undefined;
  until: number | undefined;
  levels: readonly LogLevel[] | undefined;
  q: string | undefined;
}

function matcherOf(f: LogFilter): Matcher {
  return {
    f,
    since: f.since ? new Date(f.since).getTime() : undefined,
    until: f.until ? new Date(f.until).getTime() : undefined,
    levels: f.level && f.level !== 'debug' ? levelsFrom(f.level) : undefined,
    q: f.q?.toLowerCase(),
  };
}

/**
 * Whether a record with these facts matches the filter (`message` asked for only when there is text to find); its id
 * is within `before`/`after` already (`gather` skips the others).
 */
function matchesFacts(
  m: Matcher,
  time: number,
  level: LogLevel,
  kind: LogKind,
  tool: string | null,
  message: () => string,
): boolean {
  const { f } = m;
  if (m.since !== undefined && time < m.since) return false;
  if (m.until !== undefined && time >= m.until) return false;
  if (m.levels && !m.levels.includes(level)) return false;
  if (f.kind && kind !== f.kind) return false;
  if (f.tool && tool !== f.tool) return false;
  if (m.q !== undefined && !message().toLowerCase().includes(m.q) && !(tool ?? '').toLowerCase().includes(m.q)) {
    return false;
  }
  return true;
}

/**
 * The most records one request examines: a filter that matches rarely stops there (the answer holds what was found;
 * a follower moves on past what was examined), so that a search through a busy server's whole log cannot hold the
 * platform's thread. Rows are read a few at a time, the thread free between reads.
 */
const MAX_EXAMINED = 200_000;

/**
 * What one scan found, the id of the last record it examined (where the next scan in its order goes on), and whether
 * it stopped at MAX_EXAMINED before finding as many records as asked for (more may match further on).
 */
export interface Scan {
  records: LogRecord[];
  examined: bigint | undefined;
  stopped: boolean;
}

/** Each record of one row, in `order`, with itself when it matches (a batch's calls are matched before a record is made). */
function* matchesOf(row: Row, m: Matcher, order: 'asc' | 'desc'): Generator<[bigint, LogRecord | undefined]> {
  if (!Array.isArray(row.calls)) {
    const r = toRecord(row);
    const ok = matchesFacts(m, row.time.getTime(), r.level, r.kind, r.call?.tool ?? null, () => r.message);
    yield [recordId(row.id), ok ? r : undefined];
    return;
  }
  const calls = row.calls as unknown as StoredCall[];
  for (let k = 0; k < calls.length; k++) {
    const i = order === 'asc' ? k : calls.length - 1 - k;
    const c = calls[i] as StoredCall;
    // Made when its message is needed to match, else only when it matches; never twice.
    let record: LogRecord | undefined;
    const made = () => {
      record ??= storedCallRecord(row.id, i, c);
      return record;
    };
    const ok = matchesFacts(m, c[0], storedCallLevel(c), 'call', c[2], () => made().message);
    yield [recordId(row.id, i), ok ? made() : undefined];
  }
}

/** Reads rows in `order` and gathers up to `limit` matching records, in that order. */
async function gather(
  db: PrismaClient,
  serverId: string,
  filter: LogFilter,
  limit: number,
  order: 'asc' | 'desc',
  maxExamined = MAX_EXAMINED,
): Promise<Scan> {
  const m = matcherOf(filter);
  const records: LogRecord[] = [];
  let examined: bigint | undefined;
  let count = 0;
  let cursor: bigint | undefined;
  let take = FIRST_READ;
  for (;;) {
    const where = rowWhere(serverId, filter);
    if (cursor !== undefined) {
      const next = { id: order === 'desc' ? { lt: cursor } : { gt: cursor } };
      where.AND = [...((where.AND as Prisma.ServerLogWhereInput[] | undefined) ?? []), next];
    }
    const rows = await db.serverLog.findMany({ where, orderBy: { id: order }, take });
    for (const row of rows) {
      for (const [id, record] of matchesOf(row, m, order)) {
        // The row of `after` or `before` also holds records on the other side of it: not examined by this scan.
        if (
          (filter.after !== undefined && id <= filter.after) ||
          (filter.before !== undefined && id >= filter.before)
        ) {
          continue;
        }
        examined = id;
        count++;
        if (record) records.push(record);
        if (records.length >= limit) return { records, examined, stopped: false };
        if (count >= maxExamined) return { records, examined, stopped: true };
      }
    }
    if (rows.length < take) return { records, examined, stopped: false };
    let held = 0;
    for (const row of rows) held += Array.isArray(row.calls) ? row.calls.length : 1;
    take = Math.max(4, Math.min(MAX_READ, Math.floor(RECORDS_PER_READ / (held / rows.length))));
    cursor = (rows[rows.length - 1] as Row).id;
    // The thread is free between steps: PGlite answers on this thread, its promises resolve without a turn of the
    // event loop, and a whole search would otherwise hold every other request (a gateway call too) until it ended.
    await setImmediate();
  }
}

/**
 * The newest `limit` matching records, oldest first, and (when the search stopped at its bound) the id to ask again
 * `before`, to search further back.
 */
export async function searchNewest(
  db: PrismaClient,
  serverId: string,
  filter: LogFilter,
  limit: number,
  maxExamined = MAX_EXAMINED,
): Promise<{ records: LogRecord[]; before: bigint | undefined }> {
  const scan = await gather(db, serverId, filter, limit, 'desc', maxExamined);
  return { records: scan.records.reverse(), before: scan.stopped ? scan.examined : undefined };
}

/** The newest `limit` records of a server's log that match, oldest first. */
export async function newestLogs(
  db: PrismaClient,
  serverId: string,
  filter: LogFilter,
  limit: number,
): Promise<LogRecord[]> {
  return (await searchNewest(db, serverId, filter, limit)).records;
}

/**
 * Up to `limit` matching records after `filter.after`, oldest first; the id of the last record examined (a follower
 * goes on from there, past what did not match); and whether the search stopped at its bound (the API's `next`).
 */
export async function scanAfter(
  db: PrismaClient,
  serverId: string,
  filter: LogFilter & { after: bigint },
  limit = PAGE,
  maxExamined = MAX_EXAMINED,
): Promise<Scan> {
  return gather(db, serverId, filter, limit, 'asc', maxExamined);
}

/** The id of the newest record of a server's log (0 when it has none): where a follower without a filter match starts. */
export async function lastLogId(db: PrismaClient, serverId: string): Promise<bigint> {
  const row = await db.serverLog.findFirst({
    where: { serverId },
    orderBy: { id: 'desc' },
    select: { id: true, calls: true },
  });
  if (!row) return 0n;
  return recordId(row.id, Array.isArray(row.calls) ? Math.max(0, row.calls.length - 1) : 0);
}
