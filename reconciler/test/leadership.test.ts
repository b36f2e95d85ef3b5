// Two reconcilers on one Postgres database: exactly one acts, and the other takes over within seconds when the
// leader's lock connection dies. Postgres only (the embedded database has one process by construction).
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InternalGitProvider } from '@bmms/gitserver';
import { type Database, openDatabase } from '@bmms/prisma';
import { createTestDatabase, type TestDatabase, testServerUrl } from '@bmms/prisma/testing';
import { renderTemplate } from '@bmms/runner-template';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AdvisoryLockLeadership,
  BundleCache,
  ProcessRuntime,
  Reconciler,
  RouteTable,
  SoloLeadership,
  whileLeading,
} from '../src/index.ts';

const quiet = { info() {}, warn() {}, error() {} };
const KEY = BigInt(Date.now()) * 1000n + BigInt(process.pid % 1000);

describe.runIf(testServerUrl())('reconciler leadership on Postgres', () => {
  let tdb: TestDatabase;
  let dir: string;
  const databases: Database[] = [];

  beforeAll(async () => {
    tdb = await createTestDatabase({ kind: 'postgres' });
    dir = await mkdtemp(join(tmpdir(), 'bmms-leader-'));
  });
  afterAll(async () => {
    for (const d of databases) await d.close();
    await tdb?.drop();
    await rm(dir, { recursive: true, force: true });
  });

  /** One platform-like node: its own runtime, routes and bundles; the shared git store and database. */
  async function node(name: string, git: InternalGitProvider) {
    const database = await openDatabase({ dataDir: join(dir, name), databaseUrl: tdb.url });
    databases.push(database);
    const runtime = new ProcessRuntime({
      dataDir: join(dir, name, 'data'),
      insecure: !existsSync('/usr/bin/bwrap'),
      log: () => {},
    });
    const reconciler = new Reconciler({
      db: database.db,
      git,
      runtime,
      bundles: new BundleCache({ dir: join(dir, name, 'bundles') }),
      routes: new RouteTable(),
      gate: { verdict: async () => 'success' },
      log: quiet,
      resyncMs: 500,
      standbyMs: 0,
    });
    const leadership = new AdvisoryLockLeadership({ connectionString: tdb.url as string, key: KEY, retryMs: 200 });
    const logs: string[] = [];
    const leader = whileLeading(leadership, {
      start: () => reconciler.start(),
      stop: () => reconciler.stop(),
      log: (msg) => logs.push(msg),
    });
    return { runtime, leadership, leader, logs, settled: await leader.settled };
  }

  it('lets exactly one of two reconcilers act, and the other take over when the leader dies', async () => {
    const git = new InternalGitProvider({ root: join(dir, 'repos') });
    const setup = await openDatabase({ dataDir: join(dir, 'setup'), databaseUrl: tdb.url });
    databases.push(setup);
    const org = await setup.db.org.create({ data: { slug: 'o', name: 'O' } });
    await setup.db.server.create({ data: { name: 'shared', orgId: org.id } });
    await git.createRepo('shared');
    await git.commitFiles('shared', {
      branch: 'main',
      parent: null,
      files: renderTemplate('echo', 'shared'),
      message: 'first',
      author: { name: 't', email: 't@example.com' },
    });

    const a = await node('a', git);
    const b = await node('b', git);
    expect([a.settled, b.settled]).toEqual(['leading', 'following']);
    const until = async (what: string, ok: () => boolean, ms = 30_000) => {
      const deadline = Date.now() + ms;
      while (!ok()) {
        if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    await until('the leader serves', () => a.runtime.list().length === 1);
    // The follower never acts, however many resyncs pass.
    await new Promise((r) => setTimeout(r, 1500));
    expect(b.runtime.list()).toEqual([]);

    // The leader dies: its lock connection is cut (as by a kill), and it never comes back.
    const admin = new pg.Client({ connectionString: tdb.url });
    await admin.connect();
    await admin.query(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'bmms-reconciler-lock' AND pid IN (SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted)",
    );
    await admin.end();
    const t0 = Date.now();
    await until('the old leader noticed', () => a.logs.includes('lost reconciler leadership; stopping'));
    await a.leader.close();
    await until('the follower serves', () => b.runtime.list().length === 1).catch((err) => {
      throw new Error(
        `${err.message}: a=${JSON.stringify(a.logs)} b=${JSON.stringify(b.logs)} b leading=${b.leadership.leading} a=${a.runtime.list().length}`,
      );
    });
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(a.runtime.list()).toEqual([]);
    expect(b.leadership.leading).toBe(true);
    await b.leader.close();
  }, 90_000);
});

describe('embedded leadership', () => {
  it('always leads: one process owns the embedded database', async () => {
    const solo = new SoloLeadership();
    expect(await solo.tryAcquire()).toBe(true);
    let started = 0;
    const leader = whileLeading(solo, { start: async () => void started++, stop: async () => {}, log: () => {} });
    expect(await leader.settled).toBe('leading');
    expect(started).toBe(1);
    await leader.close();
  });
});
