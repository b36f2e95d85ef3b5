import type { Prisma, PrismaClient } from '@bmms/prisma';
import { type LogKind, type LogLevel, type LogRecord, levelsFrom, toRecord } from './records.ts';

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

/** The database condition of a filter on one server's log. */
function whereOf(serverId: string, f: LogFilter): Prisma.ServerLogWhereInput {
  const id: Prisma.BigIntFilter = {};
  if (f.before !== undefined) id.lt = f.before;
  if (f.after !== undefined) id.gt = f.after;
  const time: Prisma.DateTimeFilter = {};
  if (f.since) time.gte = new Date(f.since);
  if (f.until) time.lt = new Date(f.until);
  return {
    serverId,
    ...(Object.keys(id).length > 0 ? { id } : {}),
    ...(Object.keys(time).length > 0 ? { time } : {}),
    ...(f.level && f.level !== 'debug' ? { level: { in: levelsFrom(f.level) } } : {}),
    ...(f.kind ? { kind: f.kind } : {}),
    ...(f.tool ? { tool: f.tool } : {}),
    ...(f.q
      ? {
          OR: [{ message: { contains: f.q, mode: 'insensitive' } }, { tool: { contains: f.q, mode: 'insensitive' } }],
        }
      : {}),
  };
}

/** The newest `limit` records of a server's log that match, oldest first. */
export async function newestLogs(
  db: PrismaClient,
  serverId: string,
  filter: LogFilter,
  limit: number,
): Promise<LogRecord[]> {
  const rows = await db.serverLog.findMany({ where: whereOf(serverId, filter), orderBy: { id: 'desc' }, take: limit });
  return rows.reverse().map(toRecord);
}

/** Up to `limit` matching records after `filter.after`, oldest first (a follower's next page). */
export async function logsAfter(
  db: PrismaClient,
  serverId: string,
  filter: LogFilter & { after: bigint },
  limit = PAGE,
): Promise<LogRecord[]> {
  const rows = await db.serverLog.findMany({ where: whereOf(serverId, filter), orderBy: { id: 'asc' }, take: limit });
  return rows.map(toRecord);
}

/** The id of the newest record of a server's log (0 when it has none): where a follower without a filter match starts. */
export async function lastLogId(db: PrismaClient, serverId: string): Promise<bigint> {
  const row = await db.serverLog.findFirst({ where: { serverId }, orderBy: { id: 'desc' }, select: { id: true } });
  return row?.id ?? 0n;
}
