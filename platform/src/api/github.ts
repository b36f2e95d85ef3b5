import type { PrismaClient } from '@bmms/prisma';
import { Router } from 'express';
import { requirePermission } from '../accounts/roles.ts';
import { audit } from '../audit.ts';
import type { GitHubConnections } from '../github/connections.ts';
import { baseUrlOf, type PublicBaseDeps } from '../http/middleware.ts';
import { input } from './operation.ts';
import { ops } from './operations.ts';
import { principalOf, requestIdOf } from './request.ts';

/** What the GitHub connection routes need. */
export interface GitHubApiDeps extends PublicBaseDeps {
  db: PrismaClient;
  /** The orgs' connections to GitHub. */
  githubConnections: GitHubConnections;
}

/** Where GitHub delivers an org's webhook events. */
export const webhookUrl = (baseUrl: string, orgId: string) => `${baseUrl}/github/webhooks/${orgId}`;

/** GET, PUT and DELETE /api/v1/github/connection: the org's connection to GitHub. */
export function githubRouter(ctx: GitHubApiDeps): Router {
  const router = Router();
  router.get('/github/connection', async (req, res) => {
    input(req, ops.githubConnection);
    const p = principalOf(res);
    requirePermission(p, 'read');
    const view = await ctx.githubConnections.view(p.orgId);
    res.json({ ...view, webhookUrl: webhookUrl(baseUrlOf(ctx, req), p.orgId) });
  });
  router.put('/github/connection', async (req, res) => {
    const { body } = input(req, ops.connectGitHub);
    const p = principalOf(res);
    requirePermission(p, 'admin');
    const { view, webhookSecret } = await ctx.githubConnections.connect(p.orgId, body);
    await audit(
      ctx.db,
      p,
      'github.connect',
      { type: 'org', id: p.orgId },
      { kind: view.kind, login: view.login, apiUrl: view.apiUrl },
      requestIdOf(res),
    );
    res.json({ ...view, webhookUrl: webhookUrl(baseUrlOf(ctx, req), p.orgId), webhookSecret });
  });
  router.delete('/github/connection', async (req, res) => {
    input(req, ops.disconnectGitHub);
    const p = principalOf(res);
    requirePermission(p, 'admin');
    if (await ctx.githubConnections.disconnect(p.orgId)) {
      await audit(ctx.db, p, 'github.disconnect', { type: 'org', id: p.orgId }, {}, requestIdOf(res));
    }
    res.status(204).end();
  });
  return router;
}
