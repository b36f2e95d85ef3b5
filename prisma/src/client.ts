import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { PrismaPGlite } from 'pglite-prisma-adapter';
import { PrismaClient } from '../generated/client.ts';
import { pgConnection, pgliteConnection } from './connection.ts';
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
  return { db, kind: 'postgres', close: () => db.$disconnect() };
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
    async close() {
      await db.$disconnect();
      await pglite.close();
    },
  };
}
