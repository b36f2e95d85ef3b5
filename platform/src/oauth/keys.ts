import { randomUUID } from 'node:crypto';
import type { PrismaClient } from '@bmms/prisma';
import { exportJWK, generateKeyPair, type JWK } from 'jose';

/** Seals and opens small values under the platform's master keyring (the SecretStore does this). */
export interface Sealer {
  seal(
    scope: string,
    name: string,
    value: string,
  ): {
    keyVersion: string;
    iv: Uint8Array<ArrayBuffer>;
    tag: Uint8Array<ArrayBuffer>;
    ciphertext: Uint8Array<ArrayBuffer>;
  };
  open(
    scope: string,
    name: string,
    sealed: { keyVersion: string; iv: Uint8Array; tag: Uint8Array; ciphertext: Uint8Array },
  ): string;
}

/** The AAD scope signing keys are sealed under. */
const SEAL_SCOPE = 'oauth-signing-key';
export const SIGNING_ALG = 'ES256';
/** How long a retired key still verifies: longer than any access token or ID token lives. */
export const RETIRED_KEY_GRACE_MS = 24 * 60 * 60 * 1000;

/** The authorization server's signing keys: the first signs, all verify. */
export interface SigningKeySet {
  /** Private JWKs (with kid, alg, use), newest first. */
  privateJwks: JWK[];
  /** Public JWKs of the same keys. */
  publicJwks: JWK[];
}

/**
 * Loads the signing keys (creating the first one on a fresh database). Private keys are stored
 * encrypted under the master keyring; retired keys are kept for verification until they expire.
 */
export async function loadSigningKeys(db: PrismaClient, sealer: Sealer): Promise<SigningKeySet> {
  const now = new Date();
  let rows = await db.oauthSigningKey.findMany({
    where: { OR: [{ expiresAt: null }, { expiresAt: { gt: now } }] },
    orderBy: { createdAt: 'desc' },
  });
  if (!rows.some((r) => r.retiredAt === null)) {
    await createSigningKey(db, sealer);
    rows = await db.oauthSigningKey.findMany({
      where: { OR: [{ expiresAt: null }, { expiresAt: { gt: now } }] },
      orderBy: { createdAt: 'desc' },
    });
  }
  // The current key first: oidc-provider signs with the first key of the algorithm.
  rows.sort((a, b) => Number(a.retiredAt !== null) - Number(b.retiredAt !== null));
  const privateJwks = rows.map((r) => JSON.parse(sealer.open(SEAL_SCOPE, r.kid, r)) as JWK);
  const publicJwks = rows.map((r) => r.publicJwk as JWK);
  return { privateJwks, publicJwks };
}

/** Creates a new current key and retires the previous ones (they verify for RETIRED_KEY_GRACE_MS more). */
export async function rotateSigningKey(db: PrismaClient, sealer: Sealer): Promise<string> {
  const now = new Date();
  await db.oauthSigningKey.updateMany({
    where: { retiredAt: null },
    data: { retiredAt: now, expiresAt: new Date(now.getTime() + RETIRED_KEY_GRACE_MS) },
  });
  return createSigningKey(db, sealer);
}

/** Re-encrypts every signing key under the keyring's current version (master key rotation). */
export async function resealSigningKeys(db: PrismaClient, sealer: Sealer, current: string): Promise<number> {
  const rows = await db.oauthSigningKey.findMany({ where: { keyVersion: { not: current } } });
  for (const row of rows) {
    const sealed = sealer.seal(SEAL_SCOPE, row.kid, sealer.open(SEAL_SCOPE, row.kid, row));
    await db.oauthSigningKey.update({ where: { kid: row.kid }, data: sealed });
  }
  return rows.length;
}

async function createSigningKey(db: PrismaClient, sealer: Sealer): Promise<string> {
  const { privateKey, publicKey } = await generateKeyPair(SIGNING_ALG, { extractable: true });
  const kid = randomUUID();
  const meta = { kid, alg: SIGNING_ALG, use: 'sig' };
  const privateJwk = { ...(await exportJWK(privateKey)), ...meta };
  const publicJwk = { ...(await exportJWK(publicKey)), ...meta };
  await db.oauthSigningKey.create({
    data: { kid, alg: SIGNING_ALG, publicJwk, ...sealer.seal(SEAL_SCOPE, kid, JSON.stringify(privateJwk)) },
  });
  return kid;
}
