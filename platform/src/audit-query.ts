import type { AuditEvent, Prisma, PrismaClient } from '@bmms/prisma';
import { invalidRequest } from './errors.ts';

/** Which events of an org to read (all optional); see GET /api/v1/audit. */
export interface AuditFilter {
  /** An action, or a prefix ending in `.` (`member.`). */
  action?: string | undefined;
  /** A user id or an email address. */
  actor?: string | undefined;
  targetType?: string | undefined;
  targetId?: string | undefined;
  since?: Date | undefined;
  until?: Date | undefined;
  /** An event id: only events older than it. */
  before?: string | undefined;
}

/** One event as the API shows it. */
export interface AuditEventView {
  id: string;
  time: string;
  action: string;
  actor: { userId: string | null; email: string | null; apiKeyId: string | null } | null;
  target: { type: string; id: string | null };
  ip: string | null;
  requestId: string | null;
  data: Record<string, unknown>;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const NEWEST_FIRST: Prisma.AuditEventOrderByWithRelationInput[] = [{ createdAt: 'desc' }, { id: 'desc' }];
/** Rows read per query while streaming an export. */
const EXPORT_BATCH = 500;

/** A page of an org's events, newest first, with the id to pass as `before` for the next one (null at the end). */
export async function listAudit(
  db: PrismaClient,
  orgId: string,
  filter: AuditFilter,
  limit: number,
): Promise<{ events: AuditEventView[]; next: string | null }> {
  const where = await auditWhere(db, orgId, filter);
  const rows = await db.auditEvent.findMany({ where, orderBy: NEWEST_FIRST, take: limit + 1 });
  const page = rows.slice(0, limit);
  const next = rows.length > limit ? (page.at(-1)?.id ?? null) : null;
  return { events: await views(db, page), next };
}

/**
 * Every matching event of an org, newest first, handed to `write` a batch at a time (at most `limit` when given),
 * so an export never holds the whole log in memory. `write` resolves when the reader wants more; stops when
 * `stopped()` says the reader went away.
 */
export async function exportAudit(
  db: PrismaClient,
  orgId: string,
  filter: AuditFilter,
  write: (event: AuditEventView) => Promise<void>,
  options: { limit?: number | undefined; stopped: () => boolean },
): Promise<number> {
  let cursor = filter.before;
  let written = 0;
  const limit = options.limit ?? Number.POSITIVE_INFINITY;
  while (written < limit && !options.stopped()) {
    const where = await auditWhere(db, orgId, { ...filter, before: cursor });
    const take = Math.min(EXPORT_BATCH, limit - written);
    const rows = await db.auditEvent.findMany({ where, orderBy: NEWEST_FIRST, take });
    for (const event of await views(db, rows)) {
      if (options.stopped()) return written;
      await write(event);
      written++;
    }
    if (rows.length < take) break;
    cursor = rows.at(-1)?.id;
  }
  return written;
}

/** The filter as a query on one org's events; an unknown actor or cursor matches nothing or is refused. */
async function auditWhere(db: PrismaClient, orgId: string, filter: AuditFilter): Promise<Prisma.AuditEventWhereInput> {
  const and: Prisma.AuditEventWhereInput[] = [{ orgId }];
  if (filter.action) {
    and.push(filter.action.endsWith('.') ? { action: { startsWith: filter.action } } : { action: filter.action });
  }
  if (filter.actor) and.push({ actorId: await actorId(db, filter.actor) });
  if (filter.targetType) and.push({ targetType: filter.targetType });
  if (filter.targetId) and.push({ targetId: filter.targetId });
  if (filter.since) and.push({ createdAt: { gte: filter.since } });
  if (filter.until) and.push({ createdAt: { lt: filter.until } });
  if (filter.before) {
    const from = await db.auditEvent.findFirst({ where: { id: filter.before, orgId }, select: { createdAt: true } });
    if (!from) throw invalidRequest(`query.before: no event ${filter.before} in this organization`);
    and.push({
      OR: [{ createdAt: { lt: from.createdAt } }, { createdAt: from.createdAt, id: { lt: filter.before } }],
    });
  }
  return { AND: and };
}

/** The user id an `actor` filter names (an id, or an email); a nil id matching nothing when there is no such user. */
async function actorId(db: PrismaClient, actor: string): Promise<string> {
  const nobody = '00000000-0000-0000-0000-000000000000';
  if (UUID.test(actor)) return actor.toLowerCase();
  if (!actor.includes('@')) return nobody;
  const user = await db.user.findFirst({
    where: { email: { equals: actor, mode: 'insensitive' } },
    select: { id: true },
  });
  return user?.id ?? nobody;
}

/** Rows as the API shows them, with each actor's current email. */
async function views(db: PrismaClient, rows: AuditEvent[]): Promise<AuditEventView[]> {
  const ids = [...new Set(rows.flatMap((r) => (r.actorId ? [r.actorId] : [])))];
  const users = ids.length
    ? await db.user.findMany({ where: { id: { in: ids } }, select: { id: true, email: true } })
    : [];
  const emails = new Map(users.map((u) => [u.id, u.email]));
  return rows.map((r) => ({
    id: r.id,
    time: r.createdAt.toISOString(),
    action: r.action,
    actor:
      r.actorId || r.actorKeyId
        ? { userId: r.actorId, email: r.actorId ? (emails.get(r.actorId) ?? null) : null, apiKeyId: r.actorKeyId }
        : null,
    target: { type: r.targetType, id: r.targetId },
    ip: r.ip,
    requestId: r.requestId,
    data: (r.data && typeof r.data === 'object' && !Array.isArray(r.data) ? r.data : {}) as Record<string, unknown>,
  }));
}
