import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InternalGitProvider } from '@bmms/gitserver';
import { type Database, openDatabase } from '@bmms/prisma';
import { createTestDatabase, type TestDatabase } from '@bmms/prisma/testing';
import { renderTemplate } from '@bmms/runner-template';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BundleCache, ProcessRuntime, Reconciler, RouteTable } from '../src/index.ts';
import type { RevisionGate } from '../src/loop.ts';

const author = { name: 'test', email: 'test@example.com' };
const quiet = { info: () => {}, warn: () => {}, error: () => {} };

/**
 * The reconciler's failure handling with the real database, git store, bundler and process runtime.
 * The checks are outside this workspace: a gate that passes every revision stands in for them, so a
 * revision that fails only at deploy time can be shown.
 */
describe('Reconciler on a revision that fails to deploy', () => {
  let tdb: TestDatabase;
  let database: Database;
  let dir: string;
  let git: InternalGitProvider;
  let runtime: ProcessRuntime;
  let routes: RouteTable;
  let reconciler: Reconciler;
  let serverId: string;
  let good: string;

  beforeAll(async () => {
    tdb = await createTestDatabase();
    database = await openDatabase({ dataDir: tdb.dataDir, databaseUrl: tdb.url });
    dir = await mkdtemp(join(tmpdir(), 'bmms-loop-'));
    git = new InternalGitProvider({ root: join(dir, 'repos') });
    runtime = new ProcessRuntime({
      dataDir: join(dir, 'data'),
      insecure: !existsSync('/usr/bin/bwrap'),
      log: () => {},
    });
    routes = new RouteTable();
    const gate: RevisionGate = { verdict: async () => 'success' };
    reconciler = new Reconciler({
      db: database.db,
      git,
      runtime,
      bundles: new BundleCache({ dir: join(dir, 'bundles') }),
      routes,
      gate,
      log: quiet,
      resyncMs: 60_000,
      retryBaseMs: 100,
      maxAttempts: 3,
      standbyMs: 0,
    });
    const org = await database.db.org.create({ data: { slug: 'o', name: 'O' } });
    serverId = (await database.db.server.create({ data: { name: 'flaky', orgId: org.id } })).id;
    await git.createRepo('flaky');
    good = (
      await git.commitFiles('flaky', {
        branch: 'main',
        parent: null,
        files: renderTemplate('echo', 'flaky'),
        message: 'good',
        author,
      })
    ).sha;
    await reconciler.start();
  });

  afterAll(async () => {
    await reconciler?.stop();
    await database?.close();
    await tdb?.drop();
    await rm(dir, { recursive: true, force: true });
  });

  const server = () =>
    database.db.server.findUniqueOrThrow({
      where: { id: serverId },
      include: { deployments: { orderBy: { startedAt: 'desc' } } },
    });
  const condition = async (type: string) => {
    const s = await server();
    return (s.conditions as { type: string; status: string; reason: string; message: string }[]).find(
      (c) => c.type === type,
    );
  };
  const until = async (what: string, ok: () => Promise<boolean>) => {
    const deadline = Date.now() + 30_000;
    while (!(await ok())) {
      if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  it('keeps the old instance serving, retries with backoff, stalls after the last attempt, and retries on request', async () => {
    await until('the good revision serves', async () => routes.get('flaky')?.revision === good);
    const serving = routes.get('flaky')?.instanceId;

    const bad = (
      await git.commitFiles('flaky', {
        branch: 'main',
        parent: good,
        files: { 'src/server.ts': `if (Date.now() > 0) throw new Error('boom at start');\n` },
        message: 'crash at start',
        author,
      })
    ).sha;
    reconciler.wake('flaky');

    await until('Degraded StartFailed', async () => (await condition('Degraded'))?.reason === 'StartFailed');
    expect(routes.get('flaky')?.instanceId).toBe(serving);
    expect((await condition('Ready'))?.message).toMatch(/still serving/);
    const first = (await server()).deployments[0];
    expect(first).toMatchObject({ revision: bad, state: 'failed', reason: 'StartFailed' });
    expect(first?.message).toMatch(/boom at start/);

    await until('Stalled after 3 attempts', async () => (await condition('Stalled'))?.status === 'True');
    expect((await condition('Stalled'))?.message).toMatch(/failed 3 times/);
    const attempts = (await server()).deployments.filter((d) => d.revision === bad).length;
    expect(attempts).toBe(3);
    await new Promise((r) => setTimeout(r, 600));
    expect((await server()).deployments.filter((d) => d.revision === bad)).toHaveLength(attempts);
    expect(routes.get('flaky')?.instanceId).toBe(serving);
    expect((await server()).observedRevision).toBe(good);

    reconciler.retry('flaky');
    await until(
      'one more attempt',
      async () => (await server()).deployments.filter((d) => d.revision === bad).length > attempts,
    );
    expect(runtime.list().filter((i) => i.serverName === 'flaky')).toHaveLength(1);
  });
});
