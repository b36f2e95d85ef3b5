import { Prisma, type PrismaClient } from '@bmms/prisma';
import type { Principal } from './accounts/principal.ts';
import { currentRequest } from './http/request-context.ts';

/** Keys of an event's `data` that hold personal data: anonymization removes them (at the top level). */
export const PERSONAL_DATA_KEYS = ['email', 'displayName', 'ip', 'userAgent'] as const;

/**
 * One audit event per mutation: who did what to which target, from which address (the current request's, unless
 * `origin` names one). Put `{ before, after }` in `data` where a value changed. Never include secrets in `data`.
 */
export async function audit(
  db: PrismaClient | Prisma.TransactionClient,
  actor: Principal | undefined,
  action: string,
  target: { type: string; id?: string | undefined; orgId?: string | undefined },
  data: Record<string, unknown> = {},
  origin?: string | { requestId?: string | undefined; ip?: string | null | undefined },
): Promise<void> {
  const request = currentRequest();
  const given = typeof origin === 'string' ? { requestId: origin } : (origin ?? {});
  await db.auditEvent.create({
    data: {
      orgId: target.orgId || actor?.orgId || null,
      actorId: actor?.userId ?? null,
      actorKeyId: actor?.apiKeyId ?? null,
      action,
      targetType: target.type,
      targetId: target.id ?? null,
      data: data as Prisma.InputJsonValue,
      requestId: given.requestId ?? request?.requestId ?? null,
      ip: given.ip !== undefined ? given.ip : (request?.ip ?? null),
    },
  });
}

/**
 * Anonymizes the audit trail of a user (events they did, and events about them) or of an org (all its events):
 * actor, API key and address become NULL, an event about the user loses its target id, and `data` loses
 * {@link PERSONAL_DATA_KEYS}. The only UPDATE the database allows on audit events (see the migration
 * 20261203172000_audit). Returns the number of events changed. Account and org deletion call this.
 */
export async function anonymizeAudit(
  db: PrismaClient | Prisma.TransactionClient,
  who: { userId?: string; orgId?: string },
): Promise<number> {
  const keys = [...PERSONAL_DATA_KEYS];
  let changed = 0;
  if (who.userId) {
    // Events they did lose actor, key and address; events about them (by someone else) lose only the target.
    const by = Prisma.sql`"actor_id" = ${who.userId}::uuid`;
    changed += await db.$executeRaw`
      UPDATE "audit_events"
         SET "actor_id" = CASE WHEN ${by} THEN NULL ELSE "actor_id" END,
             "actor_key_id" = CASE WHEN ${by} THEN NULL ELSE "actor_key_id" END,
             "ip" = CASE WHEN ${by} THEN NULL ELSE "ip" END,
             "data" = "data" - ${keys}::text[],
             "target_id" = CASE WHEN "target_type" = 'user' AND "target_id" = ${who.userId} THEN NULL ELSE "target_id" END
       WHERE ${by} OR ("target_type" = 'user' AND "target_id" = ${who.userId})`;
  }
  if (who.orgId) {
    changed += await db.$executeRaw`
      UPDATE "audit_events"
         SET "actor_id" = NULL, "actor_key_id" = NULL, "ip" = NULL, "data" = "data" - ${keys}::text[],
             "target_id" = CASE WHEN "target_type" = 'user' THEN NULL ELSE "target_id" END
       WHERE "org_id" = ${who.orgId}::uuid`;
  }
  return changed;
}
