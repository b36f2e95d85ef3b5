import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { PrismaPGlite } from 'pglite-prisma-adapter';
import { PrismaClient } from '../generated/client.ts';
import { pgConnection, pgliteConnection, type SqlConnection } from './connection.ts';
import { type MigrateOptions, migrate } from './migrate.ts';

/** Which engine backs a {@link Database}. */
export type DatabaseKind = 'pglite' | 'postgres';

export interface OpenDatabaseOptions {
  /** The platform's data directory; the embedded database lives in `<dataDir>/db`. */
  dataDir: string;
  /** A Postgres URL; when set it is used instead of the embedded database. */
  databaseUrl?: string;
  /** Overrides the migrations folder (tests). */
  migrationsDir?: string;
}

/** A migrated, ready database. */
export interface Database {
  db: PrismaClient;
  kind: DatabaseKind;
  /**
   * Statements run without the client, for bulk writes on a hot path (one statement for many rows costs a fraction
   * of the client's per-value work). On the embedded database it waits for any open transaction; on Postgres it is
   * a small pool of its own. Not for transactions: each call may take another session.
   */
  raw: Pick<SqlConnection, 'query'>;
  /** Disconnects Prisma and closes the embedded database (or the Postgres pool). */
  close(): Promise<void>;
}

/** Opens Postgres (when `databaseUrl` is set) or the embedded PGlite at `<dataDir>/db`, applying pending migrations first. */
export async function openDatabase(options: OpenDatabaseOptions): Promise<Database> {
  const migrateOptions: MigrateOptions = options.migrationsDir ? { migrationsDir: options.migrationsDir } : {};
  if (options.databaseUrl) return openPostgres(options.databaseUrl, migrateOptions);
  return openPglite(join(options.dataDir, 'db'), migrateOptions);
}

async function openPostgres(url: string, migrateOptions: MigrateOptions): Promise<Database> {
  // Migrations need one dedicated session for the advisory lock; Prisma then gets its own pool.
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await migrate(pgConnection(client), migrateOptions);
  } finally {
    await client.end();
  }
  const db = new PrismaClient({ adapter: new PrismaPg({ connectionString: url }) });
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  // An idle session that breaks (a Postgres restart) is dropped by the pool; without a listener it would crash us.
  pool.on('error', () => {});
  const raw = {
    async query<T extends object>(sql: string, params: unknown[] = []) {
      return (await pool.query<T & pg.QueryResultRow>(sql, params)).rows;
    },
  };
  return {
    db,
    kind: 'postgres',
    raw,
    async close() {
      await db.$disconnect();
      await pool.end();
    },
  };
}

async function openPglite(dir: string, migrateOptions: MigrateOptions): Promise<Database> {
  await mkdir(dir, { recursive: true });
  const pglite = await PGlite.create(dir);
  try {
    await migrate(pgliteConnection(pglite), migrateOptions);
  } catch (err) {
    await pglite.close();
    throw err;
  }
  const db = new PrismaClient({ adapter: new PrismaPGlite(pglite) });
  return {
    db,
    kind: 'pglite',
    raw: pgliteConnection(pglite),
    async close() {
      await db.$disconnect();
      await pglite.close();
    },
  };
}
