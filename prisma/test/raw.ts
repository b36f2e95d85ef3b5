import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { pgConnection, pgliteConnection, type SqlConnection } from '../src/connection.ts';
import type { TestDatabase } from '../src/testing.ts';

/** A raw session on a test database, beside Prisma: for catalog queries and running the migrator directly. */
export async function openRaw(t: TestDatabase): Promise<{ conn: SqlConnection; close(): Promise<void> }> {
  if (t.url) {
    const client = new pg.Client({ connectionString: t.url });
    await client.connect();
    return { conn: pgConnection(client), close: () => client.end() };
  }
  const db = await PGlite.create(`${t.dataDir}/db`);
  return { conn: pgliteConnection(db), close: () => db.close() };
}
