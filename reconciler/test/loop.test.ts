import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InternalGitProvider } from '@bmms/gitserver';
import { type Database, openDatabase } from '@bmms/prisma';
import { createTestDatabase, type TestDatabase } from '@bmms/prisma/testing';
import { renderTemplate } from '@bmms/runner-template';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BundleCache, ProcessRuntime, Reconciler, type ReconcilerDeps, RouteTable } from '../src/index.ts';

const author = { name: 'test', email: 'test@example.com' };
const quiet = { info: () => {}, warn: () => {}, error: () => {} };

type Condition = { type: string; status: string; reason: string; message: string };

/**
 * A reconciler on the real database, git store, bundler and process runtime, serving one server
 * whose main starts at the echo template. The checks are outside this workspace: a gate that passes
 * every revision stands in for them, so revisions that fail only at deploy or run time can be shown.
 */
async function startRig(name: string, options: Partial<ReconcilerDeps>) {
  const tdb: TestDatabase = await createTestDatabase();
  const database: Database = await openDatabase({ dataDir: tdb.dataDir, databaseUrl: tdb.url });
  const dir = await mkdtemp(join(tmpdir(), `bmms-${name}-`));
  const git = new InternalGitProvider({ root: join(dir, 'repos') });
  const runtime = new ProcessRuntime({
    dataDir: join(dir, 'data'),
    insecure: !existsSync('/usr/bin/bwrap'),
    log: () => {},
  });
  const bundles = new BundleCache({ dir: join(dir, 'bundles') });
  // A reconciler as a new platform process (or a new leader) gets it: nothing but the database and git in common.
  const boot = () => {
    const routes = new RouteTable();
    const reconciler = new Reconciler({
      db: database.db,
      git,
      runtime,
      bundles,
      routes,
      gate: { verdict: async () => 'success' },
      log: quiet,
      resyncMs: 60_000,
      standbyMs: 0,
      ...options,
    });
    return { routes, reconciler };
  };
  let { routes, reconciler } = boot();
  const org = await database.db.org.create({ data: { slug: 'o', name: 'O' } });
  const serverId = (await database.db.server.create({ data: { name, orgId: org.id } })).id;
  await git.createRepo(name);
  const good = (
    await git.commitFiles(name, {
      branch: 'main',
      parent: null,
      files: renderTemplate('echo', name),
      message: 'good',
      author,
    })
  ).sha;
  await reconciler.start();
  const server = () =>
    database.db.server.findUniqueOrThrow({
      where: { id: serverId },
      include: { deployments: { orderBy: { startedAt: 'desc' } } },
    });
  return {
    git,
    db: database.db,
    runtime,
    get routes() {
      return routes;
    },
    get reconciler() {
      return reconciler;
    },
    /** The platform stops and another one takes over on the same database (none of the old one's memory). */
    restart: async () => {
      await reconciler.stop();
      ({ routes, reconciler } = boot());
      await reconciler.start();
    },
    good,
    server,
    /** Change #1 of the server: a README edit on branch `feature` off the good revision; returns its head. */
    openChange: async (): Promise<string> => {
      const head = (
        await git.commitFiles(name, {
          branch: 'feature',
          parent: good,
          files: { 'README.md': 'A change.\n' },
          message: 'a change',
          author,
        })
      ).sha;
      await database.db.changeRequest.create({
        data: { serverId, number: 1, title: 'a change', branch: 'feature', headSha: head },
      });
      return head;
    },
    condition: async (type: string) => ((await server()).conditions as Condition[]).find((c) => c.type === type),
    until: async (what: string, ok: () => Promise<boolean>, ms = 45_000) => {
      const deadline = Date.now() + ms;
      while (!(await ok())) {
        if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    stop: async () => {
      await reconciler.stop();
      await database.close();
      await tdb.drop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

type Rig = Awaited<ReturnType<typeof startRig>>;

describe('Reconciler on a revision that fails to deploy', () => {
  let rig: Rig;
  beforeAll(async () => {
    rig = await startRig('flaky', { retryBaseMs: 100, maxAttempts: 3 });
  });
  afterAll(async () => {
    await rig?.stop();
  });

  it('keeps the old instance serving, retries with backoff, stalls after the last attempt, and retries on request', async () => {
    await rig.until('the good revision serves', async () => rig.routes.get('flaky')?.revision === rig.good);
    const serving = rig.routes.get('flaky')?.instanceId;

    const bad = (
      await rig.git.commitFiles('flaky', {
        branch: 'main',
        parent: rig.good,
        files: { 'src/server.ts': `if (Date.now() > 0) throw new Error('boom at start');\n` },
        message: 'crash at start',
        author,
      })
    ).sha;
    rig.reconciler.wake('flaky');

    await rig.until('Degraded StartFailed', async () => (await rig.condition('Degraded'))?.reason === 'StartFailed');
    expect(rig.routes.get('flaky')?.instanceId).toBe(serving);
    expect((await rig.condition('Ready'))?.message).toMatch(/still serving/);
    const first = (await rig.server()).deployments[0];
    expect(first).toMatchObject({ revision: bad, state: 'failed', reason: 'StartFailed' });
    expect(first?.message).toMatch(/boom at start/);

    await rig.until('Stalled after 3 attempts', async () => (await rig.condition('Stalled'))?.status === 'True');
    expect((await rig.condition('Stalled'))?.message).toMatch(/failed 3 times/);
    const attempts = (await rig.server()).deployments.filter((d) => d.revision === bad).length;
    expect(attempts).toBe(3);
    await new Promise((r) => setTimeout(r, 600));
    expect((await rig.server()).deployments.filter((d) => d.revision === bad)).toHaveLength(attempts);
    expect(rig.routes.get('flaky')?.instanceId).toBe(serving);
    expect((await rig.server()).observedRevision).toBe(rig.good);

    rig.reconciler.retry('flaky');
    await rig.until(
      'one more attempt',
      async () => (await rig.server()).deployments.filter((d) => d.revision === bad).length > attempts,
    );
    expect(rig.runtime.list().filter((i) => i.serverName === 'flaky')).toHaveLength(1);
  });
});

describe('Reconciler on a revision that crash-loops after it started', () => {
  let rig: Rig;
  beforeAll(async () => {
    rig = await startRig('loopy', { crashLoopThreshold: 3 });
  });
  afterAll(async () => {
    await rig?.stop();
  });

  it('restarts with a growing delay, then rolls back to the last healthy revision without touching git', async () => {
    await rig.until('the good revision serves', async () => rig.routes.get('loopy')?.revision === rig.good);
    const source = renderTemplate('echo', 'loopy')['src/server.ts'];
    const bad = (
      await rig.git.commitFiles('loopy', {
        branch: 'main',
        parent: rig.good,
        // Starts, passes its probe, then dies a moment later: what a check cannot see.
        files: { 'src/server.ts': `${source}\nsetTimeout(() => { throw new Error('boom later'); }, 1200);\n` },
        message: 'crashes after start',
        author,
      })
    ).sha;
    rig.reconciler.wake('loopy');
    await rig.until('serving the bad revision once', async () => rig.routes.get('loopy')?.revision === bad);
    await rig.until('rolled back to the good revision', async () => {
      const s = await rig.server();
      return rig.routes.get('loopy')?.revision === rig.good && s.observedRevision === rig.good;
    });
    const s = await rig.server();
    const conditions = s.conditions as { type: string; status: string; reason: string; message: string }[];
    expect(conditions.find((c) => c.type === 'Degraded')).toMatchObject({
      status: 'True',
      reason: 'CrashLoopRollback',
    });
    expect(conditions.find((c) => c.type === 'Ready')).toMatchObject({ status: 'True', reason: 'RolledBack' });
    expect(s.desiredRevision).toBe(bad);
    expect(await rig.git.resolveRef('loopy', 'main')).toBe(bad);
    const crashes = s.deployments.filter((d) => d.reason === 'InstanceCrashed');
    expect(crashes.length).toBe(2);
    expect(crashes.some((d) => /in 1 s/.test(d.message))).toBe(true);
    expect(s.deployments.find((d) => d.reason === 'CrashLoopRollback')?.message).toMatch(
      /exited 3 times[\s\S]*main is unchanged/,
    );

    // A fix on main clears the pin.
    const fixed = (
      await rig.git.commitFiles('loopy', {
        branch: 'main',
        parent: bad,
        files: renderTemplate('echo', 'loopy'),
        message: 'fix',
        author,
      })
    ).sha;
    rig.reconciler.wake('loopy');
    await rig.until('the fix serves', async () => rig.routes.get('loopy')?.revision === fixed);
  });
});

describe('Reconciler restarted during a crash loop', () => {
  let rig: Rig;
  beforeAll(async () => {
    rig = await startRig('phoenix', { crashLoopThreshold: 4 });
  });
  afterAll(async () => {
    await rig?.stop();
  });

  it('keeps the remaining restart backoff, the crash count and then the rollback pin across restarts', async () => {
    await rig.until('the good revision serves', async () => rig.routes.get('phoenix')?.revision === rig.good);
    const source = renderTemplate('echo', 'phoenix')['src/server.ts'];
    const bad = (
      await rig.git.commitFiles('phoenix', {
        branch: 'main',
        parent: rig.good,
        files: { 'src/server.ts': `${source}\nsetTimeout(() => { throw new Error('boom later'); }, 1200);\n` },
        message: 'crashes after start',
        author,
      })
    ).sha;
    rig.reconciler.wake('phoenix');
    // The third exit in a row waits 2 s before the next start: the platform dies in that wait.
    await rig.until('the third exit, restarting in 2 s', async () =>
      (await rig.server()).deployments.some((d) => d.reason === 'InstanceCrashed' && /in 2 s/.test(d.message)),
    );
    const crashed = (await rig.server()).deployments.find((d) => /in 2 s/.test(d.message));
    await rig.restart();

    await rig.until('the bad revision starts again', async () =>
      (await rig.server()).deployments.some(
        (d) => d.revision === bad && d.reason === 'Deploying' && d.startedAt > (crashed?.startedAt ?? new Date()),
      ),
    );
    const again = (await rig.server()).deployments.find((d) => d.revision === bad && d.reason === 'Deploying');
    // Not at once: the backoff the old process started was waited out by the new one.
    expect((again?.startedAt.getTime() ?? 0) - (crashed?.startedAt.getTime() ?? 0)).toBeGreaterThanOrEqual(1900);

    // Its fourth exit makes it a crash loop only because the first three were remembered.
    await rig.until('rolled back to the good revision', async () => {
      const s = await rig.server();
      return rig.routes.get('phoenix')?.revision === rig.good && s.observedRevision === rig.good;
    });
    expect((await rig.server()).deployments.find((d) => d.reason === 'CrashLoopRollback')?.message).toMatch(
      /exited 4 times/,
    );

    // A new leader keeps the pin: it starts the good revision, not main's crashing head.
    await rig.restart();
    // Routed first, then the status written: wait for both (under load the second comes a moment later).
    await rig.until(
      'the good revision serves again',
      async () => rig.routes.get('phoenix')?.revision === rig.good && (await rig.condition('Ready'))?.status === 'True',
    );
    expect(await rig.condition('Ready')).toMatchObject({ status: 'True', reason: 'RolledBack' });
    expect(await rig.condition('Degraded')).toMatchObject({ status: 'True', reason: 'CrashLoopRollback' });
    const s = await rig.server();
    expect(s.observedRevision).toBe(rig.good);
    expect(s.desiredRevision).toBe(bad);
    const rollback = s.deployments.find((d) => d.reason === 'CrashLoopRollback');
    expect(
      s.deployments.filter((d) => d.revision === bad && d.startedAt > (rollback?.startedAt ?? new Date())),
    ).toEqual([]);
  });
});

describe('Reconciler with a preview target', () => {
  let rig: Rig;
  beforeAll(async () => {
    rig = await startRig('prev', {});
  });
  afterAll(async () => {
    await rig?.stop();
  });

  it('deploys the change head it is asked for beside production, brings it back after a restart, and removes it when the change closes', async () => {
    await rig.until('the good revision serves', async () => rig.routes.get('prev')?.revision === rig.good);
    const production = rig.routes.get('prev')?.instanceId;
    const head = await rig.openChange();
    const server = await rig.server();

    const target = await rig.reconciler.requestPreview(server, 1, head);
    expect(target).toBe('prev--pr-1');
    let outcome: Awaited<ReturnType<typeof rig.reconciler.previewOutcome>>;
    await rig.until('the preview settles', async () => {
      outcome = await rig.reconciler.previewOutcome(target, head);
      return outcome !== undefined;
    });
    expect(outcome).toMatchObject({ conclusion: 'success', detail: expect.stringMatching(/tools\/list = mcp.json/) });
    const preview = rig.routes.get(target);
    expect(preview?.revision).toBe(head);
    expect(preview?.instanceId).not.toBe(production);
    expect(rig.reconciler.isPreviewInstance(preview?.instanceId ?? '')).toBe(true);
    expect(rig.reconciler.isPreviewInstance(production ?? '')).toBe(false);
    expect(rig.routes.get('prev')?.instanceId).toBe(production);
    expect((await rig.server()).observedRevision).toBe(rig.good);

    // A new process: the preview is desired state in the database, so it serves again.
    await rig.restart();
    await rig.until('the preview serves again', async () => rig.routes.get(target)?.revision === head);
    await rig.until('production serves again', async () => rig.routes.get('prev')?.revision === rig.good);

    // Closed: the route goes with the answer, the instance right after.
    await rig.db.changeRequest.updateMany({ where: { serverId: server.id, number: 1 }, data: { state: 'closed' } });
    await rig.reconciler.previewsChanged('prev');
    expect(rig.routes.get(target)).toBeUndefined();
    expect(await rig.reconciler.previewOutcome(target, head)).toMatchObject({ conclusion: 'failure' });
    await rig.until(
      'only production runs',
      async () => rig.runtime.list().filter((i) => i.serverName === 'prev').length === 1,
    );
    expect(rig.routes.get('prev')?.revision).toBe(rig.good);
  });
});

describe('Reconciler merging a change that has a preview', () => {
  let rig: Rig;
  /** Called when production's route switches (the `routed` step of a deploy of the server, not of a preview). */
  let onProductionRouted: (() => void) | undefined;
  beforeAll(async () => {
    rig = await startRig('merging', {
      onStep: (step, target) => {
        if (step === 'routed' && target === 'merging') onProductionRouted?.();
      },
    });
  });
  afterAll(async () => {
    await rig?.stop();
  });

  it('stops the merged change’s preview once production serves its head, not while that instance starts', async () => {
    await rig.until('the good revision serves', async () => rig.routes.get('merging')?.revision === rig.good);
    const head = await rig.openChange();
    const server = await rig.server();
    const target = await rig.reconciler.requestPreview(server, 1, head);
    await rig.until('the preview serves', async () => rig.routes.get(target)?.revision === head);
    const preview = rig.routes.get(target)?.instanceId ?? '';
    let previewRanAtSwitch: boolean | undefined;
    onProductionRouted = () => {
      previewRanAtSwitch = rig.runtime.list().some((i) => i.id === preview);
    };

    // The merge as the platform does it: main moves to the head, the change is merged, its preview retired.
    await rig.git.merge('merging', { into: 'main', from: head, message: 'merge change #1', author });
    await rig.db.changeRequest.updateMany({ where: { serverId: server.id, number: 1 }, data: { state: 'merged' } });
    await rig.reconciler.mainMoved(server, head);
    await rig.reconciler.previewsChanged('merging');

    expect(rig.routes.get(target)).toBeUndefined();
    expect(rig.reconciler.isPreviewInstance(preview)).toBe(true);
    await rig.until('production serves the head', async () => rig.routes.get('merging')?.revision === head);
    await rig.until('the preview stopped', async () => !rig.runtime.list().some((i) => i.id === preview));
    expect(previewRanAtSwitch).toBe(true);
    expect(rig.runtime.list().filter((i) => i.serverName === 'merging')).toHaveLength(1);
  });
});
