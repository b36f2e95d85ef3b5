import type { PrismaClient } from '@bmms/prisma';
import { Router } from 'express';
import { isRole, ROLES, requirePermission } from '../accounts/roles.ts';
import { hashInvitation, newInvitationToken } from '../accounts/routes.ts';
import { audit } from '../audit.ts';
import { forbidden, invalidRequest, notFound } from '../errors.ts';
import { baseUrlOf, type PublicBaseDeps } from '../http/middleware.ts';
import { input } from './operation.ts';
import { ops } from './operations.ts';
import { principalOf, requestIdOf } from './request.ts';

/** What the invitations routes need. */
export interface InvitationsApiDeps extends PublicBaseDeps {
  /** Invitations and the audit log. */
  db: PrismaClient;
}

const INVITATION_TTL_MS = 7 * 24 * 60 * 60 * 1000;

/** Invitations to the org under /api/v1/org/invitations: pending ones listed, new ones (token shown once), withdrawn. */
export function invitationsRouter(ctx: InvitationsApiDeps): Router {
  const router = Router();

  router.get('/org/invitations', async (req, res) => {
    input(req, ops.listInvitations);
    const p = principalOf(res);
    requirePermission(p, 'admin');
    const rows = await ctx.db.invitation.findMany({
      where: { orgId: p.orgId, acceptedAt: null, expiresAt: { gt: new Date() } },
      orderBy: { createdAt: 'asc' },
    });
    res.json({
      invitations: rows.map((i) => ({
        id: i.id,
        email: i.email,
        role: i.role,
        expiresAt: i.expiresAt.toISOString(),
      })),
    });
  });

  router.post('/org/invitations', async (req, res) => {
    const { body } = input(req, ops.invite);
    const p = principalOf(res);
    requirePermission(p, 'admin');
    const email = body.email.trim().toLowerCase();
    if (!/^[^\s@]{1,64}@[^\s@]{1,255}$/.test(email)) throw invalidRequest('"email" must be an email address');
    const role = body.role ?? 'developer';
    if (!isRole(role)) throw invalidRequest(`"role" must be one of ${ROLES.join(', ')}`);
    if (role === 'owner' && p.role !== 'owner') throw forbidden('only an owner may invite owners');
    const token = newInvitationToken();
    const row = await ctx.db.invitation.create({
      data: {
        orgId: p.orgId,
        email,
        role,
        tokenHash: hashInvitation(token),
        invitedBy: p.userId,
        expiresAt: new Date(Date.now() + INVITATION_TTL_MS),
      },
    });
    await audit(ctx.db, p, 'member.invite', { type: 'invitation', id: row.id }, { email, role }, requestIdOf(res));
    res.status(201).json({
      id: row.id,
      email,
      role,
      token,
      signup: `${baseUrlOf(ctx, req)}/auth/signup`,
      expiresAt: row.expiresAt.toISOString(),
    });
  });

  router.delete('/org/invitations/:id', async (req, res) => {
    input(req, ops.withdrawInvitation);
    const p = principalOf(res);
    requirePermission(p, 'admin');
    const id = String(req.params.id);
    const { count } = /^[0-9a-f-]{36}$/.test(id)
      ? await ctx.db.invitation.deleteMany({ where: { id, orgId: p.orgId, acceptedAt: null } })
      : { count: 0 };
    if (count === 0) throw notFound(`invitation ${id}`);
    await audit(ctx.db, p, 'member.uninvite', { type: 'invitation', id }, {}, requestIdOf(res));
    res.status(204).end();
  });

  return router;
}
