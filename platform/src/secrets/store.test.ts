import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { type Database, openDatabase } from '@bmms/prisma';
import { createTestDatabase, type TestDatabase } from '@bmms/prisma/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidMasterKeyError, SecretTamperedError, UnknownKeyVersionError } from './errors.ts';
import { loadKeyring, MASTER_KEY_FILE, parseMasterKey } from './keyring.ts';
import { secretsProvisioner } from './provisioner.ts';
import { SecretStore } from './store.ts';

const key = () => randomBytes(32).toString('base64');
const K1 = key();
const K2 = key();

let t: TestDatabase;
let database: Database;
let serverA: string;
let serverB: string;

beforeAll(async () => {
  t = await createTestDatabase();
  database = await openDatabase({ dataDir: t.dataDir, databaseUrl: t.url });
  const org = await database.db.org.create({ data: { slug: 'acme', name: 'Acme' } });
  serverA = (await database.db.server.create({ data: { name: 'alpha', orgId: org.id } })).id;
  serverB = (await database.db.server.create({ data: { name: 'beta', orgId: org.id } })).id;
});
afterAll(async () => {
  await database?.close();
  await t?.drop();
});

const storeWith = (masterKey: string) => new SecretStore({ db: database.db, keyring: parseMasterKey(masterKey) });

describe('SecretStore', () => {
  it('round-trips values and stores only ciphertext', async () => {
    const store = storeWith(K1);
    const value = `sk-live-${randomBytes(12).toString('hex')} ünïcode`;
    expect((await store.set(serverA, 'API_KEY', value)).created).toBe(true);
    expect(await store.values(serverA)).toEqual({ API_KEY: value });
    const row = await database.db.secret.findFirstOrThrow({ where: { serverId: serverA, name: 'API_KEY' } });
    expect(row.keyVersion).toBe('v1');
    expect(row.iv.length).toBe(12);
    expect(Buffer.from(row.ciphertext).includes(Buffer.from(value))).toBe(false);
    // Replacing: same row, new IV, `created` false.
    const again = await store.set(serverA, 'API_KEY', 'second value');
    expect(again.created).toBe(false);
    const row2 = await database.db.secret.findFirstOrThrow({ where: { serverId: serverA, name: 'API_KEY' } });
    expect(row2.id).toBe(row.id);
    expect(Buffer.from(row2.iv).equals(Buffer.from(row.iv))).toBe(false);
    expect(await store.values(serverA)).toEqual({ API_KEY: 'second value' });
  });

  it('lists names, key versions and dates, never values', async () => {
    const store = storeWith(K1);
    await store.set(serverA, 'OTHER', 'other-value-123');
    const list = await store.list(serverA);
    expect(list.map((s) => s.name)).toEqual(['API_KEY', 'OTHER']);
    expect(Object.keys(list[0] ?? {}).sort()).toEqual(['createdAt', 'keyVersion', 'name', 'updatedAt']);
    expect(JSON.stringify(list)).not.toContain('other-value-123');
    expect(await store.list(serverB)).toEqual([]);
  });

  it('refuses a ciphertext moved to another name or server (AAD binding)', async () => {
    const store = storeWith(K1);
    await store.set(serverA, 'MOVED', 'bound-to-alpha');
    const row = await database.db.secret.findFirstOrThrow({ where: { serverId: serverA, name: 'MOVED' } });
    // Copy the ciphertext under another name of the same server, and under the same name of another server.
    const copy = { keyVersion: row.keyVersion, iv: row.iv, tag: row.tag, ciphertext: row.ciphertext };
    await database.db.secret.create({ data: { serverId: serverA, name: 'STOLEN', ...copy } });
    await database.db.secret.create({ data: { serverId: serverB, name: 'MOVED', ...copy } });
    await expect(store.values(serverA, ['STOLEN'])).rejects.toBeInstanceOf(SecretTamperedError);
    await expect(store.values(serverB)).rejects.toThrow(/secret "MOVED" failed authentication/);
    await database.db.secret.deleteMany({ where: { OR: [{ name: 'STOLEN' }, { serverId: serverB }] } });
  });

  it('detects a tampered ciphertext or tag', async () => {
    const store = storeWith(K1);
    await store.set(serverB, 'TAMPER', 'do-not-touch');
    const row = await database.db.secret.findFirstOrThrow({ where: { serverId: serverB, name: 'TAMPER' } });
    const flipped = new Uint8Array(row.ciphertext);
    flipped[0] = (flipped[0] as number) ^ 1;
    await database.db.secret.update({ where: { id: row.id }, data: { ciphertext: flipped } });
    const err = await store.values(serverB).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SecretTamperedError);
    expect((err as SecretTamperedError).code).toBe('secret_tampered');
    const tag = new Uint8Array(row.tag);
    tag[3] = (tag[3] as number) ^ 0x80;
    await database.db.secret.update({ where: { id: row.id }, data: { ciphertext: row.ciphertext, tag } });
    await expect(store.values(serverB)).rejects.toBeInstanceOf(SecretTamperedError);
    await store.delete(serverB, 'TAMPER');
  });

  it('validates names and values with clear errors', async () => {
    const store = storeWith(K1);
    for (const name of ['api_key', '1KEY', '', 'A-B', `A${'B'.repeat(64)}`]) {
      await expect(store.set(serverB, name, 'x')).rejects.toMatchObject({ code: 'invalid_secret_name', status: 400 });
    }
    await expect(store.set(serverB, `A${'B'.repeat(63)}`, 'x')).resolves.toMatchObject({ created: true });
    for (const value of ['', 42, null, 'x'.repeat(64 * 1024 + 1)]) {
      await expect(store.set(serverB, 'OK', value)).rejects.toMatchObject({
        code: 'invalid_secret_value',
        status: 400,
      });
    }
    await expect(store.set(serverB, 'BIG', 'x'.repeat(64 * 1024))).resolves.toMatchObject({ created: true });
    await expect(store.delete(serverB, 'NOPE')).rejects.toMatchObject({ code: 'secret_not_found', status: 404 });
    await database.db.secret.deleteMany({ where: { serverId: serverB } });
  });

  it('rotates: old values stay readable under v2,v1; rotate re-encrypts; then v1 can be dropped', async () => {
    const old = storeWith(`v1:${K1}`);
    await old.set(serverB, 'ROTATE_ME', 'rotating-value');
    const before = await old.fingerprint(serverB);
    const both = storeWith(`v2:${K2},v1:${K1}`);
    expect(both.currentKeyVersion).toBe('v2');
    expect((await both.values(serverB)).ROTATE_ME).toBe('rotating-value');
    // Without v1, the old value cannot be read, and the error names the missing version.
    const only2 = storeWith(`v2:${K2}`);
    await expect(only2.values(serverB)).rejects.toBeInstanceOf(UnknownKeyVersionError);
    await expect(only2.values(serverB)).rejects.toThrow(/"v1", which is not configured/);

    const total = await database.db.secret.count();
    expect(await both.rotate()).toEqual({ reencrypted: total, total, keyVersion: 'v2' });
    expect(await both.rotate()).toEqual({ reencrypted: 0, total, keyVersion: 'v2' });
    expect((await database.db.secret.findMany()).every((r) => r.keyVersion === 'v2')).toBe(true);
    expect(await only2.values(serverB)).toEqual({ ROTATE_ME: 'rotating-value' });
    expect(await only2.values(serverA)).toEqual({
      API_KEY: 'second value',
      MOVED: 'bound-to-alpha',
      OTHER: 'other-value-123',
    });
    // Re-encryption is not a value change: nothing rolls.
    expect(await only2.fingerprint(serverB)).toBe(before);
  });

  it('fingerprints change on set, replace and delete, and only for the names asked about', async () => {
    const store = storeWith(`v2:${K2}`);
    const fp = () => store.fingerprint(serverB, ['FP']);
    expect(await fp()).toBe('');
    await store.set(serverB, 'FP', 'a');
    const f1 = await fp();
    await store.set(serverB, 'UNRELATED', 'z');
    expect(await fp()).toBe(f1);
    await store.set(serverB, 'FP', 'a');
    const f2 = await fp();
    expect(f2).not.toBe(f1);
    await store.delete(serverB, 'FP');
    expect(await fp()).toBe('');
    expect(f1 + f2).not.toMatch(/[^a-z0-9:]/);
  });

  it('provisions only declared secrets as BMMS_SECRET_<NAME>', async () => {
    const store = storeWith(`v2:${K2}`);
    await store.set(serverB, 'DECLARED', 'declared-value');
    const provisioner = secretsProvisioner(store);
    const manifest = { secrets: ['DECLARED', 'NOT_SET'] } as Parameters<typeof provisioner.setup>[1];
    const setup = await provisioner.setup({ id: serverB, name: 'beta' }, manifest, 'beta-1');
    expect(setup.env).toEqual({ BMMS_SECRET_DECLARED: 'declared-value' });
    expect(await provisioner.fingerprint({ id: serverB, name: 'beta' }, manifest)).toBe(
      await store.fingerprint(serverB, ['DECLARED']),
    );
  });
});

describe('master keys', () => {
  it('parses a single key as v1 and a versioned list with the first as current', () => {
    expect(parseMasterKey(K1).current).toBe('v1');
    const ring = parseMasterKey(`v3:${K2}, v2:${K1}`);
    expect(ring.current).toBe('v3');
    expect([...ring.keys.keys()]).toEqual(['v3', 'v2']);
    for (const bad of ['', 'not-base64', randomBytes(16).toString('base64'), `v1:${K1},v1:${K2}`, `${K1},v2:${K2}`]) {
      expect(() => parseMasterKey(bad)).toThrow(InvalidMasterKeyError);
    }
  });

  it('generates a 0600 key file on first start and reuses it after', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'bmms-key-'));
    try {
      const first = await loadKeyring(undefined, dir);
      expect(first).toMatchObject({ source: 'file', generated: true });
      const file = path.join(dir, MASTER_KEY_FILE);
      expect((await stat(file)).mode & 0o777).toBe(0o600);
      const second = await loadKeyring('', dir);
      expect(second.generated).toBe(false);
      expect(second.keyring.keys.get('v1')?.equals(first.keyring.keys.get('v1') as Buffer)).toBe(true);
      expect((await readFile(file, 'utf8')).trim()).toMatch(/^v1:[A-Za-z0-9+/]{43}=$/);
      // BMMS_MASTER_KEY wins over the file.
      expect((await loadKeyring(`v9:${K1}`, dir)).keyring.current).toBe('v9');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
