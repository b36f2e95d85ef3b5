import { Router } from 'express';
import type { Principal } from '../accounts/principal.ts';
import { isRole, ROLES, requirePermission } from '../accounts/roles.ts';
import { audit } from '../audit.ts';
import type { PlatformContext } from '../context.ts';
import { forbidden, invalidRequest, lastOwner, notFound } from '../errors.ts';
import { input } from './operation.ts';
import { ops } from './operations.ts';
import { principalOf, requestIdOf } from './request.ts';

/** The org's members under /api/v1/org/members: listed, given another role, removed (with their keys). */
export function membersRouter(ctx: PlatformContext): Router {
  const router = Router();
  const principal = principalOf;
  const requestId = requestIdOf;

  router.get('/org/members', async (req, res) => {
    input(req, ops.listMembers);
    const p = principal(res);
    requirePermission(p, 'read');
    const members = await ctx.db.membership.findMany({
      where: { orgId: p.orgId },
      include: { user: true },
      orderBy: { createdAt: 'asc' },
    });
    res.json({
      members: members.map((m) => ({
        userId: m.userId,
        email: m.user.email,
        name: m.user.name,
        role: m.role,
        since: m.createdAt.toISOString(),
      })),
    });
  });

  /** Owners are changed only by owners, and the last owner stays. */
  const guardOwnerChange = async (p: Principal, currentRole: string, newRole: string | null): Promise<void> => {
    if ((currentRole === 'owner' || newRole === 'owner') && p.role !== 'owner') {
      throw forbidden('only an owner may make or unmake owners');
    }
    if (currentRole === 'owner' && newRole !== 'owner') {
      const owners = await ctx.db.membership.count({ where: { orgId: p.orgId, role: 'owner' } });
      if (owners <= 1) throw lastOwner();
    }
  };

  router.patch('/org/members/:userId', async (req, res) => {
    const { role } = input(req, ops.setRole).body;
    const p = principal(res);
    requirePermission(p, 'admin');
    if (!isRole(role)) throw invalidRequest(`"role" must be one of ${ROLES.join(', ')}`);
    const userId = String(req.params.userId);
    const member = /^[0-9a-f-]{36}$/.test(userId)
      ? await ctx.db.membership.findUnique({ where: { orgId_userId: { orgId: p.orgId, userId } } })
      : null;
    if (!member) throw notFound(`member ${userId}`);
    await guardOwnerChange(p, member.role, role);
    await ctx.db.membership.update({ where: { orgId_userId: { orgId: p.orgId, userId } }, data: { role } });
    await ctx.invalidations.publish({ kind: 'member', orgId: p.orgId, userId });
    await audit(
      ctx.db,
      p,
      'member.role',
      { type: 'user', id: userId },
      { before: { role: member.role }, after: { role } },
      requestId(res),
    );
    res.json({ userId, role });
  });

  router.delete('/org/members/:userId', async (req, res) => {
    input(req, ops.removeMember);
    const p = principal(res);
    requirePermission(p, 'admin');
    const userId = String(req.params.userId);
    const member = /^[0-9a-f-]{36}$/.test(userId)
      ? await ctx.db.membership.findUnique({ where: { orgId_userId: { orgId: p.orgId, userId } } })
      : null;
    if (!member) throw notFound(`member ${userId}`);
    await guardOwnerChange(p, member.role, null);
    await ctx.db.$transaction([
      ctx.db.membership.delete({ where: { orgId_userId: { orgId: p.orgId, userId } } }),
      // Their keys of this org stop working with the membership.
      ctx.db.apiKey.updateMany({ where: { orgId: p.orgId, userId, revokedAt: null }, data: { revokedAt: new Date() } }),
    ]);
    await ctx.invalidations.publish({ kind: 'member', orgId: p.orgId, userId });
    await audit(ctx.db, p, 'member.remove', { type: 'user', id: userId }, { role: member.role }, requestId(res));
    res.status(204).end();
  });

  return router;
}
