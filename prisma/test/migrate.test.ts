import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  MigrationApplyError,
  MigrationChecksumMismatchError,
  MigrationFailedError,
  MigrationUnknownError,
} from '../src/errors.ts';
import { MIGRATIONS_DIR, migrate, readMigrations } from '../src/migrate.ts';
import { availableTestKinds, createTestDatabase, type TestDatabase } from '../src/testing.ts';
import { openRaw } from './raw.ts';

const INIT = '20261123133000_init';

interface MigrationRow {
  migration_name: string;
  checksum: string;
  finished_at: Date | null;
  rolled_back_at: Date | null;
  applied_steps_count: number;
  logs: string | null;
}

async function migrationsDir(migrations: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'bmms-migrations-'));
  for (const [name, sql] of Object.entries(migrations)) await writeMigration(dir, name, sql);
  return dir;
}

async function writeMigration(dir: string, name: string, sql: string): Promise<void> {
  await mkdir(join(dir, name), { recursive: true });
  await writeFile(join(dir, name, 'migration.sql'), sql);
}

describe.each(availableTestKinds())('migrate on %s', (kind) => {
  let t: TestDatabase;
  let dir: string | undefined;
  afterEach(async () => {
    await t?.drop();
    if (dir) await rm(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('applies the shipped migrations once and records them the way Prisma does', async () => {
    t = await createTestDatabase({ kind });
    const raw = await openRaw(t);
    try {
      const shipped = (await readMigrations()).map((m) => m.name);
      expect(shipped[0]).toBe(INIT);
      expect(await migrate(raw.conn)).toEqual({ applied: shipped });
      expect(await migrate(raw.conn)).toEqual({ applied: [] });

      const rows = await raw.conn.query<MigrationRow>('SELECT * FROM _prisma_migrations ORDER BY migration_name');
      const sql = await readFile(join(MIGRATIONS_DIR, INIT, 'migration.sql'));
      expect(rows).toHaveLength(shipped.length);
      expect(rows[0]).toMatchObject({
        migration_name: INIT,
        checksum: createHash('sha256').update(sql).digest('hex'),
        rolled_back_at: null,
        applied_steps_count: 1,
        logs: null,
      });
      expect(rows[0]?.finished_at).toBeInstanceOf(Date);
    } finally {
      await raw.close();
    }
  });

  it('applies only the migrations added since the last run', async () => {
    t = await createTestDatabase({ kind });
    dir = await migrationsDir({ '20260101000000_a': 'CREATE TABLE a (id INTEGER);' });
    const raw = await openRaw(t);
    try {
      expect(await migrate(raw.conn, { migrationsDir: dir })).toEqual({ applied: ['20260101000000_a'] });
      await writeMigration(dir, '20260102000000_b', 'CREATE TABLE b (id INTEGER);\nINSERT INTO b VALUES (1);');
      expect(await migrate(raw.conn, { migrationsDir: dir })).toEqual({ applied: ['20260102000000_b'] });
      expect(await raw.conn.query('SELECT id FROM b')).toEqual([{ id: 1 }]);
    } finally {
      await raw.close();
    }
  });

  it('refuses to run when an applied migration was edited', async () => {
    t = await createTestDatabase({ kind });
    dir = await migrationsDir({ '20260101000000_a': 'CREATE TABLE a (id INTEGER);' });
    const raw = await openRaw(t);
    try {
      await migrate(raw.conn, { migrationsDir: dir });
      await writeMigration(dir, '20260101000000_a', 'CREATE TABLE a (id BIGINT);');
      await writeMigration(dir, '20260102000000_b', 'CREATE TABLE b (id INTEGER);');
      const err = await migrate(raw.conn, { migrationsDir: dir }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(MigrationChecksumMismatchError);
      expect(err).toMatchObject({ code: 'migration_checksum_mismatch', data: { migration: '20260101000000_a' } });
      // Nothing after the edited migration ran either.
      expect(await raw.conn.query(`SELECT to_regclass('b') AS b`)).toEqual([{ b: null }]);
    } finally {
      await raw.close();
    }
  });

  it('refuses a database a newer version migrated, naming the unknown migrations, and changes nothing', async () => {
    t = await createTestDatabase({ kind });
    dir = await migrationsDir({
      '20260101000000_a': 'CREATE TABLE a (id INTEGER);',
      '20260102000000_newer': 'CREATE TABLE newer (id INTEGER);',
    });
    const raw = await openRaw(t);
    try {
      await migrate(raw.conn, { migrationsDir: dir });
      // The older build: it ships `a` only, plus a migration of its own that the newer one does not have yet.
      const older = await migrationsDir({
        '20260101000000_a': 'CREATE TABLE a (id INTEGER);',
        '20260101120000_pending': 'CREATE TABLE pending (id INTEGER);',
      });
      const before = await raw.conn.query('SELECT migration_name, finished_at FROM _prisma_migrations ORDER BY 1');
      const err = await migrate(raw.conn, { migrationsDir: older }).catch((e: unknown) => e);
      await rm(older, { recursive: true, force: true });
      expect(err).toBeInstanceOf(MigrationUnknownError);
      expect(err).toMatchObject({ code: 'migration_unknown', data: { migrations: ['20260102000000_newer'] } });
      expect((err as Error).message).toMatch(
        /newer version.*20260102000000_newer.*Run the newer version.*restore a backup/s,
      );
      expect(await raw.conn.query('SELECT migration_name, finished_at FROM _prisma_migrations ORDER BY 1')).toEqual(
        before,
      );
      expect(await raw.conn.query(`SELECT to_regclass('pending') AS p`)).toEqual([{ p: null }]);
    } finally {
      await raw.close();
    }
  });

  it('rolls a failing migration back, records it, and refuses to start until it is resolved', async () => {
    t = await createTestDatabase({ kind });
    dir = await migrationsDir({
      '20260101000000_a': 'CREATE TABLE a (id INTEGER);',
      '20260102000000_b': 'CREATE TABLE b (id INTEGER);\nINSERT INTO missing VALUES (1);',
    });
    const raw = await openRaw(t);
    try {
      const err = await migrate(raw.conn, { migrationsDir: dir }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(MigrationApplyError);
      expect(err).toMatchObject({ code: 'migration_apply_failed', data: { migration: '20260102000000_b' } });
      expect(await raw.conn.query(`SELECT to_regclass('a') IS NOT NULL AS a, to_regclass('b') AS b`)).toEqual([
        { a: true, b: null },
      ]);

      const again = await migrate(raw.conn, { migrationsDir: dir }).catch((e: unknown) => e);
      expect(again).toBeInstanceOf(MigrationFailedError);
      expect(again).toMatchObject({ code: 'migration_failed', data: { migration: '20260102000000_b' } });
      expect((again as Error).message).toContain('relation "missing" does not exist');

      // What `prisma migrate resolve --rolled-back` does, then a fixed migration goes through.
      await raw.conn.exec(`UPDATE _prisma_migrations SET rolled_back_at = now() WHERE finished_at IS NULL`);
      await writeMigration(dir, '20260102000000_b', 'CREATE TABLE b (id INTEGER);');
      expect(await migrate(raw.conn, { migrationsDir: dir })).toEqual({ applied: ['20260102000000_b'] });
    } finally {
      await raw.close();
    }
  });
});

describe.runIf(availableTestKinds().includes('postgres'))('migrate on postgres, two processes at once', () => {
  let t: TestDatabase;
  let dir: string;
  afterEach(async () => {
    await t?.drop();
    await rm(dir, { recursive: true, force: true });
  });

  it('applies each migration exactly once', async () => {
    t = await createTestDatabase({ kind: 'postgres' });
    dir = await migrationsDir({
      '20260101000000_a': 'CREATE TABLE a (id INTEGER);\nSELECT pg_sleep(0.3);',
      '20260102000000_b': 'CREATE TABLE b (id INTEGER);\nSELECT pg_sleep(0.3);',
      '20260103000000_c': 'CREATE TABLE c (id INTEGER);',
    });
    const first = await openRaw(t);
    const second = await openRaw(t);
    try {
      const results = await Promise.all([
        migrate(first.conn, { migrationsDir: dir }),
        migrate(second.conn, { migrationsDir: dir }),
      ]);
      const all = ['20260101000000_a', '20260102000000_b', '20260103000000_c'];
      expect(results.map((r) => r.applied).sort((x, y) => y.length - x.length)).toEqual([all, []]);
      const rows = await first.conn.query<{ migration_name: string }>(
        'SELECT migration_name FROM _prisma_migrations ORDER BY migration_name',
      );
      expect(rows.map((r) => r.migration_name)).toEqual(all);
    } finally {
      await first.close();
      await second.close();
    }
  });
});
