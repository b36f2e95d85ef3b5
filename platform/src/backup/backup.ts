import { createHash } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type DatabaseKind, openDatabase, type PrismaClient, readMigrations } from '@bmms/prisma';
import pg from 'pg';
import { type Keyring, MASTER_KEY_FILE, parseMasterKey } from '../secrets/keyring.ts';
import { dumpDatabase, loadDatabase } from './database.ts';
import { BackupSchemaError, BackupTargetNotEmptyError, RestoreTargetNotEmptyError } from './errors.ts';
import { entryOf, FORMAT_VERSION, MANIFEST_FILE, type Manifest, verifyBackup } from './manifest.ts';
import { bundleRepos, restoreRepos } from './repos.ts';

const PLATFORM_VERSION = (
  JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

/** A one-way fingerprint of a master key, so restore can tell whether it has the right key without storing it. */
export function keyFingerprint(key: Buffer): string {
  return createHash('sha256').update('bmms-backup-key-fingerprint\0').update(key).digest('hex').slice(0, 16);
}

export interface BackupOptions {
  db: PrismaClient;
  kind: DatabaseKind;
  dataDir: string;
  /** The platform's master keys (for fingerprints); omit when none is known. */
  keyring?: Keyring;
  /** Copy `<dataDir>/master-key` into the backup (whoever reads the backup can then decrypt every secret). */
  includeKeyFile?: boolean;
}

/** What a finished backup holds. */
export interface BackupSummary {
  dir: string;
  manifest: Manifest;
}

const isEmptyDir = async (dir: string, ignore: string[] = []) => {
  try {
    return (await readdir(dir)).filter((f) => !ignore.includes(f)).length === 0;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return true;
    throw err;
  }
};

/**
 * Writes a backup into `dir` (new or empty): the database in one snapshot, then every repository (so each
 * revision the database names is in its bundle), then manifest.json with every file's SHA-256, last.
 */
export async function createBackup(dir: string, options: BackupOptions): Promise<BackupSummary> {
  if (!(await isEmptyDir(dir))) throw new BackupTargetNotEmptyError(dir);
  await mkdir(path.join(dir, 'database'), { recursive: true, mode: 0o700 });
  await mkdir(path.join(dir, 'repos'), { recursive: true, mode: 0o700 });
  const snapshot = await dumpDatabase(options.db, dir);
  const repos = await bundleRepos(path.join(options.dataDir, 'repos'), dir);
  let keyFileIncluded = false;
  if (options.includeKeyFile) {
    const keyFile = path.join(options.dataDir, MASTER_KEY_FILE);
    await copyFile(keyFile, path.join(dir, MASTER_KEY_FILE)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
      throw new Error(
        `--include-key-file: ${keyFile} does not exist (the platform reads BMMS_MASTER_KEY instead); keep that key in your secret manager`,
      );
    });
    keyFileIncluded = true;
  }
  const rels = [
    ...snapshot.tables.map((t) => t.file),
    ...repos.flatMap((r) => (r.file ? [r.file] : [])),
    ...(keyFileIncluded ? [MASTER_KEY_FILE] : []),
  ];
  const files = [];
  for (const rel of rels) files.push(await entryOf(dir, rel));
  const fingerprints: Record<string, string> = {};
  for (const [version, key] of options.keyring?.keys ?? []) fingerprints[version] = keyFingerprint(key);
  const manifest: Manifest = {
    format: 'bmms-backup',
    formatVersion: FORMAT_VERSION,
    createdAt: new Date().toISOString(),
    platformVersion: PLATFORM_VERSION,
    database: { kind: options.kind, migrations: snapshot.migrations, tables: snapshot.tables },
    repos,
    keys: { sealed: snapshot.sealed, fingerprints, keyFileIncluded },
    files,
  };
  const tmp = path.join(dir, `${MANIFEST_FILE}.tmp`);
  await writeFile(tmp, `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o600 });
  await rename(tmp, path.join(dir, MANIFEST_FILE));
  return { dir, manifest };
}

export interface RestoreOptions {
  /** The new data dir: must be empty or absent. */
  dataDir: string;
  /** Postgres to restore into (must hold no data); omit for the embedded database in `<dataDir>/db`. */
  databaseUrl?: string;
  /** The master key the restored platform will run with (BMMS_MASTER_KEY), if any. */
  masterKey?: string;
}

/** The outcome of a restore, including whether the restored secrets can be decrypted. */
export interface RestoreSummary {
  manifest: Manifest;
  servers: number;
  repos: number;
  /** Key versions sealed values need that the restored platform will not have (empty: every secret decrypts). */
  missingKeys: string[];
  /** Say this to the operator when `missingKeys` is not empty. */
  keyWarning?: string;
}

/** Refuses a database that already holds tables, so a restore never merges into another platform's data. */
async function assertEmptyPostgres(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = current_schema()`,
    );
    if ((rows[0]?.n ?? 0) > 0) {
      const u = new URL(url);
      throw new RestoreTargetNotEmptyError(`the database ${u.pathname.slice(1)} on ${u.host}`);
    }
  } finally {
    await client.end();
  }
}

/** Copies the shipped migrations up to the backup's schema version into a temp dir, so the rows load into the schema they were dumped from. */
async function migrationsUpTo(names: string[]): Promise<string> {
  const shipped = await readMigrations();
  const shippedNames = shipped.map((m) => m.name);
  const newer = names.filter((n) => !shippedNames.includes(n));
  if (newer.length > 0) {
    throw new BackupSchemaError(
      `it was taken with database migrations this version does not have (${newer.join(', ')}); restore with that version or a newer one`,
    );
  }
  if (names.some((n, i) => shippedNames[i] !== n)) {
    throw new BackupSchemaError('its migration history differs from this version’s');
  }
  const dir = await mkdtemp(path.join(tmpdir(), 'bmms-restore-migrations-'));
  for (const m of shipped.slice(0, names.length)) {
    await mkdir(path.join(dir, m.name));
    await writeFile(path.join(dir, m.name, 'migration.sql'), m.sql);
  }
  return dir;
}

/** Key versions a backup's sealed values need that `keyring` lacks or holds a different key for (by fingerprint). */
export function unreadableKeyVersions(manifest: Manifest, keyring: Keyring | undefined): string[] {
  return Object.keys(manifest.keys.sealed).filter((version) => {
    const key = keyring?.keys.get(version);
    if (!key) return true;
    const expected = manifest.keys.fingerprints[version];
    return expected !== undefined && expected !== keyFingerprint(key);
  });
}

/** The keyring a platform on `dataDir` will start with: BMMS_MASTER_KEY, else the key file (none yet: undefined). */
async function restoredKeyring(dataDir: string, masterKey: string | undefined): Promise<Keyring | undefined> {
  if (masterKey?.trim()) return parseMasterKey(masterKey);
  const text = await readFile(path.join(dataDir, MASTER_KEY_FILE), 'utf8').catch(() => undefined);
  return text === undefined ? undefined : parseMasterKey(text);
}

/**
 * Restores a verified backup into an empty data dir (and an empty database): the rows at their schema
 * version, then every repository. Starting the platform afterwards applies newer migrations and re-deploys.
 */
export async function restoreBackup(backupDir: string, options: RestoreOptions): Promise<RestoreSummary> {
  const manifest = await verifyBackup(backupDir);
  const { dataDir } = options;
  if (!(await isEmptyDir(dataDir, ['platform.pid']))) throw new RestoreTargetNotEmptyError(`the data dir ${dataDir}`);
  if (options.databaseUrl) await assertEmptyPostgres(options.databaseUrl);
  const migrationsDir = await migrationsUpTo(manifest.database.migrations);
  try {
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    const database = await openDatabase({
      dataDir,
      migrationsDir,
      ...(options.databaseUrl ? { databaseUrl: options.databaseUrl } : {}),
    });
    try {
      await loadDatabase(database.db, backupDir, manifest.database.tables);
    } finally {
      await database.close();
    }
  } finally {
    await rm(migrationsDir, { recursive: true, force: true });
  }
  await restoreRepos(path.join(dataDir, 'repos'), backupDir, manifest.repos);
  if (manifest.keys.keyFileIncluded) {
    await copyFile(path.join(backupDir, MASTER_KEY_FILE), path.join(dataDir, MASTER_KEY_FILE));
  }
  const missing = unreadableKeyVersions(manifest, await restoredKeyring(dataDir, options.masterKey));
  const servers = manifest.database.tables.find((t) => t.name === 'servers')?.rows ?? 0;
  const summary: RestoreSummary = { manifest, servers, repos: manifest.repos.length, missingKeys: missing };
  if (missing.length > 0) {
    const count = missing.reduce((n, v) => n + (manifest.keys.sealed[v] ?? 0), 0);
    summary.keyWarning = `${count} encrypted value(s) (server secrets, OAuth signing keys) need master key ${missing.join(', ')}, which this data dir will not have: before starting, set BMMS_MASTER_KEY to the backed-up platform's key (or copy its master-key file to ${path.join(dataDir, MASTER_KEY_FILE)}); otherwise those secrets cannot be decrypted`;
  }
  return summary;
}
