import { access } from 'node:fs/promises';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { availableTestKinds, createTestDatabase } from '../src/testing.ts';

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

describe('createTestDatabase', () => {
  it('gives PGlite a fresh temp dir and removes it on drop', async () => {
    const t = await createTestDatabase({ kind: 'pglite' });
    expect(t.kind).toBe('pglite');
    expect(t.url).toBeUndefined();
    expect(await exists(t.dataDir)).toBe(true);
    await t.drop();
    expect(await exists(t.dataDir)).toBe(false);
  });

  it.runIf(availableTestKinds().includes('postgres'))('creates a unique Postgres database and drops it', async () => {
    const [a, b] = await Promise.all([createTestDatabase(), createTestDatabase()]);
    expect(a.kind).toBe('postgres');
    expect(a.url).not.toBe(b.url);

    const client = new pg.Client({ connectionString: a.url });
    client.on('error', () => undefined); // drop() terminates this session on purpose
    await client.connect();
    const { rows } = await client.query<{ db: string }>('SELECT current_database() AS db');
    const name = rows[0]?.db ?? '';
    expect(a.url).toContain(`/${name}`);

    // drop() also ends sessions a test forgot to close.
    await Promise.all([a.drop(), b.drop()]);
    await client.end().catch(() => undefined);
    const server = new pg.Client({ connectionString: process.env.BMMS_TEST_DATABASE_URL });
    await server.connect();
    const left = await server.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    await server.end();
    expect(left.rows).toEqual([]);
  });
});
