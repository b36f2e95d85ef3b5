import { Router } from 'express';
import { hashPassword, passwordProblem, verifyPassword } from '../accounts/passwords.ts';
import { audit } from '../audit.ts';
import type { PlatformContext } from '../context.ts';
import { forbidden, invalidRequest, notFound } from '../errors.ts';
import { jsonBody, principalOf, requestIdOf } from './request.ts';

/** The caller under /api/v1/me: who they are and in which orgs, their password, the OAuth clients they connected. */
export function meRouter(ctx: PlatformContext): Router {
  const router = Router();
  const principal = principalOf;
  const requestId = requestIdOf;
  const body = jsonBody;

  router.get('/me', async (_req, res) => {
    const p = principal(res);
    const user = await ctx.db.user.findUniqueOrThrow({ where: { id: p.userId } });
    const memberships = await ctx.db.membership.findMany({ where: { userId: p.userId }, include: { org: true } });
    res.json({
      user: { id: user.id, email: user.email, name: user.name, hasPassword: user.passwordHash !== null },
      org: memberships.find((m) => m.orgId === p.orgId)?.org.slug ?? null,
      role: p.role,
      orgs: memberships.map((m) => ({ slug: m.org.slug, name: m.org.name, role: m.role })),
    });
  });

  router.put('/me/password', async (req, res) => {
    const p = principal(res);
    const b = body(req);
    const problem = passwordProblem(b.password);
    if (problem) throw invalidRequest(problem);
    const user = await ctx.db.user.findUniqueOrThrow({ where: { id: p.userId } });
    // From a browser session, changing a password needs the current one.
    if (p.apiKeyId === null && user.passwordHash !== null) {
      const current = typeof b.currentPassword === 'string' ? b.currentPassword : '';
      if (!(await verifyPassword(current, user.passwordHash))) throw forbidden('"currentPassword" is wrong');
    }
    await ctx.db.user.update({
      where: { id: p.userId },
      data: { passwordHash: await hashPassword(b.password as string) },
    });
    await audit(ctx.db, p, 'user.password', { type: 'user', id: p.userId }, {}, requestId(res));
    res.status(204).end();
  });

  router.get('/me/clients', async (_req, res) => {
    res.json({ clients: await ctx.oauth.connectedClients(principal(res).userId) });
  });

  router.delete('/me/clients/:clientId', async (req, res) => {
    const p = principal(res);
    const revoked = await ctx.oauth.revokeClient(p.userId, req.params.clientId as string);
    if (revoked === 0) throw notFound(`a connection of client "${req.params.clientId}"`);
    await audit(
      ctx.db,
      p,
      'oauth.client.revoke',
      { type: 'user', id: p.userId },
      { client: req.params.clientId, grants: revoked },
      requestId(res),
    );
    res.status(204).end();
  });

  return router;
}
