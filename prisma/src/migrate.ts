import { createHash, randomUUID } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SqlConnection } from './connection.ts';
import {
  MigrationApplyError,
  MigrationChecksumMismatchError,
  MigrationFailedError,
  MigrationUnknownError,
} from './errors.ts';

/** The migrations shipped with this package (`prisma/migrations`). */
export const MIGRATIONS_DIR = fileURLToPath(new URL('../migrations/', import.meta.url));

// The key Prisma Migrate itself locks on, so this runner and `prisma migrate deploy` exclude each other too.
const ADVISORY_LOCK_KEY = 72707369;

// Exactly the table Prisma Migrate creates, so its CLI (`migrate status`, `migrate resolve`) keeps working.
const CREATE_MIGRATIONS_TABLE = `CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id"                    VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"              VARCHAR(64) NOT NULL,
    "finished_at"           TIMESTAMPTZ,
    "migration_name"        VARCHAR(255) NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        TIMESTAMPTZ,
    "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count"   INTEGER NOT NULL DEFAULT 0
)`;

/** One `<dir>/<name>/migration.sql` file. */
export interface MigrationFile {
  name: string;
  sql: string;
  checksum: string;
}

export interface MigrateOptions {
  /** Folder holding `<timestamp>_<name>/migration.sql`; defaults to {@link MIGRATIONS_DIR}. */
  migrationsDir?: string;
}

export interface MigrateResult {
  /** Names of the migrations this run applied, in order (empty when the database was up to date). */
  applied: string[];
}

interface MigrationRow {
  migration_name: string;
  checksum: string;
  finished_at: Date | null;
  rolled_back_at: Date | null;
  logs: string | null;
}

/** Reads the migration folders in name order (their timestamp prefix orders them). */
export async function readMigrations(migrationsDir: string = MIGRATIONS_DIR): Promise<MigrationFile[]> {
  const entries = await readdir(migrationsDir, { withFileTypes: true });
  const names = entries
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
  const files: MigrationFile[] = [];
  for (const name of names) {
    const sql = await readFile(join(migrationsDir, name, 'migration.sql'), 'utf8').catch((err: unknown) => {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    });
    if (sql !== null) files.push({ name, sql, checksum: sha256(sql) });
  }
  return files;
}

/**
 * Applies pending migrations on one session, under Prisma's advisory lock, each in its own transaction,
 * recording them in `_prisma_migrations`. Refuses to run if an applied migration changed or one failed, and when the
 * database has applied migrations this build does not ship (a newer version migrated it).
 */
export async function migrate(conn: SqlConnection, options: MigrateOptions = {}): Promise<MigrateResult> {
  const files = await readMigrations(options.migrationsDir);
  await conn.query('SELECT pg_advisory_lock($1)', [ADVISORY_LOCK_KEY]);
  try {
    await conn.exec(CREATE_MIGRATIONS_TABLE);
    const rows = await conn.query<MigrationRow>(
      'SELECT migration_name, checksum, finished_at, rolled_back_at, logs FROM "_prisma_migrations" ORDER BY started_at',
    );
    const failed = rows.find((r) => r.finished_at === null && r.rolled_back_at === null);
    if (failed) throw new MigrationFailedError(failed.migration_name, failed.logs);

    const done = new Map<string, string>();
    for (const r of rows)
      if (r.finished_at !== null && r.rolled_back_at === null) done.set(r.migration_name, r.checksum);
    // A newer version's schema: this build would misread it, so refuse before touching anything.
    const known = new Set(files.map((f) => f.name));
    const unknown = [...done.keys()].filter((name) => !known.has(name)).sort();
    if (unknown.length > 0) throw new MigrationUnknownError(unknown);
    for (const file of files) {
      const recorded = done.get(file.name);
      if (recorded !== undefined && !checksumMatches(recorded, file.sql)) {
        throw new MigrationChecksumMismatchError(file.name, recorded, file.checksum);
      }
    }

    const applied: string[] = [];
    for (const file of files) {
      if (done.has(file.name)) continue;
      await applyMigration(conn, file);
      applied.push(file.name);
    }
    return { applied };
  } finally {
    // If the session is already broken the lock dies with it, so a failed unlock changes nothing.
    await conn.query('SELECT pg_advisory_unlock($1)', [ADVISORY_LOCK_KEY]).catch(() => undefined);
  }
}

async function applyMigration(conn: SqlConnection, file: MigrationFile): Promise<void> {
  const id = randomUUID();
  await conn.exec('BEGIN');
  try {
    await conn.query(
      'INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at) VALUES ($1, $2, $3, now())',
      [id, file.checksum, file.name],
    );
    await conn.exec(file.sql);
    await conn.query(
      'UPDATE "_prisma_migrations" SET finished_at = clock_timestamp(), applied_steps_count = 1 WHERE id = $1',
      [id],
    );
    await conn.exec('COMMIT');
  } catch (err) {
    await conn.exec('ROLLBACK');
    const reason = err instanceof Error ? err.message : String(err);
    // Recorded like Prisma records a failure: finished_at stays NULL, so the next start refuses until resolved.
    await conn.query(
      'INSERT INTO "_prisma_migrations" (id, checksum, migration_name, logs, started_at, applied_steps_count) VALUES ($1, $2, $3, $4, now(), 0)',
      [id, file.checksum, file.name, reason],
    );
    throw new MigrationApplyError(file.name, reason, err);
  }
}

function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

// Prisma accepts a file whose only change is CRLF <-> LF line endings (a Git checkout on Windows).
function checksumMatches(recorded: string, sql: string): boolean {
  const lf = sql.replace(/\r\n/g, '\n');
  return [sql, lf, lf.replace(/\n/g, '\r\n')].some((variant) => sha256(variant) === recorded);
}
