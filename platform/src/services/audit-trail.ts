import { Prisma, type PrismaClient } from '@bmms/prisma';

/** Keys of an event's `data` that hold personal data: anonymization removes them (at the top level). */
const PERSONAL_DATA_KEYS = ['email', 'displayName', 'ip', 'userAgent'];

/**
 * Anonymizes the audit trail of a user (events they did, and events about them) or of an org (all its events):
 * actor and API key become NULL, an event about the user loses its target id, and `data` loses its personal keys.
 * Returns the number of events changed. (The audit module's own version replaces this one at merge.)
 */
export async function anonymizeAudit(
  db: PrismaClient | Prisma.TransactionClient,
  who: { userId?: string; orgId?: string },
): Promise<number> {
  const keys = PERSONAL_DATA_KEYS;
  let changed = 0;
  if (who.userId) {
    const by = Prisma.sql`"actor_id" = ${who.userId}::uuid`;
    changed += await db.$executeRaw`
      UPDATE "audit_events"
         SET "actor_id" = CASE WHEN ${by} THEN NULL ELSE "actor_id" END,
             "actor_key_id" = CASE WHEN ${by} THEN NULL ELSE "actor_key_id" END,
             "data" = "data" - ${keys}::text[],
             "target_id" = CASE WHEN "target_type" = 'user' AND "target_id" = ${who.userId} THEN NULL ELSE "target_id" END
       WHERE ${by} OR ("target_type" = 'user' AND "target_id" = ${who.userId})`;
  }
  if (who.orgId) {
    changed += await db.$executeRaw`
      UPDATE "audit_events"
         SET "actor_id" = NULL, "actor_key_id" = NULL, "data" = "data" - ${keys}::text[],
             "target_id" = CASE WHEN "target_type" = 'user' THEN NULL ELSE "target_id" END
       WHERE "org_id" = ${who.orgId}::uuid`;
  }
  return changed;
}
