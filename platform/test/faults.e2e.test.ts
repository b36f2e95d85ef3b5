// Crash safety: the platform (and its reconciler) is SIGKILLed at each step of a deploy, then started again on
// the same data dir and database; it must converge with exactly one instance, no orphan process or container,
// no half-written history, and the server answering.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { appendFile, mkdtemp } from 'node:fs/promises';
import path from 'node:path';
import { createTestDatabase, type TestDatabase } from '@bmms/prisma/testing';
import { DEPLOY_STEPS, type DeployStep, LABELS, ownerOf } from '@bmms/reconciler';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dockerForTests } from './docker.ts';
import { GitWorkdir, HAS_BWRAP, poll } from './harness.ts';
import { PlatformProcess, type ServerBody, unmountUnder } from './platform-process.ts';

type ChangeBody = {
  number: number;
  checks: { name: string; status: string; conclusion: string | null }[];
  preview: { status: string } | null;
};

/** Live instances of one data dir, as the host sees them: bwrap processes or labelled containers. */
async function liveInstances(runtime: string, dataDir: string): Promise<number> {
  if (runtime === 'process') {
    // bwrap and its init inside the pid namespace both show bwrap's arguments: count instance folders bound.
    const ids = new Set<string>();
    for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
      try {
        const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        if (/^[ZX]/.test(stat.slice(stat.lastIndexOf(')') + 2))) continue;
        if (path.basename(cmd[0] ?? '') !== 'bwrap') continue;
        for (const a of cmd)
          if (a.startsWith(`${dataDir}/instances/`)) ids.add(a.split('/instances/')[1]?.split('/')[0] ?? '');
      } catch {
        // gone
      }
    }
    return ids.size;
  }
  const docker = await dockerForTests({ swarm: runtime === 'swarm' });
  const containers = await docker?.listContainers({ filters: { label: [`${LABELS.owner}=${ownerOf(dataDir)}`] } });
  return containers?.length ?? 0;
}

const runtimes = [{ runtime: 'process' }, { runtime: 'docker' }] as const;

describe.each(runtimes)('killed at each step of a deploy on the $runtime runtime', ({ runtime }) => {
  let db: TestDatabase;
  let platform: PlatformProcess | undefined;

  beforeAll(async () => {
    if (runtime === 'docker' && !(await dockerForTests())) return;
    db = await createTestDatabase();
    platform = new PlatformProcess(path.join(db.dataDir, 'platform'), {
      BMMS_RUNTIME: runtime,
      BMMS_RESYNC_SECONDS: '1',
      BMMS_ROLLBACK_WINDOW_SECONDS: '0',
      ...(db.url ? { DATABASE_URL: db.url } : {}),
      ...(HAS_BWRAP ? {} : { BMMS_INSECURE_NO_SANDBOX: '1' }),
    });
    await platform.start();
    const p = platform;
    await p.deployTwoRevisions('demo', db.dataDir, { onServing: () => converged(p) });
    await platform.stop();
  }, 240_000);
  afterAll(async () => {
    await platform?.stop();
    // A platform killed while it mounted an instance's folders can leave a mount its next start did not see.
    if (db) await unmountUnder(db.dataDir);
    await db?.drop();
  });

  /** Waits until main's HEAD serves, then checks nothing is left over. */
  async function converged(p: PlatformProcess): Promise<void> {
    const server = await p.servingHead('demo');
    // Nothing half-written: the killed deploy is closed as Interrupted, not left progressing.
    expect(server.history.filter((d) => d.state === 'progressing')).toEqual([]);
    // Exactly one instance runs: whatever the killed process started is gone.
    await poll(
      async () => ((await liveInstances(runtime, p.dataDir)) === 1 ? true : undefined),
      15_000,
      'one instance',
    );
    // The replaced instance's socket goes with its cleanup, which follows its exit (a container's a moment later).
    const sockets = () =>
      readdirSync(path.join(p.dataDir, 'instances')).filter((id) =>
        existsSync(path.join(p.dataDir, 'instances', id, 'sock', 'mcp.sock')),
      );
    await poll(async () => (sockets().length === 1 ? true : undefined), 15_000, 'one instance socket');
    expect(sockets()).toHaveLength(1);
    const mcp = await p.mcp('demo', 'tools/list');
    expect(mcp.status).toBe(200);
    expect(mcp.text).toContain('"echo"');
  }

  it.each(DEPLOY_STEPS.map((step) => ({ step })))(
    'converges after a kill at "$step"',
    async ({ step }: { step: DeployStep }) => {
      if (!platform) return;
      const p = platform;
      try {
        await killedAt(p, step);
      } finally {
        await p.stop();
      }
      expect(await liveInstances(runtime, p.dataDir)).toBe(0);
    },
    180_000,
  );

  it('converges after a kill while a preview deploys, like a production deploy', async () => {
    if (!platform) return;
    const p = platform;
    try {
      await p.start({ BMMS_TEST_KILL_AT: 'preview:started' });
      await p.servingHead('demo');
      const wd = new GitWorkdir(await mkdtemp(path.join(db.dataDir, 'wd-')), db.dataDir);
      const url = new URL(`${p.url}/git/demo.git`);
      url.username = 'e2e';
      url.password = p.key;
      await wd.git('clone', '-q', url.toString(), '.');
      await wd.git('config', 'user.email', 'e2e@example.com');
      await wd.git('config', 'user.name', 'e2e');
      await appendFile(path.join(wd.dir, 'README.md'), '\nA change with a preview.\n');
      await wd.commitAndPush('A change with a preview', 'feature');
      const opened = await p.api<ChangeBody>('POST', '/api/v1/servers/demo/changes', {
        title: 'A change with a preview',
        branch: 'feature',
      });
      expect(opened.status).toBe(201);
      const n = opened.body.number;
      // The preview's instance started: the platform dies there.
      const exit = await Promise.race([p.exited, new Promise((r) => setTimeout(() => r('alive'), 120_000))]);
      expect(exit, p.output.slice(-2000)).toEqual({ code: null, signal: 'SIGKILL' });
      expect(p.output).toContain('BMMS_TEST_KILL_AT');

      await p.start();
      const change = await poll(
        async () => {
          const c = await p.api<ChangeBody>('GET', `/api/v1/servers/demo/changes/${n}`).catch(() => undefined);
          const done = c?.body.checks.length && c.body.checks.every((k) => k.status === 'completed');
          return done && c.body.preview?.status === 'ready' ? c.body : undefined;
        },
        120_000,
        'the preview to serve after the restart',
      );
      expect(change.checks.find((k) => k.name === 'preview')).toMatchObject({ conclusion: 'success' });
      const preview = await p.mcp(`demo--pr-${n}`, 'tools/list');
      expect(preview.status).toBe(200);
      expect(preview.text).toContain('"echo"');
      // Production and the preview, nothing the killed process left.
      await poll(
        async () => ((await liveInstances(runtime, p.dataDir)) === 2 ? true : undefined),
        30_000,
        'two instances',
      );
      // Closing the change removes the preview target: production alone runs.
      expect((await p.api('POST', `/api/v1/servers/demo/changes/${n}/close`)).status).toBe(200);
      expect((await p.mcp(`demo--pr-${n}`, 'tools/list')).status).toBe(404);
      await poll(
        async () => ((await liveInstances(runtime, p.dataDir)) === 1 ? true : undefined),
        30_000,
        'the preview instance to stop',
      );
    } finally {
      await p.stop();
    }
  }, 300_000);

  async function killedAt(p: PlatformProcess, step: DeployStep): Promise<void> {
    await p.start({ BMMS_TEST_KILL_AT: step });
    if (step === 'draining') {
      // Only a deploy that replaces an instance drains: wait for the one at start, then revert.
      await converged(p);
      await p.api('POST', '/api/v1/servers/demo/revert', {}).catch(() => undefined);
    }
    const exit = await Promise.race([p.exited, new Promise((r) => setTimeout(() => r('alive'), 60_000))]);
    expect(exit, p.output.slice(-2000)).toEqual({ code: null, signal: 'SIGKILL' });
    expect(p.output).toContain('BMMS_TEST_KILL_AT');
    // What the dead process started may still run (containers do): the next start must collect it.
    await p.start();
    await converged(p);
    const history = (await p.api<ServerBody>('GET', '/api/v1/servers/demo')).body.history;
    if (step !== 'status' && step !== 'draining') expect(history.map((d) => d.reason)).toContain('Interrupted');
  }
});
