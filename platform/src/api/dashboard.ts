import { Router } from 'express';
import { requirePermission } from '../accounts/roles.ts';
import { issueSetupToken, setupPath } from '../accounts/setup.ts';
import { audit } from '../audit.ts';
import { forbidden, nothingToRevert, unknownRevision } from '../errors.ts';
import { baseUrlOf, type PublicBaseDeps } from '../http/middleware.ts';
import { type ChangeDeps, revertCommit } from '../services/changes.ts';
import { findServer } from '../services/servers.ts';
import { type ChangeDiffApiDeps, changeDiffRouter } from './change-diff.ts';
import { input } from './operation.ts';
import { ops } from './operations.ts';
import { principalOf, requestIdOf } from './request.ts';
import { type ToolsApiDeps, toolsRouter } from './tools.ts';
import { viewsRouter } from './views.ts';

/** What the dashboard's routes need: a set-password link, a rollback (reverts), and the diff and tools routes. */
export type DashboardApiDeps = Pick<ChangeDeps, 'db' | 'git' | 'reconciler'> &
  PublicBaseDeps &
  ChangeDiffApiDeps &
  ToolsApiDeps;

const MAX_ROLLBACK_COMMITS = 50;

/**
 * What the dashboard needs beyond the core API, under /api/v1: a change's file and tool-surface diff, a
 * server's tools at a revision, calling one tool (production or a change's preview) for the try-it forms,
 * and a new set-password link for the caller.
 */
export function dashboardRouter(ctx: DashboardApiDeps): Router {
  const router = Router();

  router.post('/me/setup-link', async (req, res) => {
    input(req, ops.setupLink);
    const p = principalOf(res);
    // A link replaces a password without knowing it: for an account that has none yet, or for an owner who forgot
    // theirs (recovery with the owner's key). Any other key must never become a way to take over its account.
    const user = await ctx.db.user.findUnique({ where: { id: p.userId }, select: { passwordHash: true } });
    if (user?.passwordHash && p.role !== 'owner') {
      throw forbidden(
        'this account has a password already: sign in with it, or change it with PUT /api/v1/me/password',
      );
    }
    const { token, expiresAt } = await issueSetupToken(ctx.db, p.userId);
    await audit(ctx.db, p, 'user.setup_link', { type: 'user', id: p.userId }, { expiresAt: expiresAt.toISOString() });
    res.status(201).json({ url: `${baseUrlOf(ctx, req)}${setupPath(token)}`, expiresAt: expiresAt.toISOString() });
  });

  // Rolling back to an earlier revision reverts each commit of main's first-parent line since it, newest first:
  // a merge commit is undone relative to its first parent, so the result's tree is the earlier one.
  router.post('/servers/:name/rollback', async (req, res) => {
    const { body } = input(req, ops.rollback);
    const p = principalOf(res);
    requirePermission(p, 'write');
    const server = await findServer(ctx, p, req.params.name as string);
    const target = await ctx.git.resolveRef(server.name, body.revision).catch(() => null);
    let sha = await ctx.git.resolveRef(server.name, 'refs/heads/main');
    const line: string[] = [];
    while (sha && sha !== target && line.length < MAX_ROLLBACK_COMMITS) {
      line.push(sha);
      sha = (await ctx.git.parentsOf(server.name, sha))[0] ?? null;
    }
    if (!target || sha !== target) {
      throw unknownRevision(
        body.revision.slice(0, 7),
        `is not on main's line of ${server.name} within the last ${MAX_ROLLBACK_COMMITS} commits`,
      );
    }
    if (line.length === 0) throw nothingToRevert(target.slice(0, 7));
    const reverts = [];
    for (const commit of line) reverts.push(await revertCommit(ctx, p, server, { sha: commit }, requestIdOf(res)));
    await audit(
      ctx.db,
      p,
      'server.rollback',
      { type: 'server', id: server.id },
      { server: server.name, before: { main: line[0] }, after: { main: reverts.at(-1)?.sha, tree: target } },
    );
    res.status(201).json({ sha: reverts.at(-1)?.sha, revision: target, reverted: reverts.map((r) => r.reverted) });
  });

  router.use(changeDiffRouter(ctx), toolsRouter(ctx), viewsRouter(ctx));
  return router;
}
