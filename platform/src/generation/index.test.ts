import { type Database, openDatabase } from '@bmms/prisma';
import { createTestDatabase, type TestDatabase } from '@bmms/prisma/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generationConfigFromEnv } from './config.ts';
import { Generation } from './index.ts';

let t: TestDatabase;
let database: Database;
beforeAll(async () => {
  t = await createTestDatabase();
  database = await openDatabase({ dataDir: t.dataDir, databaseUrl: t.url });
});
afterAll(async () => {
  await database?.close();
  await t?.drop();
});

describe('Generation', () => {
  it('marks runs a previous process left mid-way as failed, and leaves the others alone', async () => {
    const base = { orgId: crypto.randomUUID(), userId: crypto.randomUUID(), kind: 'create', prompt: 'p' };
    const rows = await Promise.all(
      ['planning', 'generating', 'checking', 'awaiting_confirmation', 'completed'].map((status) =>
        database.db.generation.create({ data: { ...base, status } }),
      ),
    );
    const generation = new Generation({ ...generationConfigFromEnv({}), anthropicApiKey: undefined });
    expect(await generation.resume(database.db)).toBe(3);
    const after = await database.db.generation.findMany({ where: { id: { in: rows.map((r) => r.id) } } });
    const byStatus = Object.fromEntries(rows.map((r) => [r.status, after.find((a) => a.id === r.id)]));
    for (const s of ['planning', 'generating', 'checking']) {
      expect(byStatus[s]).toMatchObject({ status: 'failed', error: { code: 'generation_interrupted' } });
    }
    expect(byStatus.awaiting_confirmation?.status).toBe('awaiting_confirmation');
    expect(byStatus.completed?.status).toBe('completed');
  });

  it('delivers published events to subscribers until they unsubscribe', () => {
    const generation = new Generation(generationConfigFromEnv({}));
    const seen: string[] = [];
    const off = generation.subscribe('g1', (e, status) => seen.push(`${e.type}/${status}`));
    generation.publish('g1', { seq: 0, type: 'planning', at: 'now' }, 'planning');
    generation.publish('g2', { seq: 0, type: 'planning', at: 'now' }, 'planning');
    off();
    generation.publish('g1', { seq: 1, type: 'failed', at: 'now' }, 'failed');
    expect(seen).toEqual(['planning/planning']);
  });
});
