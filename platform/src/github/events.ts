import type { PrismaClient, Server } from '@bmms/prisma';
import { audit } from '../audit.ts';
import type { Logger } from '../logger.ts';
import { allocateChangeNumber, type ChangeDeps, handlePush } from '../services/changes.ts';
import type { GitHubConnections } from './connections.ts';
import { type MoveDeps, repositoryMoved } from './moves.ts';
import type { HandledEvent } from './webhooks.ts';

/** What acting on GitHub's events needs. */
export interface GitHubEventDeps extends Pick<ChangeDeps, 'db' | 'checks' | 'reconciler' | 'previews'>, MoveDeps {
  db: PrismaClient;
  githubConnections: Pick<GitHubConnections, 'setProblem' | 'reinstalled'>;
  log: Logger;
}

type Payload = Record<string, unknown>;

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const obj = (v: unknown): Payload => (typeof v === 'object' && v !== null ? (v as Payload) : {});

/** The server of the org whose repository a payload names (GitHub's names are case-insensitive), or null. */
export async function serverOfRepository(db: PrismaClient, orgId: string, repository: unknown): Promise<Server | null> {
  const repo = obj(repository);
  const owner = str(obj(repo.owner).login);
  const name = str(repo.name);
  if (!owner || !name) return null;
  return db.server.findFirst({
    where: {
      orgId,
      githubOwner: { equals: owner, mode: 'insensitive' },
      githubRepo: { equals: name, mode: 'insensitive' },
    },
  });
}

/**
 * Acts on one GitHub event of an org, the same way whether it came as a webhook or was found by polling: a push
 * moves main (checked, then deployed) or a change's branch (re-checked); a pull request merged or closed on GitHub
 * merges or closes its change; a check re-run from GitHub's UI runs again here; an uninstalled app is recorded as
 * the connection's problem, installed again followed; a repository renamed or transferred followed.
 */
export async function actOnEvent(ctx: GitHubEventDeps, orgId: string, event: HandledEvent, payload: Payload) {
  switch (event) {
    case 'push':
      return onPush(ctx, orgId, payload);
    case 'pull_request':
      return onPullRequest(ctx, orgId, payload);
    case 'check_run':
      return onCheckRun(ctx, orgId, payload);
    case 'installation':
      return onInstallation(ctx, orgId, payload);
    case 'repository':
      return onRepository(ctx, orgId, payload);
  }
}

async function onPush(ctx: GitHubEventDeps, orgId: string, payload: Payload): Promise<void> {
  const server = await serverOfRepository(ctx.db, orgId, payload.repository);
  const ref = str(payload.ref);
  const oldSha = str(payload.before);
  const newSha = str(payload.after);
  if (!server || !ref || !oldSha || !newSha) return;
  await handlePush(ctx, undefined, server.name, [{ ref, oldSha, newSha }]);
}

/** A pull request merged on GitHub merges its change (main moved: checked, then deployed); closed closes it. */
export async function pullClosed(
  ctx: Pick<GitHubEventDeps, 'db' | 'reconciler' | 'previews'>,
  server: Server,
  number: number,
  merged: { sha: string } | null,
): Promise<void> {
  const change = await ctx.db.changeRequest.findFirst({ where: { serverId: server.id, githubPull: number } });
  if (change?.state !== 'open') return;
  const now = new Date();
  const updated = await ctx.db.changeRequest.updateMany({
    where: { id: change.id, state: 'open' },
    data: merged ? { state: 'merged', mergeSha: merged.sha, mergedAt: now } : { state: 'closed', closedAt: now },
  });
  if (updated.count === 0) return;
  await audit(
    ctx.db,
    undefined,
    merged ? 'change.merge' : 'change.close',
    { type: 'change', id: change.id, orgId: server.orgId },
    {
      server: server.name,
      number: change.number,
      pullRequest: number,
      on: 'github',
      ...(merged ? { sha: merged.sha } : {}),
    },
  );
  if (merged) await ctx.reconciler.mainMoved(server, merged.sha);
  await ctx.previews.sync(server.name);
}

/**
 * A pull request someone opened on GitHub, from a branch of the server's own repository, becomes a change (checked,
 * previewed and reported like the platform's own); one whose branch already has a change is that change's.
 */
export async function pullOpened(
  ctx: Pick<GitHubEventDeps, 'db' | 'checks'>,
  server: Server,
  pull: Payload,
): Promise<void> {
  const number = pull.number;
  const head = obj(pull.head);
  const branch = str(head.ref);
  const sha = str(head.sha);
  const from = obj(head.repo);
  const sameRepo =
    str(obj(from.owner).login)?.toLowerCase() === server.githubOwner?.toLowerCase() &&
    str(from.name)?.toLowerCase() === server.githubRepo?.toLowerCase();
  if (typeof number !== 'number' || !branch || !sha || branch === 'main' || !sameRepo) return;
  const existing = await ctx.db.changeRequest.findFirst({
    where: { serverId: server.id, OR: [{ githubPull: number }, { branch, state: 'open' }] },
  });
  if (existing) return;
  const change = await ctx.db.changeRequest.create({
    data: {
      serverId: server.id,
      number: await allocateChangeNumber(ctx, server.id),
      title: (str(pull.title) ?? branch).slice(0, 200),
      body: str(pull.body) ?? '',
      branch,
      headSha: sha,
      baseSha: str(obj(pull.base).sha) ?? null,
      githubPull: number,
    },
  });
  await audit(
    ctx.db,
    undefined,
    'change.open',
    { type: 'change', id: change.id, orgId: server.orgId },
    { server: server.name, number: change.number, pullRequest: number, on: 'github' },
  );
  await ctx.checks.ensureSuite(server, sha);
}

async function onPullRequest(ctx: GitHubEventDeps, orgId: string, payload: Payload): Promise<void> {
  const pull = obj(payload.pull_request);
  const server = await serverOfRepository(ctx.db, orgId, payload.repository);
  const number = pull.number;
  if (!server || typeof number !== 'number') return;
  if (payload.action === 'opened' || payload.action === 'reopened') return pullOpened(ctx, server, pull);
  if (payload.action !== 'closed') return;
  const sha = str(pull.merge_commit_sha);
  await pullClosed(ctx, server, number, pull.merged === true && sha ? { sha } : null);
}

async function onCheckRun(ctx: GitHubEventDeps, orgId: string, payload: Payload): Promise<void> {
  if (payload.action !== 'rerequested') return;
  const run = obj(payload.check_run);
  const name = str(run.name);
  const sha = str(run.head_sha);
  const server = await serverOfRepository(ctx.db, orgId, payload.repository);
  if (!server || !name || !sha || !ctx.checks.checkNames.includes(name)) return;
  const suite = await ctx.db.checkSuite.findFirst({ where: { serverId: server.id, commitSha: sha } });
  if (!suite) return;
  await ctx.checks.rerun(server, suite.id, name);
  await audit(
    ctx.db,
    undefined,
    'check.rerun',
    { type: 'server', id: server.id, orgId: server.orgId },
    { server: server.name, check: name, sha, on: 'github' },
  );
}

async function onInstallation(ctx: GitHubEventDeps, orgId: string, payload: Payload): Promise<void> {
  const action = str(payload.action);
  const installation = obj(payload.installation);
  const account = str(obj(installation.account).login);
  if (action === 'created' && account && typeof installation.id === 'number') {
    // The app installed again gets a new installation id: the connection follows it.
    const replaced = await ctx.githubConnections.reinstalled(orgId, {
      appId: String(installation.app_id),
      installationId: String(installation.id),
      account,
    });
    if (replaced !== null) {
      await audit(
        ctx.db,
        undefined,
        'github.reinstalled',
        { type: 'github', orgId },
        { account, installationId: String(installation.id), replaced },
      );
      return;
    }
  }
  if (action === 'deleted' || action === 'suspend') {
    await ctx.githubConnections.setProblem(
      orgId,
      `the GitHub App was ${action === 'deleted' ? 'uninstalled' : 'suspended'} on GitHub: install it again, then reconnect in Settings → GitHub`,
    );
  } else if (action === 'created' || action === 'unsuspend') {
    await ctx.githubConnections.setProblem(orgId, null);
  }
}

/**
 * A repository renamed or transferred on GitHub: the server whose repository it was follows it. GitHub's payload
 * names the repository as it is now; `changes` says what it was called or who owned it before.
 */
async function onRepository(ctx: GitHubEventDeps, orgId: string, payload: Payload): Promise<void> {
  const action = str(payload.action);
  if (action !== 'renamed' && action !== 'transferred') return;
  const now = obj(payload.repository);
  const owner = str(obj(now.owner).login);
  const name = str(now.name);
  if (!owner || !name) return;
  const changes = obj(payload.changes);
  const before =
    action === 'renamed'
      ? { owner, name: str(obj(obj(changes.repository).name).from) }
      : {
          owner:
            str(obj(obj(obj(changes.owner).from).organization).login) ??
            str(obj(obj(obj(changes.owner).from).user).login),
          name,
        };
  const server = await serverOfRepository(ctx.db, orgId, { owner: { login: before.owner }, name: before.name });
  if (!server) return;
  await repositoryMoved(ctx, server, { owner, repo: name, url: str(now.html_url) });
}
