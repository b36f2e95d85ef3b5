// Any replica serves any server: two platform processes share one Postgres. The first leads the reconciler and
// starts every instance; the second mirrors its routes from the database (instance_routes, announced with
// LISTEN/NOTIFY), reports which servers it called and passes wake-ups on to it. Each process has a data directory of
// its own, so the repositories (internal Git) are the first one's: changes go through it.
import { randomBytes } from 'node:crypto';
import { appendFile, mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createTestDatabase, type TestDatabase, testServerUrl } from '@bmms/prisma/testing';
import { Octokit } from '@octokit/rest';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GitHubStandIn } from './github/standin.ts';
import { GitWorkdir, HAS_BWRAP, poll } from './harness.ts';
import { PlatformProcess, removeScratch, type ServerBody } from './platform-process.ts';

const readyReason = (s: ServerBody) => s.conditions.find((c) => c.type === 'Ready')?.reason;

describe.runIf(testServerUrl())('two platform processes on one Postgres: any replica serves any server', () => {
  let db: TestDatabase;
  let sql: pg.Client;
  let tmp: string;
  let first: PlatformProcess;
  let second: PlatformProcess;

  beforeAll(async () => {
    db = await createTestDatabase({ kind: 'postgres' });
    sql = new pg.Client({ connectionString: db.url as string });
    await sql.connect();
    tmp = await mkdtemp(path.join(os.tmpdir(), 'bmms-replicas-'));
    const env = {
      DATABASE_URL: db.url as string,
      BMMS_MASTER_KEY: randomBytes(32).toString('base64'),
      BMMS_CALL_OBSERVERS: 'off',
      BMMS_RESYNC_SECONDS: '600',
      BMMS_IDLE_MINUTES: '0.25',
      ...(HAS_BWRAP ? {} : { BMMS_INSECURE_NO_SANDBOX: '1' }),
    };
    [first, second] = await PlatformProcess.pair(tmp, env);
  }, 300_000);
  afterAll(async () => {
    await second?.stop();
    await first?.stop();
    await sql?.end();
    await db?.drop();
    await removeScratch(tmp);
  });

  it('serves a server the leader deployed through the follower too', async () => {
    expect((await first.api('POST', '/api/v1/servers', { name: 'shared', template: 'echo' })).status).toBe(201);
    await first.checksCompleted('shared', 1, 180_000);
    expect((await first.api('POST', '/api/v1/servers/shared/changes/1/merge')).status).toBe(200);
    const serving = await first.servingHead('shared');
    expect(await second.add('shared', 41)).toEqual({ status: 200, sum: '42' });
    expect(await first.add('shared', 1)).toEqual({ status: 200, sum: '2' });
    const rows = await sql.query('SELECT target, instance_id FROM instance_routes');
    expect(rows.rows).toEqual([{ target: 'shared', instance_id: serving.history[0]?.instance }]);
  }, 300_000);

  it('rolls a new revision out under calls through both processes without dropping one', async () => {
    const before = await first.server('shared');
    let stop = false;
    const statuses = new Map<string, number>();
    let throughSecond = 0;
    const client = async (c: number) => {
      for (let i = c; !stop; i += 4) {
        const p = i % 2 === 0 ? first : second;
        const { status, sum } = await p.add('shared', i);
        const key = status === 200 && sum === String(i + 1) ? 'ok' : `${status}:${sum}`;
        statuses.set(key, (statuses.get(key) ?? 0) + 1);
        if (p === second) throughSecond++;
      }
    };
    const clients = [0, 1, 2, 3].map(client);
    const wd = new GitWorkdir(await mkdtemp(path.join(tmp, 'wd-')), tmp);
    const url = new URL(`${first.url}/git/shared.git`);
    url.username = 'e2e';
    url.password = first.key;
    await wd.git('clone', '-q', url.toString(), '.');
    await wd.git('config', 'user.email', 'e2e@example.com');
    await wd.git('config', 'user.name', 'e2e');
    await appendFile(path.join(wd.dir, 'README.md'), '\nA second revision.\n');
    const head = await wd.commitAndPush('A second revision', 'main');
    const after = await poll(
      async () => {
        const s = await second.server('shared');
        return s.observedRevision === head ? s : undefined;
      },
      180_000,
      'the second revision to serve',
    );
    // Calls go on a little past the switch, on both processes.
    await new Promise((resolve) => setTimeout(resolve, 2000));
    stop = true;
    await Promise.all(clients);
    expect(after.history[0]?.instance).not.toBe(before.history[0]?.instance);
    expect(Object.fromEntries(statuses)).toEqual({ ok: expect.any(Number) });
    expect(throughSecond).toBeGreaterThan(20);
    const rows = await sql.query('SELECT instance_id FROM instance_routes WHERE target = $1', ['shared']);
    expect(rows.rows[0]?.instance_id).toBe(after.history[0]?.instance);
  }, 300_000);

  it('keeps a server called only through the follower awake, then wakes it from there once it slept', async () => {
    const instance = (await first.server('shared')).history[0]?.instance;
    // Idle after 15 s: 25 s of calls through the follower alone, reported to the leader every few seconds.
    for (let i = 0; i < 25; i++) {
      expect((await second.add('shared', i)).status).toBe(200);
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    const awake = await first.server('shared');
    expect(readyReason(awake)).not.toBe('ScaledToZero');
    expect(awake.history[0]?.instance).toBe(instance);
    await poll(
      async () =>
        (await first.server('shared')).conditions.find((c) => c.reason === 'ScaledToZero') ? true : undefined,
      90_000,
      'the server to be scaled to zero once nobody calls it',
    );
    expect((await sql.query('SELECT 1 FROM instance_routes WHERE target = $1', ['shared'])).rowCount).toBe(0);
    expect(await second.add('shared', 9)).toEqual({ status: 200, sum: '10' });
  }, 300_000);

  it('deletes a server through the follower: its route goes from both', async () => {
    expect((await second.api('DELETE', '/api/v1/servers/shared')).status).toBe(204);
    await poll(
      async () => ((await first.add('shared', 3)).status === 404 ? true : undefined),
      10_000,
      'the deleted server to be gone through the leader',
    );
    expect((await second.add('shared', 3)).status).toBe(404);
    expect((await sql.query('SELECT 1 FROM instance_routes')).rowCount).toBe(0);
  }, 300_000);
});

// Failover: the leader dies and the follower takes the reconciler over. It can deploy what it can read, which is
// everything of a server on GitHub (a server's internal repository lives in one process's data directory).
describe.runIf(testServerUrl())('two platform processes on one Postgres: failover with a server on GitHub', () => {
  const TOKEN = 'github_pat_replicas_0123456789ab';
  let github: GitHubStandIn;
  let person: Octokit;
  let db: TestDatabase;
  let tmp: string;
  let first: PlatformProcess;
  let second: PlatformProcess;

  beforeAll(async () => {
    github = await new GitHubStandIn({ tokens: { [TOKEN]: 'acme-dev' } }).start();
    person = new Octokit({ auth: TOKEN, baseUrl: github.url, request: { retries: 0 } });
    db = await createTestDatabase({ kind: 'postgres' });
    tmp = await mkdtemp(path.join(os.tmpdir(), 'bmms-failover-'));
    const env = {
      DATABASE_URL: db.url as string,
      BMMS_MASTER_KEY: randomBytes(32).toString('base64'),
      BMMS_CALL_OBSERVERS: 'off',
      GITHUB_API_URL: github.url,
      // No webhooks here: whichever process leads notices pushes to main by polling.
      BMMS_GITHUB_POLL_SECONDS: '2',
      ...(HAS_BWRAP ? {} : { BMMS_INSECURE_NO_SANDBOX: '1' }),
    };
    [first, second] = await PlatformProcess.pair(tmp, env);
    expect((await first.api('PUT', '/api/v1/github/connection', { token: TOKEN })).status).toBe(200);
  }, 300_000);
  afterAll(async () => {
    await second?.stop();
    await first?.stop();
    await db?.drop();
    await github?.stop();
    await removeScratch(tmp);
  });

  it('hands the reconciler to the follower when the leader dies: it serves again within seconds and deploys the next push', async () => {
    const created = await first.api('POST', '/api/v1/servers', {
      name: 'on-github',
      template: 'echo',
      github: { owner: 'acme' },
    });
    expect(created.status).toBe(201);
    await first.checksCompleted('on-github', 1, 240_000);
    expect((await first.api('POST', '/api/v1/servers/on-github/changes/1/merge')).status).toBe(200);
    const before = await first.servingHead('on-github');
    expect(await second.add('on-github', 1)).toEqual({ status: 200, sum: '2' });

    first.child?.kill('SIGKILL');
    await first.exited;
    const t0 = Date.now();
    await poll(
      async () => ((await second.add('on-github', 2).catch(() => undefined))?.sum === '3' ? true : undefined),
      60_000,
      'the surviving process to lead and serve',
    );
    const tookMs = Date.now() - t0;
    expect(tookMs).toBeLessThan(30_000);
    const after = await second.servingHead('on-github');
    expect(after.observedRevision).toBe(before.observedRevision);
    expect(after.history[0]?.instance).not.toBe(before.history[0]?.instance);

    // A person pushes to main on GitHub: the new leader checks and deploys it.
    const at = { owner: 'acme', repo: 'on-github' };
    const main = (await person.git.getRef({ ...at, ref: 'heads/main' })).data.object.sha;
    const parent = await person.git.getCommit({ ...at, commit_sha: main });
    const blob = await person.git.createBlob({
      ...at,
      content: '# on-github\n\nAfter the failover.\n',
      encoding: 'utf-8',
    });
    const tree = await person.git.createTree({
      ...at,
      base_tree: parent.data.tree.sha,
      tree: [{ path: 'README.md', mode: '100644', type: 'blob', sha: blob.data.sha }],
    });
    const commit = await person.git.createCommit({ ...at, message: 'A note', tree: tree.data.sha, parents: [main] });
    await person.git.updateRef({ ...at, ref: 'heads/main', sha: commit.data.sha });
    await poll(
      async () => ((await second.server('on-github')).observedRevision === commit.data.sha ? true : undefined),
      180_000,
      'the push to be deployed by the new leader',
    );
    expect(await second.add('on-github', 4)).toEqual({ status: 200, sum: '5' });
    expect(github.violations).toEqual([]);
  }, 600_000);
});
