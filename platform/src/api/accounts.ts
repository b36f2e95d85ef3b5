import { Router } from 'express';
import { generateApiKey } from '../accounts/keys.ts';
import { hashPassword, passwordProblem, verifyPassword } from '../accounts/passwords.ts';
import type { Principal } from '../accounts/principal.ts';
import { ROLES, requirePermission } from '../accounts/roles.ts';
import { hashInvitation, newInvitationToken } from '../accounts/routes.ts';
import { audit } from '../audit.ts';
import type { PlatformContext } from '../context.ts';
import { forbidden, invalidRequest, lastOwner, notFound } from '../errors.ts';
import { baseUrlOf } from '../http/middleware.ts';
import { input } from './operation.ts';
import { ops } from './operations.ts';
import { principalOf, requestIdOf } from './request.ts';

const INVITATION_TTL_MS = 7 * 24 * 60 * 60 * 1000;
/** Scopes an API key may carry: everything its role allows, the REST API, Git, or MCP scopes. */
const KEY_SCOPE = /^(\*|api|git|mcp:[a-z0-9:_.-]{1,60}|[a-z][a-z0-9_.-]{0,30}:[a-z0-9:_.-]{1,60})$/;

const isRole = (role: unknown): role is (typeof ROLES)[number] =>
  typeof role === 'string' && (ROLES as readonly string[]).includes(role);

/**
 * Accounts under /api/v1: the caller (`/me`, password, connected OAuth clients), API keys, org members,
 * invitations, and the authorization server's signing-key rotation.
 */
export function accountsRouter(ctx: PlatformContext): Router {
  const router = Router();
  const principal = principalOf;
  const requestId = requestIdOf;

  router.get('/me', async (req, res) => {
    input(req, ops.me);
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
    const { body } = input(req, ops.setPassword);
    const p = principal(res);
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
    await audit(ctx.db, p, 'user.password', { type: 'user', id: p.userId }, {}, requestId(res));
    res.status(204).end();
  });

  router.get('/me/clients', async (req, res) => {
    input(req, ops.listClients);
    res.json({ clients: await ctx.oauth.connectedClients(principal(res).userId) });
  });

  router.delete('/me/clients/:clientId', async (req, res) => {
    input(req, ops.revokeClient);
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

  router.get('/keys', async (req, res) => {
    input(req, ops.listKeys);
    const p = principal(res);
    const admin = p.role === 'owner' || p.role === 'admin';
    const keys = await ctx.db.apiKey.findMany({
      where: { orgId: p.orgId, ...(admin ? {} : { userId: p.userId }), revokedAt: null },
      orderBy: { createdAt: 'asc' },
    });
    res.json({
      keys: keys.map((k) => ({
        id: k.id,
        name: k.name,
        prefix: k.prefix,
        scopes: k.scopes,
        userId: k.userId,
        createdAt: k.createdAt.toISOString(),
        lastUsedAt: k.lastUsedAt?.toISOString() ?? null,
      })),
    });
  });

  router.post('/keys', async (req, res) => {
    const { body } = input(req, ops.createKey);
    const p = principal(res);
    const name = body.name.trim();
    if (!name || name.length > 100) throw invalidRequest('"name" is required (at most 100 characters)');
    const scopes = body.scopes ?? ['*'];
    if (scopes.length === 0 || !scopes.every((s) => KEY_SCOPE.test(s))) {
      throw invalidRequest('"scopes" must be a non-empty list of "*", "api", "git" or MCP scopes such as "mcp:tools"');
    }
    // A key never carries more than its creator's credential.
    if (!p.scopes.includes('*') && !scopes.every((s) => p.scopes.includes(s))) {
      throw forbidden('a key can only carry scopes the credential creating it has');
    }
    const { key, prefix, hash } = generateApiKey();
    const row = await ctx.db.apiKey.create({ data: { orgId: p.orgId, userId: p.userId, name, prefix, hash, scopes } });
    await audit(ctx.db, p, 'apikey.create', { type: 'api_key', id: row.id }, { name, scopes }, requestId(res));
    res.status(201).json({ id: row.id, name, prefix, scopes: row.scopes, key, createdAt: row.createdAt.toISOString() });
  });

  router.delete('/keys/:id', async (req, res) => {
    input(req, ops.revokeKey);
    const p = principal(res);
    const id = String(req.params.id);
    const key = /^[0-9a-f-]{36}$/.test(id) ? await ctx.db.apiKey.findUnique({ where: { id } }) : null;
    if (!key || key.orgId !== p.orgId || key.revokedAt) throw notFound(`API key ${id}`);
    if (key.userId !== p.userId) requirePermission(p, 'admin');
    await ctx.db.apiKey.update({ where: { id }, data: { revokedAt: new Date() } });
    await ctx.invalidations.publish({ kind: 'api_key', hash: key.hash });
    await audit(ctx.db, p, 'apikey.revoke', { type: 'api_key', id }, { name: key.name }, requestId(res));
    res.status(204).end();
  });

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
      { from: member.role, to: role },
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

  router.get('/org/invitations', async (req, res) => {
    input(req, ops.listInvitations);
    const p = principal(res);
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
    const p = principal(res);
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
    await audit(ctx.db, p, 'member.invite', { type: 'invitation', id: row.id }, { email, role }, requestId(res));
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
    const p = principal(res);
    requirePermission(p, 'admin');
    const id = String(req.params.id);
    const { count } = /^[0-9a-f-]{36}$/.test(id)
      ? await ctx.db.invitation.deleteMany({ where: { id, orgId: p.orgId, acceptedAt: null } })
      : { count: 0 };
    if (count === 0) throw notFound(`invitation ${id}`);
    await audit(ctx.db, p, 'member.uninvite', { type: 'invitation', id }, {}, requestId(res));
    res.status(204).end();
  });

  router.post('/admin/rotate-signing-key', async (req, res) => {
    input(req, ops.rotateSigningKey);
    const p = principal(res);
    const operator = await ctx.db.org.findFirst({ orderBy: { createdAt: 'asc' } });
    if (p.role !== 'owner' || p.orgId !== operator?.id) {
      throw forbidden(
        "rotating the authorization server's signing key affects every org: only the platform operator's owner may",
      );
    }
    const kid = await ctx.oauth.rotateSigningKey();
    await audit(ctx.db, p, 'oauth.rotate_signing_key', { type: 'platform', id: operator.id }, { kid }, requestId(res));
    res.json({ kid });
  });

  return router;
}
