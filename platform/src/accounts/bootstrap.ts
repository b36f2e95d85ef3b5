import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { PrismaClient } from '@bmms/prisma';
import { generateApiKey } from './keys.ts';

export const OWNER_KEY_FILE = 'owner-api-key';

/**
 * On the first start (no user yet) creates the default org, its owner and an API key, and writes
 * the key to `<dataDir>/owner-api-key` (0600). Returns the key file path when it created one.
 */
export async function ensureOwner(db: PrismaClient, dataDir: string): Promise<string | undefined> {
  if ((await db.user.count()) > 0) return undefined;
  const { key, prefix, hash } = generateApiKey();
  await db.$transaction(async (tx) => {
    const org = await tx.org.create({ data: { slug: 'default', name: 'Default' } });
    const user = await tx.user.create({ data: { email: 'owner@localhost', name: 'Owner' } });
    await tx.membership.create({ data: { orgId: org.id, userId: user.id, role: 'owner' } });
    await tx.apiKey.create({
      data: { orgId: org.id, userId: user.id, name: 'owner (first start)', prefix, hash, scopes: ['*'] },
    });
    await tx.auditEvent.create({
      data: { orgId: org.id, actorId: user.id, action: 'org.bootstrap', targetType: 'org', targetId: org.id },
    });
  });
  const file = path.join(dataDir, OWNER_KEY_FILE);
  await writeFile(file, `${key}\n`, { mode: 0o600 });
  return file;
}
