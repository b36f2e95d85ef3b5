import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import type { PrismaClient } from '@bmms/prisma';
import {
  InvalidSecretNameError,
  InvalidSecretValueError,
  SecretNotFoundError,
  SecretTamperedError,
  UnknownKeyVersionError,
} from './errors.ts';
import type { Keyring } from './keyring.ts';

/** Secret names: what `BMMS_SECRET_<NAME>` allows. */
export const SECRET_NAME = /^[A-Z][A-Z0-9_]{0,63}$/;
/** Largest value, in bytes of UTF-8. */
export const MAX_SECRET_BYTES = 64 * 1024;

/** What `list` shows of a secret: never its value. */
export interface SecretInfo {
  name: string;
  keyVersion: string;
  createdAt: Date;
  updatedAt: Date;
}

interface Sealed {
  keyVersion: string;
  iv: Uint8Array<ArrayBuffer>;
  tag: Uint8Array<ArrayBuffer>;
  ciphertext: Uint8Array<ArrayBuffer>;
}

/** Binds a ciphertext to its server and name, so it cannot be moved to another. */
const aadOf = (serverId: string, name: string) => Buffer.from(`bmms-secret\0${serverId}\0${name}`, 'utf8');
const bytes = (b: Buffer): Uint8Array<ArrayBuffer> => new Uint8Array(b);

/** Per-server secrets, AES-256-GCM encrypted at rest under a versioned master key. */
export class SecretStore {
  readonly #db: PrismaClient;
  readonly #keyring: Keyring;

  constructor(deps: { db: PrismaClient; keyring: Keyring }) {
    this.#db = deps.db;
    this.#keyring = deps.keyring;
  }

  /** The key version new values are encrypted under. */
  get currentKeyVersion(): string {
    return this.#keyring.current;
  }

  /** Encrypts `value` for (serverId, name) under the current key. */
  seal(serverId: string, name: string, value: string): Sealed {
    const key = this.#keyring.keys.get(this.#keyring.current) as Buffer;
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    cipher.setAAD(aadOf(serverId, name));
    const ciphertext = Buffer.concat([cipher.update(value, 'utf8'), cipher.final()]);
    return {
      keyVersion: this.#keyring.current,
      iv: bytes(iv),
      tag: bytes(cipher.getAuthTag()),
      ciphertext: bytes(ciphertext),
    };
  }

  /** Decrypts a stored value; throws UnknownKeyVersionError or SecretTamperedError. */
  open(serverId: string, name: string, sealed: Sealed): string {
    const key = this.#keyring.keys.get(sealed.keyVersion);
    if (!key) throw new UnknownKeyVersionError(sealed.keyVersion, [...this.#keyring.keys.keys()]);
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, sealed.iv);
      decipher.setAAD(aadOf(serverId, name));
      decipher.setAuthTag(sealed.tag);
      return Buffer.concat([decipher.update(sealed.ciphertext), decipher.final()]).toString('utf8');
    } catch {
      throw new SecretTamperedError(name);
    }
  }

  /** Creates or replaces a secret; `created` says which. */
  async set(serverId: string, name: string, value: unknown): Promise<{ created: boolean; info: SecretInfo }> {
    validateName(name);
    validateValue(value);
    const sealed = this.seal(serverId, name, value);
    const existing = await this.#db.secret.findUnique({ where: { serverId_name: { serverId, name } } });
    const now = new Date();
    const row = await this.#db.secret.upsert({
      where: { serverId_name: { serverId, name } },
      create: { serverId, name, ...sealed, createdAt: now, updatedAt: now },
      update: { ...sealed, updatedAt: now, revision: { increment: 1 } },
    });
    return { created: existing === null, info: infoOf(row) };
  }

  /** Deletes a secret; throws SecretNotFoundError (with `serverName` in the message) when there is none. */
  async delete(serverId: string, name: string, serverName = serverId): Promise<void> {
    validateName(name);
    const { count } = await this.#db.secret.deleteMany({ where: { serverId, name } });
    if (count === 0) throw new SecretNotFoundError(serverName, name);
  }

  /** Names, key versions and dates of a server's secrets, by name. */
  async list(serverId: string): Promise<SecretInfo[]> {
    const rows = await this.#db.secret.findMany({ where: { serverId }, orderBy: { name: 'asc' } });
    return rows.map(infoOf);
  }

  /** The decrypted values of a server's secrets (only `names` when given): for injection into an instance only. */
  async values(serverId: string, names?: readonly string[]): Promise<Record<string, string>> {
    const rows = await this.#db.secret.findMany({
      where: { serverId, ...(names ? { name: { in: [...names] } } : {}) },
    });
    const out: Record<string, string> = {};
    for (const row of rows) out[row.name] = this.open(serverId, row.name, sealedOf(row));
    return out;
  }

  /** A digest of which secrets exist and which value generation each holds (never the values). */
  async fingerprint(serverId: string, names?: readonly string[]): Promise<string> {
    const rows = await this.#db.secret.findMany({
      where: { serverId, ...(names ? { name: { in: [...names] } } : {}) },
      select: { id: true, name: true, revision: true },
      orderBy: { name: 'asc' },
    });
    const hash = createHash('sha256');
    for (const r of rows) hash.update(`${r.name}\0${r.id}\0${r.revision}\n`);
    return rows.length === 0 ? '' : `secrets:${hash.digest('hex').slice(0, 32)}`;
  }

  /**
   * Re-encrypts every value not yet under the current key (idempotent); the value generation and
   * dates stay, so no server rolls. After it, older keys may be dropped from BMMS_MASTER_KEY.
   */
  async rotate(): Promise<{ reencrypted: number; total: number; keyVersion: string }> {
    const current = this.#keyring.current;
    const total = await this.#db.secret.count();
    const stale = await this.#db.secret.findMany({ where: { keyVersion: { not: current } } });
    let reencrypted = 0;
    for (const row of stale) {
      const value = this.open(row.serverId, row.name, sealedOf(row));
      // Only if nobody replaced it meanwhile (the set() wins, already under the current key).
      const { count } = await this.#db.secret.updateMany({
        where: { id: row.id, revision: row.revision, keyVersion: row.keyVersion },
        data: { ...this.seal(row.serverId, row.name, value) },
      });
      reencrypted += count;
    }
    return { reencrypted, total, keyVersion: current };
  }
}

/** Throws InvalidSecretNameError unless `name` is a valid secret name. */
export function validateName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || !SECRET_NAME.test(name)) throw new InvalidSecretNameError(String(name));
}

function validateValue(value: unknown): asserts value is string {
  if (typeof value !== 'string') throw new InvalidSecretValueError('"value" must be a string');
  if (value.length === 0) throw new InvalidSecretValueError('it is empty');
  if (Buffer.byteLength(value, 'utf8') > MAX_SECRET_BYTES)
    throw new InvalidSecretValueError('it is larger than 64 KiB');
}

interface Row {
  name: string;
  keyVersion: string;
  iv: Uint8Array;
  tag: Uint8Array;
  ciphertext: Uint8Array;
  createdAt: Date;
  updatedAt: Date;
}

const sealedOf = (row: Row): Sealed => ({
  keyVersion: row.keyVersion,
  iv: new Uint8Array(row.iv),
  tag: new Uint8Array(row.tag),
  ciphertext: new Uint8Array(row.ciphertext),
});

const infoOf = (row: Row): SecretInfo => ({
  name: row.name,
  keyVersion: row.keyVersion,
  createdAt: row.createdAt,
  updatedAt: row.updatedAt,
});
