import { createHash, randomBytes } from 'node:crypto';

/** The visible prefix of every API key, so leaked keys are easy to recognise and scan for. */
export const API_KEY_PREFIX = 'bmms_';

/** A new random API key; only its hash is ever stored. */
export function generateApiKey(): { key: string; prefix: string; hash: string } {
  const key = `${API_KEY_PREFIX}${randomBytes(30).toString('base64url')}`;
  return { key, prefix: key.slice(0, API_KEY_PREFIX.length + 6), hash: hashApiKey(key) };
}

/** SHA-256 of a key: keys are 240-bit random, so a fast hash is enough and lookups stay O(1). */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}
