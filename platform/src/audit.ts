import type { Prisma, PrismaClient } from '@bmms/prisma';
import type { Principal } from './accounts/principal.ts';

/** One audit event per mutation: who did what to which target. Never include secrets in `data`. */
export async function audit(
  db: PrismaClient | Prisma.TransactionClient,
  actor: Principal | undefined,
  action: string,
  target: { type: string; id?: string | undefined; orgId?: string | undefined },
  data: Record<string, unknown> = {},
  requestId?: string,
): Promise<void> {
  await db.auditEvent.create({
    data: {
      orgId: target.orgId ?? actor?.orgId ?? null,
      actorId: actor?.userId ?? null,
      actorKeyId: actor?.apiKeyId ?? null,
      action,
      targetType: target.type,
      targetId: target.id ?? null,
      data: data as Prisma.InputJsonValue,
      requestId: requestId ?? null,
    },
  });
}
