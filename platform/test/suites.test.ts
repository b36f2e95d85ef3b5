import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { InternalGitProvider } from '@bmms/gitserver';
import { type Database, openDatabase } from '@bmms/prisma';
import { createTestDatabase, type TestDatabase } from '@bmms/prisma/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CheckService, type SuiteWithRuns, suiteVerdict } from '../src/checks/suites.ts';
import type { Check } from '../src/checks/types.ts';
import { createLogger, silentLogger } from '../src/logger.ts';

const author = { name: 't', email: 't@example.com' };

/** Checks with known behaviour: the subject here is the suite runner, not a check. */
let flaky = true;
let hang = true;
const checks: Check[] = [
  { name: 'quick', run: async () => ({ conclusion: 'success', summary: 'fine', log: 'fine\n' }) },
  {
    name: 'crashes',
    run: async () => {
      if (flaky) throw new Error('the scanner fell over');
      return { conclusion: 'success', summary: 'recovered', log: '' };
    },
  },
  {
    name: 'hangs',
    timeoutMs: 300,
    run: ({ signal }) =>
      hang
        ? new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(new Error('aborted'))))
        : Promise.resolve({ conclusion: 'success', summary: 'answered', log: '' }),
  },
  {
    name: 'runs-code',
    after: 'all',
    run: async () => ({ conclusion: 'success', summary: 'ran', log: '' }),
  },
];

describe('the check suite runner', () => {
  let tdb: TestDatabase;
  let database: Database;
  let dir: string;
  let git: InternalGitProvider;
  let service: CheckService;
  let server: { id: string; name: string; orgId: string };
  let sha: string;

  beforeAll(async () => {
    tdb = await createTestDatabase();
    database = await openDatabase({ dataDir: tdb.dataDir, databaseUrl: tdb.url });
    dir = await mkdtemp(path.join(os.tmpdir(), 'bmms-suites-'));
    git = new InternalGitProvider({ root: path.join(dir, 'repos') });
    service = new CheckService({ db: database.db, git, log: silentLogger, checks, workDir: dir });
    const org = await database.db.org.create({ data: { slug: 'o', name: 'O' } });
    server = await database.db.server.create({ data: { name: 'suite', orgId: org.id } });
    await git.createRepo('suite');
    sha = (
      await git.commitFiles('suite', { branch: 'main', parent: null, files: { 'a.txt': 'a' }, message: 'a', author })
    ).sha;
  });
  afterAll(async () => {
    await service?.close();
    await database?.close();
    await tdb?.drop();
    await rm(dir, { recursive: true, force: true });
  });

  const settled = async (): Promise<SuiteWithRuns> => {
    await service.idle();
    const tree = await git.treeOf('suite', sha);
    return (await service.suiteForTree(server.id, tree)) as SuiteWithRuns;
  };
  const run = (suite: SuiteWithRuns, name: string) => suite.runs.find((r) => r.name === name);

  it('reports a crash and a timeout as failures with the reason, never hanging, and skips code-running checks', async () => {
    const started = Date.now();
    await service.ensureSuite(server, sha);
    const suite = await settled();
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(suite.status).toBe('completed');
    expect(run(suite, 'quick')).toMatchObject({ conclusion: 'success', summary: 'fine' });
    expect(run(suite, 'crashes')).toMatchObject({
      conclusion: 'failure',
      summary: 'the crashes check crashed: the scanner fell over',
    });
    expect(run(suite, 'hangs')).toMatchObject({
      conclusion: 'failure',
      summary: 'the hangs check timed out after 0.3 s',
    });
    expect(run(suite, 'runs-code')).toMatchObject({ conclusion: 'skipped' });
    expect(run(suite, 'runs-code')?.summary).toMatch(/crashes, hangs must pass first/);
    expect(run(suite, 'hangs')?.durationMs).toBeGreaterThanOrEqual(250);
    expect(suiteVerdict(suite)).toBe('failure');
  });

  it('never checks the same tree twice', async () => {
    const again = await git.commitFiles('suite', {
      branch: 'copy',
      parent: null,
      files: { 'a.txt': 'a' },
      message: 'same tree',
      author,
    });
    const before = await settled();
    const suite = await service.ensureSuite(server, again.sha);
    expect(suite.id).toBe(before.id);
    expect(await database.db.checkSuite.count()).toBe(1);
  });

  it('re-runs one check and recomputes the suite', async () => {
    flaky = false;
    const before = await settled();
    const queued = await service.rerun(server, before.id, 'crashes');
    expect(run(queued, 'crashes')).toMatchObject({ status: 'queued', conclusion: null });
    let suite = await settled();
    expect(run(suite, 'crashes')).toMatchObject({ status: 'completed', conclusion: 'success', summary: 'recovered' });
    expect(suite.conclusion).toBe('failure'); // `hangs` still fails
    expect(run(suite, 'quick')?.completedAt?.getTime()).toBe(run(before, 'quick')?.completedAt?.getTime());

    // Re-running the last failing check also runs the check that was skipped because of it.
    hang = false;
    await service.rerun(server, before.id, 'hangs');
    suite = await settled();
    expect(run(suite, 'hangs')).toMatchObject({ conclusion: 'success' });
    expect(run(suite, 'runs-code')).toMatchObject({ conclusion: 'success', summary: 'ran' });
    expect(suite.conclusion).toBe('success');
    expect(suiteVerdict(suite)).toBe('success');

    // Between its last run's completion and its own (a few queries later), a suite is decided by its runs.
    const lastRunWritten = { ...suite, status: 'in_progress', conclusion: null };
    expect(suiteVerdict(lastRunWritten)).toBe('success');
    const failedRun = {
      ...lastRunWritten,
      runs: suite.runs.map((r, i) => (i === 0 ? { ...r, conclusion: 'failure' } : r)),
    };
    expect(suiteVerdict(failedRun)).toBe('failure');
    const oneRunning = {
      ...lastRunWritten,
      runs: suite.runs.map((r, i) => (i === 0 ? { ...r, status: 'in_progress' } : r)),
    };
    expect(suiteVerdict(oneRunning)).toBe('pending');
    expect(suiteVerdict({ ...lastRunWritten, runs: [] })).toBe('pending');

    await expect(service.rerun(server, before.id, 'no-such-check')).rejects.toThrow(/unknown check/);
    suite = await settled();
    expect(suite.runs).toHaveLength(checks.length);
  });

  it('runs a check listed before the check it waits for once that one passed, not skipped', async () => {
    const order: string[] = [];
    const service2 = new CheckService({
      db: database.db,
      git,
      log: silentLogger,
      workDir: dir,
      checks: [
        { name: 'gate', run: async () => ({ conclusion: 'success', summary: 'ok', log: '' }) },
        {
          name: 'reads-first',
          after: ['gate', 'serves'],
          run: async () => {
            order.push('reads-first');
            return { conclusion: 'success', summary: 'after serves', log: '' };
          },
        },
        {
          name: 'serves',
          after: ['gate'],
          run: async () => {
            await new Promise((resolve) => setTimeout(resolve, 200));
            order.push('serves');
            return { conclusion: 'success', summary: 'serving', log: '' };
          },
        },
      ],
    });
    const other = await database.db.server.create({ data: { name: 'ordered', orgId: server.orgId } });
    await git.createRepo('ordered');
    const head = (
      await git.commitFiles('ordered', { branch: 'main', parent: null, files: { 'b.txt': 'b' }, message: 'b', author })
    ).sha;
    await service2.ensureSuite(other, head);
    await service2.idle();
    const suite = (await service2.suiteForTree(other.id, await git.treeOf('ordered', head))) as SuiteWithRuns;
    expect(run(suite, 'reads-first')).toMatchObject({ conclusion: 'success', summary: 'after serves' });
    expect(order).toEqual(['serves', 'reads-first']);
    await service2.close();
  });

  it("cancels a deleted server's suites and waits until their checks' own work has stopped; other servers' go on", async () => {
    const events: string[] = [];
    let startedSlow = () => {};
    const slowStarted = new Promise<void>((resolve) => {
      startedSlow = resolve;
    });
    const service3 = new CheckService({
      db: database.db,
      git,
      log: silentLogger,
      workDir: dir,
      checks: [
        {
          name: 'slow-to-stop',
          run: ({ signal, serverName }) =>
            new Promise((resolve) => {
              if (serverName === 'doomed') startedSlow();
              const done = () => resolve({ conclusion: 'success', summary: 'done', log: '' });
              const timer = setTimeout(done, 3000);
              signal.addEventListener('abort', () => {
                clearTimeout(timer);
                // Its own cleanup (a sandbox stopping) takes a while after the abort.
                setTimeout(() => {
                  events.push(`${serverName} stopped`);
                  resolve({ conclusion: 'failure', summary: 'aborted', log: '' });
                }, 300);
              });
            }),
        },
      ],
    });
    const make = async (name: string) => {
      const row = await database.db.server.create({ data: { name, orgId: server.orgId } });
      await git.createRepo(name);
      const head = (
        await git.commitFiles(name, { branch: 'main', parent: null, files: { 'c.txt': name }, message: 'c', author })
      ).sha;
      await service3.ensureSuite(row, head);
      return { row, head };
    };
    const doomed = await make('doomed');
    const kept = await make('kept');
    await slowStarted;
    await service3.cancelServer(doomed.row.id);
    events.push('cancel returned');
    expect(events).toEqual(['doomed stopped', 'cancel returned']);
    await service3.idle();
    const keptSuite = (await service3.suiteForTree(kept.row.id, await git.treeOf('kept', kept.head))) as SuiteWithRuns;
    expect(run(keptSuite, 'slow-to-stop')).toMatchObject({ conclusion: 'success', summary: 'done' });
    const doomedSuite = (await service3.suiteForTree(
      doomed.row.id,
      await git.treeOf('doomed', doomed.head),
    )) as SuiteWithRuns;
    // Nothing recorded of a cancelled run (its rows go with the server).
    expect(run(doomedSuite, 'slow-to-stop')?.status).not.toBe('completed');
    await service3.close();
  });

  it("removes a cancelled suite's folder once its checks stopped writing into it, and logs no crash", async () => {
    const logged: string[] = [];
    let started = () => {};
    const running = new Promise<void>((resolve) => {
      started = resolve;
    });
    const service4 = new CheckService({
      db: database.db,
      git,
      log: createLogger({}, (line) => logged.push(line)),
      workDir: dir,
      checks: [
        {
          name: 'writes-while-stopping',
          // Like a runner process killed by the abort: its last writes land a moment after it was told to stop.
          run: ({ signal, workDir }) =>
            new Promise((resolve) => {
              started();
              signal.addEventListener('abort', () => {
                setTimeout(async () => {
                  await mkdir(path.join(workDir, 'runner', 'scenario'), { recursive: true });
                  await writeFile(path.join(workDir, 'runner', 'scenario', 'checks.json'), '[]');
                  resolve({ conclusion: 'failure', summary: 'stopped', log: '' });
                }, 200);
              });
            }),
        },
      ],
    });
    const row = await database.db.server.create({ data: { name: 'writer', orgId: server.orgId } });
    await git.createRepo('writer');
    const head = (
      await git.commitFiles('writer', { branch: 'main', parent: null, files: { 'w.txt': 'w' }, message: 'w', author })
    ).sha;
    await service4.ensureSuite(row, head);
    await running;
    await service4.cancelServer(row.id);
    expect((await readdir(dir)).filter((f) => f.startsWith('check-'))).toEqual([]);
    expect(logged.filter((l) => l.includes('"level":"error"'))).toEqual([]);
    await service4.close();
  });

  it('fails every check of a tree holding a symlink, naming it, instead of checking the tree without it', async () => {
    // Written with plumbing straight into the bare repo, as a route other than a checked push would.
    const gitdir = git.gitdir('suite');
    const plumb = (args: string[], input?: string) =>
      execFileSync('git', [`--git-dir=${gitdir}`, ...args], { input, encoding: 'utf8' }).trim();
    const file = plumb(['hash-object', '-w', '--stdin'], 'a');
    const link = plumb(['hash-object', '-w', '--stdin'], '/etc/passwd');
    const tree = plumb(['mktree'], `100644 blob ${file}\ta.txt\n120000 blob ${link}\tsecrets.txt\n`);
    const linked = plumb(['commit-tree', tree, '-m', 'a link'], '');
    await service.ensureSuite(server, linked);
    await service.idle();
    const suite = (await service.suiteForTree(server.id, tree)) as SuiteWithRuns;
    for (const name of ['quick', 'crashes', 'hangs', 'runs-code']) {
      expect(run(suite, name)).toMatchObject({
        conclusion: 'failure',
        summary: `could not check out ${linked.slice(0, 7)}: The tree holds entries that are never checked out, built or checked: secrets.txt (symlink). Replace symlinks and submodules with regular files.`,
      });
    }
    expect(suiteVerdict(suite)).toBe('failure');
  });
});

describe('priority checks', () => {
  let tdb: TestDatabase;
  let database: Database;
  let dir: string;
  let git: InternalGitProvider;
  let service: CheckService;

  afterAll(async () => {
    await service?.close();
    await database?.close();
    await tdb?.drop();
    await rm(dir, { recursive: true, force: true });
  });

  it("starts a paid org's waiting suite before a Hobby suite that arrived earlier", async () => {
    tdb = await createTestDatabase();
    database = await openDatabase({ dataDir: tdb.dataDir, databaseUrl: tdb.url });
    dir = await mkdtemp(path.join(os.tmpdir(), 'bmms-priority-'));
    git = new InternalGitProvider({ root: path.join(dir, 'repos') });
    // The one check holds its slot until released; the order in which suites got a slot is recorded.
    const started: string[] = [];
    const releases: Array<() => void> = [];
    const held: Check = {
      name: 'held',
      run: async ({ serverName }) => {
        started.push(serverName);
        await new Promise<void>((r) => releases.push(r));
        return { conclusion: 'success', summary: 'released', log: '' };
      },
    };
    service = new CheckService({
      db: database.db,
      git,
      log: silentLogger,
      checks: [held],
      workDir: dir,
      concurrency: 1,
      priorityOf: async (server) => server.name.startsWith('pro-'),
    });
    const org = await database.db.org.create({ data: { slug: 'p', name: 'P' } });
    const servers: Record<string, { id: string; name: string }> = {};
    const heads: Record<string, string> = {};
    for (const name of ['busy', 'hobby-a', 'pro-b']) {
      servers[name] = await database.db.server.create({ data: { name, orgId: org.id } });
      await git.createRepo(name);
      heads[name] = (
        await git.commitFiles(name, { branch: 'main', parent: null, files: { 'a.txt': name }, message: 'a', author })
      ).sha;
    }
    const suite = (name: string) =>
      service.ensureSuite(servers[name] as { id: string; name: string }, heads[name] as string);
    await suite('busy');
    await poll(() => started.length === 1);
    await suite('hobby-a');
    await suite('pro-b');
    // Both wait behind the busy one; releasing it gives the slot to the paid suite first.
    await new Promise((r) => setTimeout(r, 100));
    releases.shift()?.();
    await poll(() => started.length === 2);
    releases.shift()?.();
    await poll(() => started.length === 3);
    releases.shift()?.();
    await service.idle();
    expect(started).toEqual(['busy', 'pro-b', 'hobby-a']);
  });
});

async function poll(ok: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}
