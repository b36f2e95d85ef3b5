import {
  type GitProvider,
  InvalidRefError,
  MergeConflictError,
  RefConflictError,
  RevertConflictError,
} from '@bmms/gitserver';
import type { ChangeRequest, Prisma, PrismaClient, Server } from '@bmms/prisma';
import type { Reconciler } from '@bmms/reconciler';
import type { Principal } from '../accounts/principal.ts';
import { requirePermission } from '../accounts/roles.ts';
import { audit } from '../audit.ts';
import { type CheckService, suiteVerdict } from '../checks/suites.ts';
import { PASSING_CONCLUSIONS } from '../checks/types.ts';
import {
  branchNotFound,
  changeExists,
  changeNotOpen,
  checksNotPassed,
  concurrentUpdate,
  invalidRequest,
  mergeConflict,
  notFound,
  nothingToRevert,
  revertConflict,
  unknownRevision,
} from '../errors.ts';
import type { GitHubServers } from '../github/servers.ts';
import type { PreviewManager } from '../previews.ts';
import { isValidBranch } from './names.ts';

/** What changes need: each function takes the part it uses. */
export interface ChangeDeps {
  /** Servers, changes, users and the audit log. */
  db: PrismaClient;
  /** The servers' repositories. */
  git: GitProvider;
  /** Check suites of change heads and of main. */
  checks: CheckService;
  /** Told when main moved, so it checks and deploys the new revision. */
  reconciler: Reconciler;
  /** Re-pointed when a change closes, merges or moves. */
  previews: PreviewManager;
  /** Opens a change's pull request when its server's repository is on GitHub. */
  github: Pick<GitHubServers, 'opened'>;
}

const ZERO_SHA = /^0{40}$/;

/** Runs a compare-and-swap write to main again when a concurrent write won the race (bounded). */
async function writeMain<T>(what: string, write: () => Promise<T>): Promise<T> {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await write();
    } catch (err) {
      if (!(err instanceof RefConflictError)) throw err;
    }
  }
  throw concurrentUpdate(`main kept moving while ${what}; try again`);
}

/**
 * main moved (merge, revert, push): it is the revision to deploy now. The reconciler's gate checks a
 * tree no check has seen (e.g. a merge after main moved on) before deploying it.
 */
async function mainMoved(ctx: Pick<ChangeDeps, 'reconciler'>, server: Server, sha: string): Promise<void> {
  await ctx.reconciler.mainMoved(server, sha);
}

/**
 * How long a merge's claim on its change holds. A merge writes main within seconds; a claim this old is a process's
 * that died between claiming and recording, and the change may be merged or closed again.
 */
const MERGE_CLAIM_MS = 5 * 60_000;

/**
 * The change `id` while it is open and no live merge claims it: the condition of every write that ends an open change
 * (a merge's claim, a close), so that of a merge and a close at once, on any platform process, exactly one acts.
 */
function takeable(id: string, now: Date): Prisma.ChangeRequestWhereInput {
  const stale = new Date(now.getTime() - MERGE_CLAIM_MS);
  return { id, state: 'open', OR: [{ mergingAt: null }, { mergingAt: { lt: stale } }] };
}

/** The refusal for a change another request ended or is merging first: `change_not_open` with its state now. */
async function taken(ctx: Pick<ChangeDeps, 'db'>, change: ChangeRequest) {
  const now = await ctx.db.changeRequest.findUnique({ where: { id: change.id }, select: { state: true } });
  return changeNotOpen(change.number, now?.state === 'open' ? 'being merged' : (now?.state ?? 'deleted'));
}

/** Claims an open change for a merge (one UPDATE … WHERE), or refuses with `change_not_open`; returns the claim. */
async function claimForMerge(ctx: Pick<ChangeDeps, 'db'>, change: ChangeRequest): Promise<Date> {
  const claim = new Date();
  const { count } = await ctx.db.changeRequest.updateMany({
    where: takeable(change.id, claim),
    data: { mergingAt: claim },
  });
  if (count === 0) throw await taken(ctx, change);
  return claim;
}

/** Takes the next change number of a server atomically (one UPDATE … RETURNING). */
export async function allocateChangeNumber(ctx: Pick<ChangeDeps, 'db'>, serverId: string): Promise<number> {
  const row = await ctx.db.server.update({
    where: { id: serverId },
    data: { nextChangeNumber: { increment: 1 } },
    select: { nextChangeNumber: true },
  });
  return row.nextChangeNumber - 1;
}

/** The commit author for platform-made commits on behalf of `principal`. */
export async function authorOf(
  ctx: Pick<ChangeDeps, 'db'>,
  principal: Principal,
): Promise<{ name: string; email: string }> {
  const user = await ctx.db.user.findUnique({ where: { id: principal.userId } });
  return { name: user?.name ?? 'BuildMyMCPServer', email: user?.email ?? 'platform@buildmymcpserver.invalid' };
}

/** The check suite of a change's head tree (started if this tree was never checked). */
export async function suiteOfChange(ctx: Pick<ChangeDeps, 'git' | 'checks'>, server: Server, change: ChangeRequest) {
  if (change.state !== 'open') {
    const tree = await ctx.git.treeOf(server.name, change.headSha).catch(() => null);
    return tree ? ctx.checks.suiteForTree(server.id, tree) : null;
  }
  return ctx.checks.ensureSuite(server, change.headSha);
}

/** Loads change `number` of `server`, or 404. */
export async function findChange(ctx: Pick<ChangeDeps, 'db'>, server: Server, number: number): Promise<ChangeRequest> {
  const change = Number.isInteger(number)
    ? await ctx.db.changeRequest.findUnique({ where: { serverId_number: { serverId: server.id, number } } })
    : null;
  if (!change) throw notFound(`change #${number} of "${server.name}"`);
  return change;
}

/** Opens a change request for a pushed branch. */
export async function openChange(
  ctx: Pick<ChangeDeps, 'db' | 'git' | 'checks' | 'github'>,
  principal: Principal,
  server: Server,
  input: { branch: string; title?: string; body?: string },
  requestId?: string,
) {
  requirePermission(principal, 'write');
  if (!isValidBranch(input.branch)) {
    throw invalidRequest('"branch" must name a pushed branch other than main (e.g. "add-tool")');
  }
  const title = input.title ?? input.branch;
  if (title.trim().length === 0 || title.length > 200) {
    throw invalidRequest('"title" must be a non-empty string of at most 200 characters');
  }
  const head = await ctx.git.resolveRef(server.name, `refs/heads/${input.branch}`);
  if (!head) throw branchNotFound(server.name, input.branch);
  const existing = await ctx.db.changeRequest.findFirst({
    where: { serverId: server.id, branch: input.branch, state: 'open' },
  });
  if (existing) throw changeExists(input.branch, existing.number);
  const base = await ctx.git.resolveRef(server.name, 'refs/heads/main');
  const number = await allocateChangeNumber(ctx, server.id);
  const change = await ctx.db.changeRequest.create({
    data: {
      serverId: server.id,
      number,
      title: title.trim(),
      body: input.body ?? '',
      branch: input.branch,
      headSha: head,
      baseSha: base,
      authorId: principal.userId,
    },
  });
  await audit(
    ctx.db,
    principal,
    'change.open',
    { type: 'change', id: change.id },
    { server: server.name, number },
    requestId,
  );
  await ctx.github.opened(server, change);
  const suite = await ctx.checks.ensureSuite(server, head);
  return { change: await ctx.db.changeRequest.findUniqueOrThrow({ where: { id: change.id } }), suite };
}

/** Refuses (`checks_not_passed`) a head whose checks are still running or did not all pass. */
async function requireGreen(ctx: Pick<ChangeDeps, 'checks'>, server: Server, headSha: string): Promise<void> {
  const suite = await ctx.checks.ensureSuite(server, headSha);
  const verdict = suiteVerdict(suite);
  if (verdict === 'pending') {
    throw checksNotPassed(`checks are still running on ${headSha.slice(0, 7)}; merge when they are green`);
  }
  if (verdict === 'failure') {
    const failed = suite.runs.filter((r) => !PASSING_CONCLUSIONS.has(r.conclusion ?? '')).map((r) => r.name);
    throw checksNotPassed(`checks failed on ${headSha.slice(0, 7)}: ${failed.join(', ')}; fix them and push again`);
  }
}

/** Merges the change's head into main (fast-forward, or a merge commit), again while main moves under it. */
function mergeIntoMain(
  ctx: Pick<ChangeDeps, 'git'>,
  server: Server,
  change: ChangeRequest,
  author: { name: string; email: string },
) {
  return writeMain('merging', async () => {
    try {
      return await ctx.git.merge(server.name, {
        into: 'main',
        from: change.headSha,
        message: `Merge change #${change.number} from ${change.branch}\n\n${change.title}`,
        author,
      });
    } catch (err) {
      throw err instanceof MergeConflictError ? mergeConflict(err.paths) : err;
    }
  });
}

/** Merges an open change whose head passed every check; main's new HEAD is then checked and deployed. */
export async function mergeChange(
  ctx: ChangeDeps,
  principal: Principal,
  server: Server,
  number: number,
  requestId?: string,
): Promise<{ sha: string; change: ChangeRequest }> {
  requirePermission(principal, 'write');
  let change = await findChange(ctx, server, number);
  if (change.state !== 'open') throw changeNotOpen(number, change.state);
  const branchHead = await ctx.git.resolveRef(server.name, `refs/heads/${change.branch}`);
  if (!branchHead) throw changeNotOpen(number, 'without a branch (it was deleted)');
  if (branchHead !== change.headSha) {
    change = await ctx.db.changeRequest.update({ where: { id: change.id }, data: { headSha: branchHead } });
  }
  await requireGreen(ctx, server, change.headSha);
  const author = await authorOf(ctx, principal);
  // Claimed before main is written: from now on a close or another merge of this change is refused, so main never
  // holds a change a concurrent close said it closed, and one merge alone writes main and the audit trail.
  const claim = await claimForMerge(ctx, change);
  const merged = await mergeIntoMain(ctx, server, change, author).catch(async (err: unknown) => {
    // Refused (a conflict, main moving on): the change is open again, to merge once fixed or to close.
    await ctx.db.changeRequest.updateMany({ where: { id: change.id, mergingAt: claim }, data: { mergingAt: null } });
    throw err;
  });
  const recorded = await ctx.db.changeRequest.updateMany({
    where: { id: change.id, mergingAt: claim },
    data: { state: 'merged', mergeSha: merged.sha, mergedAt: new Date(), mergingAt: null },
  });
  // Only a merge that outlived its claim (minutes) gets here: another request took the change meanwhile.
  if (recorded.count === 0) throw await taken(ctx, change);
  const updated = await ctx.db.changeRequest.findUniqueOrThrow({ where: { id: change.id } });
  await mainMoved(ctx, server, merged.sha);
  await ctx.previews.sync(server.name);
  await audit(
    ctx.db,
    principal,
    'change.merge',
    { type: 'change', id: change.id },
    { server: server.name, number, sha: merged.sha },
    requestId,
  );
  return { sha: merged.sha, change: updated };
}

/** Closes an open change without merging it. */
export async function closeChange(
  ctx: Pick<ChangeDeps, 'db' | 'previews'>,
  principal: Principal,
  server: Server,
  number: number,
  requestId?: string,
): Promise<ChangeRequest> {
  requirePermission(principal, 'write');
  const change = await findChange(ctx, server, number);
  if (change.state !== 'open') throw changeNotOpen(number, change.state);
  const now = new Date();
  const { count } = await ctx.db.changeRequest.updateMany({
    where: takeable(change.id, now),
    data: { state: 'closed', closedAt: now },
  });
  // A merge (or another close) took it first: this close changed nothing.
  if (count === 0) throw await taken(ctx, change);
  const closed = await ctx.db.changeRequest.findUniqueOrThrow({ where: { id: change.id } });
  await ctx.previews.sync(server.name);
  await audit(
    ctx.db,
    principal,
    'change.close',
    { type: 'change', id: change.id },
    { server: server.name, number },
    requestId,
  );
  return closed;
}

/** A new commit on main that undoes `sha` (default: main's HEAD). */
export async function revertCommit(
  ctx: Pick<ChangeDeps, 'db' | 'git' | 'reconciler'>,
  principal: Principal,
  server: Server,
  input: { sha?: string },
  requestId?: string,
): Promise<{ sha: string; reverted: string }> {
  requirePermission(principal, 'write');
  if (input.sha !== undefined && !/^[0-9a-f]{4,40}$/.test(input.sha)) {
    throw invalidRequest('"sha" must be a commit SHA (hex) on main');
  }
  const head = await ctx.git.resolveRef(server.name, 'refs/heads/main');
  if (!head) throw nothingToRevert(null);
  let target = head;
  if (input.sha !== undefined) {
    const resolved = await ctx.git.resolveRef(server.name, input.sha).catch(() => null);
    if (!resolved || !(await ctx.git.isAncestor(server.name, resolved, head))) {
      throw unknownRevision(input.sha, `is not a commit on main of ${server.name}`);
    }
    target = resolved;
  }
  const author = await authorOf(ctx, principal);
  const result = await writeMain('reverting', async () => {
    try {
      return await ctx.git.revert(server.name, { branch: 'main', sha: target, author });
    } catch (err) {
      if (err instanceof RevertConflictError) throw revertConflict(err.paths);
      if (err instanceof InvalidRefError) {
        throw unknownRevision(target.slice(0, 7), `cannot be reverted: ${err.message}`);
      }
      throw err;
    }
  });
  await mainMoved(ctx, server, result.sha);
  await audit(
    ctx.db,
    principal,
    'server.revert',
    { type: 'server', id: server.id },
    { server: server.name, reverted: target, sha: result.sha },
    requestId,
  );
  return { sha: result.sha, reverted: target };
}

/** Reacts to a git push: main moved → check and deploy; a change's branch moved → re-check it. */
export async function handlePush(
  ctx: Pick<ChangeDeps, 'db' | 'checks' | 'reconciler' | 'previews'>,
  principal: Principal | undefined,
  repo: string,
  updates: { ref: string; oldSha: string; newSha: string }[],
): Promise<void> {
  const server = await ctx.db.server.findUnique({ where: { name: repo } });
  if (!server) return;
  for (const u of updates) {
    const branch = u.ref.replace(/^refs\/heads\//, '');
    if (branch === u.ref) continue;
    await audit(
      ctx.db,
      principal,
      'git.push',
      { type: 'server', id: server.id, orgId: server.orgId },
      { ref: u.ref, old: u.oldSha, new: u.newSha },
    );
    if (branch === 'main') {
      if (ZERO_SHA.test(u.newSha)) continue;
      await mainMoved(ctx, server, u.newSha);
      continue;
    }
    const open = await ctx.db.changeRequest.findMany({ where: { serverId: server.id, branch, state: 'open' } });
    for (const change of open) {
      if (ZERO_SHA.test(u.newSha)) {
        // Not one a merge claimed meanwhile: that merge records it merged.
        const now = new Date();
        await ctx.db.changeRequest.updateMany({
          where: takeable(change.id, now),
          data: { state: 'closed', closedAt: now },
        });
        continue;
      }
      await ctx.db.changeRequest.update({ where: { id: change.id }, data: { headSha: u.newSha } });
      await ctx.checks.ensureSuite(server, u.newSha);
    }
    // A change that moved or closed no longer shows its old preview.
    if (open.length > 0) await ctx.previews.sync(server.name);
  }
}
