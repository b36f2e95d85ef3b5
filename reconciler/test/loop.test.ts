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

describe('Reconciler on a revision that crash-loops after it started', () => {
  let tdb: TestDatabase;
  let database: Database;
  let dir: string;
  let git: InternalGitProvider;
  let routes: RouteTable;
  let reconciler: Reconciler;
  let serverId: string;
  let good: string;

  beforeAll(async () => {
    tdb = await createTestDatabase();
    database = await openDatabase({ dataDir: tdb.dataDir, databaseUrl: tdb.url });
    dir = await mkdtemp(join(tmpdir(), 'bmms-crashloop-'));
    git = new InternalGitProvider({ root: join(dir, 'repos') });
    const runtime = new ProcessRuntime({
      dataDir: join(dir, 'data'),
      insecure: !existsSync('/usr/bin/bwrap'),
      log: () => {},
    });
    routes = new RouteTable();
    reconciler = new Reconciler({
      db: database.db,
      git,
      runtime,
      bundles: new BundleCache({ dir: join(dir, 'bundles') }),
      routes,
      gate: { verdict: async () => 'success' },
      log: quiet,
      resyncMs: 60_000,
      standbyMs: 0,
      crashLoopThreshold: 3,
    });
    const org = await database.db.org.create({ data: { slug: 'o', name: 'O' } });
    serverId = (await database.db.server.create({ data: { name: 'loopy', orgId: org.id } })).id;
    await git.createRepo('loopy');
    good = (
      await git.commitFiles('loopy', {
        branch: 'main',
        parent: null,
        files: renderTemplate('echo', 'loopy'),
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
  const until = async (what: string, ok: () => Promise<boolean>, ms = 45_000) => {
    const deadline = Date.now() + ms;
    while (!(await ok())) {
      if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  it('restarts with a growing delay, then rolls back to the last healthy revision without touching git', async () => {
    await until('the good revision serves', async () => routes.get('loopy')?.revision === good);
    const source = renderTemplate('echo', 'loopy')['src/server.ts'];
    const bad = (
      await git.commitFiles('loopy', {
        branch: 'main',
        parent: good,
        // Starts, passes its probe, then dies a moment later: what a check cannot see.
        files: { 'src/server.ts': `${source}\nsetTimeout(() => { throw new Error('boom later'); }, 1200);\n` },
        message: 'crashes after start',
        author,
      })
    ).sha;
    reconciler.wake('loopy');
    await until('serving the bad revision once', async () => routes.get('loopy')?.revision === bad);
    await until('rolled back to the good revision', async () => {
      const s = await server();
      return routes.get('loopy')?.revision === good && s.observedRevision === good;
    });
    const s = await server();
    const conditions = s.conditions as { type: string; status: string; reason: string; message: string }[];
    expect(conditions.find((c) => c.type === 'Degraded')).toMatchObject({
      status: 'True',
      reason: 'CrashLoopRollback',
    });
    expect(conditions.find((c) => c.type === 'Ready')).toMatchObject({ status: 'True', reason: 'RolledBack' });
    expect(s.desiredRevision).toBe(bad);
    expect(await git.resolveRef('loopy', 'main')).toBe(bad);
    const crashes = s.deployments.filter((d) => d.reason === 'InstanceCrashed');
    expect(crashes.length).toBe(2);
    expect(crashes.some((d) => /in 1 s/.test(d.message))).toBe(true);
    expect(s.deployments.find((d) => d.reason === 'CrashLoopRollback')?.message).toMatch(
      /exited 3 times[\s\S]*main is unchanged/,
    );

    // A fix on main clears the pin.
    const fixed = (
      await git.commitFiles('loopy', {
        branch: 'main',
        parent: bad,
        files: renderTemplate('echo', 'loopy'),
        message: 'fix',
        author,
      })
    ).sha;
    reconciler.wake('loopy');
    await until('the fix serves', async () => routes.get('loopy')?.revision === fixed);
  });
});
