import type { PrismaClient } from '@bmms/prisma';
import { Router } from 'express';
import { hashPassword, passwordProblem, verifyPassword } from '../accounts/passwords.ts';
import type { WebSessions } from '../accounts/sessions.ts';
import { audit } from '../audit.ts';
import { forbidden, invalidRequest, notFound } from '../errors.ts';
import type { AuthorizationServer } from '../oauth/server.ts';
import { deleteAccount } from '../services/deletion.ts';
import type { RemovalDeps } from '../services/server-removal.ts';
import { input } from './operation.ts';
import { ops } from './operations.ts';
import { principalOf, requestIdOf } from './request.ts';

/** What the caller's own routes need (deleting the account removes the orgs it leaves empty). */
export interface MeApiDeps extends RemovalDeps {
  /** The user, their memberships and the audit log. */
  db: PrismaClient;
  /** The OAuth clients the caller connected, and revoking one. */
  oauth: AuthorizationServer;
  /** Ends the browser session of a deleted account. */
  sessions: WebSessions;
}

/** The caller under /api/v1/me: who they are and in which orgs, their password, the OAuth clients they connected. */
export function meRouter(ctx: MeApiDeps): Router {
  const router = Router();

  router.get('/me', async (req, res) => {
    input(req, ops.me);
    const p = principalOf(res);
    const user = await ctx.db.user.findUniqueOrThrow({ where: { id: p.userId } });
    const memberships = await ctx.db.membership.findMany({ where: { userId: p.userId }, include: { org: true } });
    res.json({
      user: { id: user.id, email: user.email, name: user.name, hasPassword: user.passwordHash !== null },
      org: memberships.find((m) => m.orgId === p.orgId)?.org.slug ?? null,
      role: p.role,
      orgs: memberships.map((m) => ({ slug: m.org.slug, name: m.org.name, role: m.role })),
    });
  });

  router.delete('/me', async (req, res) => {
    const { body } = input(req, ops.deleteAccount);
    const p = principalOf(res);
    const { orgs } = await deleteAccount(ctx, p, body.confirm, requestIdOf(res));
    if (p.apiKeyId === null) await ctx.sessions.end(req, res);
    res.json({ deleted: true, orgs });
  });

  router.put('/me/password', async (req, res) => {
    const { body } = input(req, ops.setPassword);
    const p = principalOf(res);
    const problem = passwordProblem(body.password);
    if (problem) throw invalidRequest(problem);
    const user = await ctx.db.user.findUniqueOrThrow({ where: { id: p.userId } });
    // From a browser session, changing a password needs the current one.
    if (p.apiKeyId === null && user.passwordHash !== null) {
      if (!(await verifyPassword(body.currentPassword ?? '', user.passwordHash))) {
        throw forbidden('"currentPassword" is wrong');
      }
    }
    await ctx.db.user.update({ where: { id: p.userId }, data: { passwordHash: await hashPassword(body.password) } });
    await audit(ctx.db, p, 'user.password', { type: 'user', id: p.userId }, {}, requestIdOf(res));
    res.status(204).end();
  });

  router.get('/me/clients', async (req, res) => {
    input(req, ops.listClients);
    res.json({ clients: await ctx.oauth.connectedClients(principalOf(res).userId) });
  });

  router.delete('/me/clients/:clientId', async (req, res) => {
    input(req, ops.revokeClient);
    const p = principalOf(res);
    const revoked = await ctx.oauth.revokeClient(p.userId, req.params.clientId as string);
    if (revoked === 0) throw notFound(`a connection of client "${req.params.clientId}"`);
    await audit(
      ctx.db,
      p,
      'oauth.client.revoke',
      { type: 'user', id: p.userId },
      { client: req.params.clientId, grants: revoked },
      requestIdOf(res),
    );
    res.status(204).end();
  });

  return router;
}
