import type { PrismaClient } from '@bmms/prisma';
import { hashApiKey } from './keys.ts';

/** Who is calling: resolved from an API key or a browser session. */
export interface Principal {
  userId: string;
  orgId: string;
  /** The API key used, or null for a browser session. */
  apiKeyId: string | null;
  role: string;
  /** What the credential may do beyond the role: an API key's scopes (`*`: everything the role allows). */
  scopes: string[];
}

/** How precisely `lastUsedAt` is kept: a key used again within this window is not written again. */
export const LAST_USED_RESOLUTION_MS = 60_000;

/** The principal of an API key, by the key's hash, or null when unknown, revoked or its member left the org. */
export async function principalForKeyHash(
  db: PrismaClient,
  hash: string,
): Promise<(Principal & { lastUsedAt: Date | null }) | null> {
  const row = await db.apiKey.findUnique({ where: { hash } });
  if (!row || row.revokedAt) return null;
  const membership = await db.membership.findUnique({
    where: { orgId_userId: { orgId: row.orgId, userId: row.userId } },
  });
  if (!membership) return null;
  return {
    userId: row.userId,
    orgId: row.orgId,
    apiKeyId: row.id,
    role: membership.role,
    scopes: row.scopes,
    lastUsedAt: row.lastUsedAt,
  };
}

/** Resolves an API key to its principal, or null when unknown or revoked. */
export async function principalForKey(db: PrismaClient, key: string): Promise<Principal | null> {
  if (!isPlausibleKey(key)) return null;
  const found = await principalForKeyHash(db, hashApiKey(key));
  if (!found) return null;
  const { lastUsedAt, ...principal } = found;
  if (!lastUsedAt || Date.now() - lastUsedAt.getTime() > LAST_USED_RESOLUTION_MS) {
    await db.apiKey.update({ where: { id: principal.apiKeyId as string }, data: { lastUsedAt: new Date() } });
  }
  return principal;
}

/** Whether `key` could be an API key at all (not empty, not absurdly long): anything else is not looked up. */
export function isPlausibleKey(key: string): boolean {
  return key.length > 0 && key.length <= 200;
}

/** The principal of a signed-in user in the org with slug `orgSlug` (default: their first org), or null. */
export async function principalForSession(
  db: PrismaClient,
  userId: string,
  orgSlug: string | undefined,
): Promise<Principal | null> {
  const membership = await db.membership.findFirst({
    where: { userId, ...(orgSlug ? { org: { slug: orgSlug } } : {}) },
    orderBy: { createdAt: 'asc' },
  });
  if (!membership) return null;
  return { userId, orgId: membership.orgId, apiKeyId: null, role: membership.role, scopes: ['*'] };
}

/** The bearer token of an `Authorization: Bearer …` header, or undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return m?.[1];
}

/** The password of an `Authorization: Basic …` header (git sends the API key there), or undefined. */
export function basicPassword(header: string | undefined): string | undefined {
  const m = /^Basic\s+(\S+)\s*$/i.exec(header ?? '');
  if (!m?.[1]) return undefined;
  const decoded = Buffer.from(m[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon >= 0 ? decoded.slice(colon + 1) : undefined;
}
