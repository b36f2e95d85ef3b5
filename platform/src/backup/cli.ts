import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { openDatabase } from '@bmms/prisma';
import { loadConfig } from '../config.ts';
import { DataDirInUseError, lockDataDir } from '../datadir-lock.ts';
import { type Keyring, MASTER_KEY_FILE, parseMasterKey } from '../secrets/keyring.ts';
import { createBackup, restoreBackup } from './backup.ts';
import { PlatformRunningError } from './errors.ts';

const USAGE = `usage:
  npm run backup -- <dir> [--include-key-file]   write a backup of BMMS_DATA_DIR (and DATABASE_URL) into <dir>
  npm run restore -- <dir>                       restore the backup in <dir> into an empty BMMS_DATA_DIR (and DATABASE_URL)`;

/** The master keys the platform runs with, without creating a key file. */
async function currentKeyring(dataDir: string): Promise<Keyring | undefined> {
  const env = process.env.BMMS_MASTER_KEY;
  if (env?.trim()) return parseMasterKey(env);
  const text = await readFile(path.join(dataDir, MASTER_KEY_FILE), 'utf8').catch(() => undefined);
  return text === undefined ? undefined : parseMasterKey(text);
}

async function backup(dir: string, includeKeyFile: boolean): Promise<void> {
  const { dataDir, databaseUrl } = loadConfig();
  let unlock: (() => Promise<void>) | undefined;
  if (!databaseUrl) {
    if (!existsSync(path.join(dataDir, 'db', 'PG_VERSION'))) throw new Error(`${dataDir} holds no database to back up`);
    // The embedded database has one owner: take the data dir so no platform starts mid-backup.
    try {
      unlock = await lockDataDir(dataDir);
    } catch (err) {
      if (err instanceof DataDirInUseError) throw new PlatformRunningError(dataDir);
      throw err;
    }
  }
  try {
    const database = await openDatabase({ dataDir, ...(databaseUrl ? { databaseUrl } : {}) });
    try {
      const keyring = await currentKeyring(dataDir);
      const { manifest } = await createBackup(path.resolve(dir), {
        db: database.db,
        kind: database.kind,
        dataDir,
        includeKeyFile,
        ...(keyring ? { keyring } : {}),
      });
      const rows = manifest.database.tables.reduce((n, t) => n + t.rows, 0);
      process.stdout.write(
        `backup written to ${path.resolve(dir)}: ${rows} rows in ${manifest.database.tables.length} tables, ${manifest.repos.length} repositories${includeKeyFile ? ', the master-key file' : ''}\n`,
      );
    } finally {
      await database.close();
    }
  } finally {
    await unlock?.();
  }
}

async function restore(dir: string): Promise<void> {
  const { dataDir, databaseUrl } = loadConfig();
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const unlock = await lockDataDir(dataDir);
  try {
    const summary = await restoreBackup(path.resolve(dir), {
      dataDir,
      ...(databaseUrl ? { databaseUrl } : {}),
      ...(process.env.BMMS_MASTER_KEY ? { masterKey: process.env.BMMS_MASTER_KEY } : {}),
    });
    process.stdout.write(
      `restored ${summary.servers} servers and ${summary.repos} repositories into ${dataDir}; start the platform to re-deploy them\n`,
    );
    if (summary.keyWarning) process.stderr.write(`warning: ${summary.keyWarning}\n`);
  } finally {
    await unlock();
  }
}

const [command, ...rest] = process.argv.slice(2);
try {
  const { values, positionals } = parseArgs({
    args: rest,
    options: { 'include-key-file': { type: 'boolean', default: false } },
    allowPositionals: true,
  });
  const dir = positionals[0];
  if (positionals.length !== 1 || !dir || (command !== 'backup' && command !== 'restore')) {
    process.stderr.write(`${USAGE}\n`);
    process.exit(2);
  }
  if (command === 'backup') await backup(dir, values['include-key-file']);
  else await restore(dir);
} catch (err) {
  process.stderr.write(`${command} failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
