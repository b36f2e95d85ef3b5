import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { InternalGitProvider } from '@bmms/gitserver';
import { type Database, openDatabase, type PrismaClient } from '@bmms/prisma';
import { createTestDatabase, type TestDatabase } from '@bmms/prisma/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Principal } from '../src/accounts/principal.ts';
import type { CheckService } from '../src/checks/suites.ts';
import { ApiError } from '../src/errors.ts';
import type { InvalidationBus } from '../src/invalidation.ts';
import { silentLogger } from '../src/logger.ts';
import type { PreviewManager } from '../src/previews.ts';
import { type ChangeDeps, closeChange, mergeChange } from '../src/services/changes.ts';
import type { RemovalDeps } from '../src/services/server-removal.ts';
import { deleteServer } from '../src/services/servers.ts';

// Two platform processes on one database: each has a database client of its own (on Postgres, its own sessions) and a
// Git provider of its own on the shared repositories, and nothing in memory is shared. What holds here holds because of
// the database and main's compare-and-swap, not because of one process's event loop.

const author = { name: 't', email: 't@example.com' };

/** What one process's merge, close and delete need: the real database and Git, stand-ins for the rest. */
function processOn(db: PrismaClient, reposRoot: string): ChangeDeps & RemovalDeps {
  const green = { status: 'completed', conclusion: 'success', runs: [] };
  return {
    db,
    git: new InternalGitProvider({ root: reposRoot }),
    checks: { ensureSuite: async () => green, cancelServer: async () => {} } as unknown as CheckService,
    reconciler: { mainMoved: async () => {}, removed: async () => {} } as unknown as ChangeDeps['reconciler'],
    previews: { sync: async () => {} } as unknown as PreviewManager,
    github: { opened: async () => null },
    invalidations: { publish: async () => {} } as unknown as InvalidationBus,
    log: silentLogger,
  };
}

/** The code of a rejected call, or `ok`. */
const outcome = (r: PromiseSettledResult<unknown>) =>
  r.status === 'fulfilled' ? 'ok' : r.reason instanceof ApiError ? r.reason.code : String(r.reason);

describe('merging, closing and deleting from two platform processes at once', () => {
  let tdb: TestDatabase;
  const databases: Database[] = [];
  let scratch: string;
  let a: ChangeDeps & RemovalDeps;
  let b: ChangeDeps & RemovalDeps;
  let owner: Principal;

  beforeAll(async () => {
    tdb = await createTestDatabase();
    scratch = await mkdtemp(path.join(os.tmpdir(), 'bmms-two-processes-'));
    const open = () => openDatabase({ dataDir: tdb.dataDir, databaseUrl: tdb.url });
    databases.push(await open());
    // The embedded database has one session for one process; Postgres gives the second process its own.
    if (tdb.url) databases.push(await open());
    const [first, second = first] = databases as [Database, Database?];
    a = processOn(first.db, path.join(scratch, 'repos'));
    b = processOn(second.db, path.join(scratch, 'repos'));
    const org = await first.db.org.create({ data: { slug: 'two', name: 'Two' } });
    const user = await first.db.user.create({ data: { email: 'two@example.com', name: 'Two' } });
    owner = { userId: user.id, orgId: org.id, apiKeyId: null, role: 'owner', scopes: ['*'] };
  });
  afterAll(async () => {
    for (const d of databases) await d.close();
    await tdb?.drop();
    await rm(scratch, { recursive: true, force: true });
  });

  /** A server whose main has a first commit, with its row. */
  async function makeServer(name: string) {
    const server = await a.db.server.create({ data: { name, orgId: owner.orgId } });
    await a.git.createRepo(name);
    const root = await a.git.commitFiles(name, { branch: 'main', parent: null, files: {}, message: 'root', author });
    return { server, root: root.sha };
  }

  /** An open change of `branch`, one commit on top of `parent` adding `file`. */
  async function makeChange(serverId: string, name: string, number: number, parent: string, file: string) {
    const branch = `change-${number}`;
    const head = await a.git.commitFiles(name, { branch, parent, files: { [file]: file }, message: file, author });
    return a.db.changeRequest.create({
      data: { serverId, number, title: file, branch, headSha: head.sha, baseSha: parent },
    });
  }

  const eventsOf = (action: string, targetId: string) => a.db.auditEvent.count({ where: { action, targetId } });

  it('a merge and a close of one change: exactly one acts, and the change, main and the audit trail agree', async () => {
    const { server, root } = await makeServer('contested');
    for (let n = 1; n <= 8; n++) {
      const change = await makeChange(server.id, 'contested', n, root, `file-${n}.txt`);
      const before = await a.git.resolveRef('contested', 'refs/heads/main');
      // Either process may take either side.
      const [merger, closer] = n % 2 === 0 ? [a, b] : [b, a];
      const results = await Promise.allSettled([
        mergeChange(merger, owner, server, n),
        closeChange(closer, owner, server, n),
      ]);
      expect(results.map(outcome).sort(), `change #${n}`).toEqual(['change_not_open', 'ok']);
      const after = await a.db.changeRequest.findUniqueOrThrow({ where: { id: change.id } });
      const main = await a.git.resolveRef('contested', 'refs/heads/main');
      const events = [await eventsOf('change.merge', change.id), await eventsOf('change.close', change.id)];
      if (results[0].status === 'fulfilled') {
        expect(after).toMatchObject({ state: 'merged', mergeSha: main, closedAt: null, mergingAt: null });
        expect(await a.git.isAncestor('contested', change.headSha, main as string)).toBe(true);
        expect(events).toEqual([1, 0]);
      } else {
        // The close won: main did not move, and nothing says the change was merged.
        expect(after).toMatchObject({ state: 'closed', mergeSha: null, mergedAt: null, mergingAt: null });
        expect(main).toBe(before);
        expect(events).toEqual([0, 1]);
      }
    }
  });

  it('four merges of one change: one merges it with one merge commit and one audit event', async () => {
    const { server, root } = await makeServer('merged-once');
    const change = await makeChange(server.id, 'merged-once', 1, root, 'feature.txt');
    // main moved on since the change left it: its merge writes a merge commit.
    const moved = await a.git.commitFiles('merged-once', {
      branch: 'main',
      parent: root,
      files: { 'other.txt': 'x' },
      message: 'other',
      author,
    });
    const results = await Promise.allSettled([a, b, a, b].map((p) => mergeChange(p, owner, server, 1)));
    expect(results.map(outcome).sort()).toEqual(['change_not_open', 'change_not_open', 'change_not_open', 'ok']);
    const main = (await a.git.resolveRef('merged-once', 'refs/heads/main')) as string;
    expect(await a.git.commitsBetween('merged-once', moved.sha, main)).toHaveLength(2); // the change's and one merge
    expect(await a.db.changeRequest.findUniqueOrThrow({ where: { id: change.id } })).toMatchObject({
      state: 'merged',
      mergeSha: main,
    });
    expect(await eventsOf('change.merge', change.id)).toBe(1);
  });

  it('three deletions of one server: one deletes it, the others find no such server; one audit event', async () => {
    const { server } = await makeServer('deleted-once');
    const results = await Promise.allSettled([a, b, a].map((p) => deleteServer(p, owner, 'deleted-once')));
    expect(results.map(outcome).sort()).toEqual(['not_found', 'not_found', 'ok']);
    expect(await eventsOf('server.delete', server.id)).toBe(1);
    expect(await a.git.repoExists('deleted-once')).toBe(false);
  });
});
