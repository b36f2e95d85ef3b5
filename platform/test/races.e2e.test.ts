import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../src/logger.ts';
import { addMultiplyTool, type ChangeBody, poll, TestStack } from './harness.ts';

// The same request sent several times at once (a double click, two tabs, a retrying client): exactly one of them acts,
// the others get the answer for what is no longer there to act on, and the audit trail records one action.

type ErrorBody = { error: { code: string } };
type Answer = { status: number; body: unknown };

let stack: TestStack;
const logs: string[] = [];

beforeAll(async () => {
  stack = await TestStack.start(
    {},
    {},
    createLogger({}, (line) => logs.push(line)),
  );
}, 300_000);

afterAll(async () => {
  await stack?.destroy();
});

/** The statuses of `answers`, lowest first, with the error code of each refusal. */
const outcomes = (answers: Answer[]) =>
  answers.map((a) => (a.status < 300 ? `${a.status}` : `${a.status} ${(a.body as ErrorBody).error?.code}`)).sort();

/** How many audit events of `action` name `targetId`. */
const eventsOf = (action: string, targetId: string) =>
  stack.platform.ctx.db.auditEvent.count({ where: { action, targetId } });

/** Log lines at warn or error level that mention `text`. */
const complaints = (text: string) => logs.filter((l) => /"level":"(warn|error)"/.test(l) && l.includes(text));

/** The check folders under the data dir's scratch space. */
const checkFolders = async () =>
  (await readdir(path.join(stack.dataDir, 'tmp')).catch(() => [])).filter((f) => f.startsWith('check-'));

describe('merging and closing one change at once', () => {
  it('five merges of one change: one merges it, the others are told it is no longer open; one audit event', async () => {
    expect((await stack.api('POST', '/api/v1/servers', { name: 'twice', template: 'echo' })).status).toBe(201);
    await stack.waitChecks('twice', 1);
    const { db } = stack.platform.ctx;
    const change = await db.changeRequest.findFirstOrThrow({ where: { server: { name: 'twice' }, number: 1 } });

    const answers = await Promise.all(
      Array.from({ length: 5 }, () => stack.api('POST', '/api/v1/servers/twice/changes/1/merge')),
    );
    expect(outcomes(answers)).toEqual(['200', ...Array(4).fill('409 change_not_open')]);
    const won = answers.find((a) => a.status === 200)?.body as { sha: string };
    expect(await stack.platform.ctx.git.resolveRef('twice', 'refs/heads/main')).toBe(won.sha);
    expect(await eventsOf('change.merge', change.id)).toBe(1);
    const after = await stack.api<ChangeBody & { mergeSha: string; closedAt: string | null }>(
      'GET',
      '/api/v1/servers/twice/changes/1',
    );
    expect(after.body).toMatchObject({ state: 'merged', mergeSha: won.sha, closedAt: null });
  }, 300_000);

  it('a merge and a close of one change: exactly one wins, and the change, main and the audit trail agree', async () => {
    const { db, git } = stack.platform.ctx;
    const wd = await stack.clone('twice');
    await addMultiplyTool(wd);
    // Three changes of one commit: one suite of checks serves them all.
    const branches = ['race-1', 'race-2', 'race-3'];
    await wd.git('add', '-A');
    await wd.git('commit', '-qm', 'Add multiply');
    for (const b of branches) await wd.git('push', '-q', 'origin', `HEAD:${b}`);
    const numbers: number[] = [];
    for (const b of branches) numbers.push(await stack.openChange('twice', b));
    for (const n of numbers) await stack.waitChecks('twice', n);

    for (const n of numbers) {
      const before = await git.resolveRef('twice', 'refs/heads/main');
      const base = `/api/v1/servers/twice/changes/${n}`;
      const [merge, close] = await Promise.all([
        stack.api('POST', `${base}/merge`),
        stack.api('POST', `${base}/close`),
      ]);
      expect(outcomes([merge, close]), `change #${n}`).toEqual(['200', '409 change_not_open']);
      const change = await db.changeRequest.findFirstOrThrow({ where: { server: { name: 'twice' }, number: n } });
      const main = await git.resolveRef('twice', 'refs/heads/main');
      if (merge.status === 200) {
        expect(change).toMatchObject({ state: 'merged', closedAt: null, mergeSha: main });
        expect([await eventsOf('change.merge', change.id), await eventsOf('change.close', change.id)]).toEqual([1, 0]);
      } else {
        // The merge lost: main did not move and nothing says the change was merged.
        expect(change).toMatchObject({ state: 'closed', mergedAt: null, mergeSha: null });
        expect(main).toBe(before);
        expect([await eventsOf('change.merge', change.id), await eventsOf('change.close', change.id)]).toEqual([0, 1]);
      }
    }
  }, 300_000);
});

describe('deleting one server at once', () => {
  it('three deletions: one deletes it, the others find no such server; one audit event, nothing logged', async () => {
    expect((await stack.api('POST', '/api/v1/servers', { name: 'thrice', template: 'echo' })).status).toBe(201);
    await stack.waitChecks('thrice', 1);
    const server = await stack.platform.ctx.db.server.findUniqueOrThrow({ where: { name: 'thrice' } });

    const answers = await Promise.all(Array.from({ length: 3 }, () => stack.api('DELETE', '/api/v1/servers/thrice')));
    expect(outcomes(answers)).toEqual(['204', '404 not_found', '404 not_found']);
    expect(await eventsOf('server.delete', server.id)).toBe(1);
    expect(complaints('thrice')).toEqual([]);
    expect(await stack.platform.ctx.git.repoExists('thrice')).toBe(false);
  }, 300_000);
});

describe('deleting a server while its checks run', () => {
  /** Waits until the server's `check` runs, deletes the server, and returns what is left of its checks. */
  async function deleteDuring(name: string, check: string): Promise<string[]> {
    const { db, checks } = stack.platform.ctx;
    await checks.idle();
    expect(await checkFolders()).toEqual([]);
    expect((await stack.api('POST', '/api/v1/servers', { name, template: 'echo' })).status).toBe(201);
    await poll(
      async () =>
        (await db.checkRun.count({ where: { name: check, status: 'in_progress', suite: { server: { name } } } })) > 0
          ? true
          : undefined,
      180_000,
      `the ${check} check of ${name} to run`,
    );
    expect((await stack.api('DELETE', `/api/v1/servers/${name}`)).status).toBe(204);
    // What a check that was not stopped would still write lands in its folder within moments.
    await checks.idle();
    await new Promise((resolve) => setTimeout(resolve, 3000));
    return checkFolders();
  }

  it('stops the conformance runner before removing its folder: nothing is left, nothing is logged as crashed', async () => {
    expect(await deleteDuring('del-me', 'conformance')).toEqual([]);
    expect(complaints('crashed')).toEqual([]);
  }, 300_000);

  it('stops the checks of a server deleted moments after its creation', async () => {
    expect(await deleteDuring('del-me-too', 'typecheck')).toEqual([]);
    expect(complaints('crashed')).toEqual([]);
  }, 300_000);
});
