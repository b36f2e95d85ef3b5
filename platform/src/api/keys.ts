import type { PrismaClient } from '@bmms/prisma';
import { Router } from 'express';
import { generateApiKey } from '../accounts/keys.ts';
import { requirePermission } from '../accounts/roles.ts';
import { audit } from '../audit.ts';
import { forbidden, invalidRequest, notFound } from '../errors.ts';
import type { InvalidationBus } from '../invalidation.ts';
import { input } from './operation.ts';
import { ops } from './operations.ts';
import { principalOf, requestIdOf } from './request.ts';

/** What the API keys routes need. */
export interface KeysApiDeps {
  /** API keys and the audit log. */
  db: PrismaClient;
  /** Tells every gateway that a key was revoked. */
  invalidations: InvalidationBus;
}

/** Scopes an API key may carry: everything its role allows, the REST API, Git, or MCP scopes. */
const KEY_SCOPE = /^(\*|api|git|mcp:[a-z0-9:_.-]{1,60}|[a-z][a-z0-9_.-]{0,30}:[a-z0-9:_.-]{1,60})$/;

/** API keys under /api/v1/keys: listed (an admin sees the org's), created (shown once), revoked. */
export function keysRouter(ctx: KeysApiDeps): Router {
  const router = Router();

  router.get('/keys', async (req, res) => {
    input(req, ops.listKeys);
    const p = principalOf(res);
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
    const p = principalOf(res);
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
    await audit(ctx.db, p, 'apikey.create', { type: 'api_key', id: row.id }, { name, scopes }, requestIdOf(res));
    res.status(201).json({ id: row.id, name, prefix, scopes: row.scopes, key, createdAt: row.createdAt.toISOString() });
  });

  router.delete('/keys/:id', async (req, res) => {
    input(req, ops.revokeKey);
    const p = principalOf(res);
    const id = String(req.params.id);
    const key = /^[0-9a-f-]{36}$/.test(id) ? await ctx.db.apiKey.findUnique({ where: { id } }) : null;
    if (!key || key.orgId !== p.orgId || key.revokedAt) throw notFound(`API key ${id}`);
    if (key.userId !== p.userId) requirePermission(p, 'admin');
    await ctx.db.apiKey.update({ where: { id }, data: { revokedAt: new Date() } });
    await ctx.invalidations.publish({ kind: 'api_key', hash: key.hash });
    await audit(ctx.db, p, 'apikey.revoke', { type: 'api_key', id }, { name: key.name }, requestIdOf(res));
    res.status(204).end();
  });

  return router;
}
