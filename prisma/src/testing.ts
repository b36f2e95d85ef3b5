import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { DatabaseKind } from './client.ts';
import { TestDatabaseUnavailableError } from './errors.ts';

/** A fresh, empty database for one test file; pass `url` and `dataDir` to `openDatabase`. */
export interface TestDatabase {
  /** Set for Postgres: the URL of the newly created database. Undefined for PGlite. */
  url?: string;
  /** A new temp directory (PGlite keeps its files in `<dataDir>/db`); removed by drop(). */
  dataDir: string;
  kind: DatabaseKind;
  /** Drops the Postgres database (terminating leftover sessions) and removes dataDir. */
  drop(): Promise<void>;
}

/** The server URL tests use for Postgres, from BMMS_TEST_DATABASE_URL (undefined: PGlite only). */
export function testServerUrl(): string | undefined {
  return process.env.BMMS_TEST_DATABASE_URL || undefined;
}

/** Every kind the current environment can test: PGlite always, Postgres when BMMS_TEST_DATABASE_URL is set. */
export function availableTestKinds(): DatabaseKind[] {
  return testServerUrl() ? ['pglite', 'postgres'] : ['pglite'];
}

/**
 * Creates a fresh empty database: PGlite in a temp dir, or, when BMMS_TEST_DATABASE_URL is set (or
 * `kind: 'postgres'` is asked for), a uniquely named database created on that Postgres server.
 */
export async function createTestDatabase(options: { kind?: DatabaseKind } = {}): Promise<TestDatabase> {
  const serverUrl = testServerUrl();
  const kind = options.kind ?? (serverUrl ? 'postgres' : 'pglite');
  if (kind === 'postgres' && !serverUrl) throw new TestDatabaseUnavailableError();
  const dataDir = await mkdtemp(join(tmpdir(), 'bmms-test-'));
  const removeDir = () => rm(dataDir, { recursive: true, force: true });
  if (kind === 'pglite' || !serverUrl) return { dataDir, kind: 'pglite', drop: removeDir };

  const name = `bmms_test_${randomBytes(8).toString('hex')}`;
  await onServer(serverUrl, `CREATE DATABASE "${name}"`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    dataDir,
    kind,
    async drop() {
      await onServer(serverUrl, `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await removeDir();
    },
  };
}

async function onServer(serverUrl: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}
