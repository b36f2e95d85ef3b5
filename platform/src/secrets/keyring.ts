import { randomBytes } from 'node:crypto';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { InvalidMasterKeyError } from './errors.ts';

/** The file a generated master key lives in, under the data dir. */
export const MASTER_KEY_FILE = 'master-key';

/** Versioned AES-256 master keys; `current` encrypts, every key decrypts. */
export interface Keyring {
  current: string;
  keys: ReadonlyMap<string, Buffer>;
}

const VERSION = /^v[0-9]{1,6}$/;

/** Parses `<base64>` (version v1) or `v2:<base64>,v1:<base64>` (first = current). */
export function parseMasterKey(text: string): Keyring {
  const parts = text
    .trim()
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
  if (parts.length === 0) throw new InvalidMasterKeyError('it is empty');
  const keys = new Map<string, Buffer>();
  for (const part of parts) {
    const colon = part.indexOf(':');
    const version = colon === -1 ? 'v1' : part.slice(0, colon);
    const b64 = colon === -1 ? part : part.slice(colon + 1);
    if (colon === -1 && parts.length > 1) throw new InvalidMasterKeyError('every key of a list needs a version prefix');
    if (!VERSION.test(version)) throw new InvalidMasterKeyError(`"${version.slice(0, 20)}" is not a version like v1`);
    if (keys.has(version)) throw new InvalidMasterKeyError(`version ${version} is listed twice`);
    const key = Buffer.from(b64, 'base64');
    if (!/^[A-Za-z0-9+/]{43}=?$/.test(b64) || key.length !== 32) {
      throw new InvalidMasterKeyError(`key ${version} is not base64 of exactly 32 bytes`);
    }
    keys.set(version, key);
  }
  return { current: [...keys.keys()][0] as string, keys };
}

/**
 * The platform's keyring: from `masterKey` (BMMS_MASTER_KEY) when given, else from
 * `<dataDir>/master-key`, generated (mode 0600) on first start. `generated` says whether this call created it.
 */
export async function loadKeyring(
  masterKey: string | undefined,
  dataDir: string,
): Promise<{ keyring: Keyring; source: 'env' | 'file'; generated: boolean; file: string }> {
  const file = path.join(dataDir, MASTER_KEY_FILE);
  if (masterKey !== undefined && masterKey.trim() !== '') {
    return { keyring: parseMasterKey(masterKey), source: 'env', generated: false, file };
  }
  let text: string | undefined;
  let generated = false;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (text === undefined) {
    text = `v1:${randomBytes(32).toString('base64')}\n`;
    try {
      await writeFile(file, text, { mode: 0o600, flag: 'wx' });
      generated = true;
    } catch (err) {
      // Another process created it first: use theirs.
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      text = await readFile(file, 'utf8');
    }
  }
  await chmod(file, 0o600);
  return { keyring: parseMasterKey(text), source: 'file', generated, file };
}
