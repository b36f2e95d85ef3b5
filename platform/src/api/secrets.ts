import { parseManifest } from '@bmms/runner-template';
import { Router } from 'express';
import { requirePermission } from '../accounts/roles.ts';
import { audit } from '../audit.ts';
import type { PlatformContext } from '../context.ts';
import { forbidden } from '../errors.ts';
import { resealSigningKeys } from '../oauth/keys.ts';
import { type SecretInfo, validateName } from '../secrets/store.ts';
import { findServer } from '../services/servers.ts';
import { input } from './operation.ts';
import { ops } from './operations.ts';
import { principalOf, requestIdOf } from './request.ts';

/** The secret names main's mcp.json declares ([] without a readable manifest). */
async function declaredSecrets(ctx: PlatformContext, serverName: string): Promise<string[]> {
  try {
    const text = await ctx.git.readFile(serverName, 'main', 'mcp.json');
    return text === null ? [] : parseManifest(text).secrets;
  } catch {
    return [];
  }
}

const view = (s: SecretInfo, declared: string[]) => ({
  name: s.name,
  declared: declared.includes(s.name),
  keyVersion: s.keyVersion,
  createdAt: s.createdAt.toISOString(),
  updatedAt: s.updatedAt.toISOString(),
});

/** Secrets of a server (names and dates only, never values) and master-key rotation; mounted inside /api/v1. */
export function secretsRouter(ctx: PlatformContext): Router {
  const router = Router();
  const principal = principalOf;
  const requestId = requestIdOf;

  router.get('/servers/:name/secrets', async (req, res) => {
    input(req, ops.listSecrets);
    const p = principal(res);
    requirePermission(p, 'read');
    const server = await findServer(ctx, p, req.params.name);
    const [secrets, declared] = await Promise.all([ctx.secrets.list(server.id), declaredSecrets(ctx, server.name)]);
    const set = new Set(secrets.map((s) => s.name));
    res.json({
      secrets: secrets.map((s) => view(s, declared)),
      missing: declared.filter((n) => !set.has(n)),
    });
  });

  router.put('/servers/:name/secrets/:secret', async (req, res) => {
    const { body } = input(req, ops.setSecret);
    const p = principal(res);
    requirePermission(p, 'write');
    const server = await findServer(ctx, p, req.params.name);
    validateName(req.params.secret);
    const { created, info } = await ctx.secrets.set(server.id, req.params.secret, body.value);
    await audit(
      ctx.db,
      p,
      created ? 'secret.create' : 'secret.update',
      { type: 'server', id: server.id },
      { server: server.name, secret: info.name, keyVersion: info.keyVersion },
      requestId(res),
    );
    ctx.reconciler.wake(server.name);
    res.status(created ? 201 : 200).json(view(info, await declaredSecrets(ctx, server.name)));
  });

  router.delete('/servers/:name/secrets/:secret', async (req, res) => {
    input(req, ops.deleteSecret);
    const p = principal(res);
    requirePermission(p, 'write');
    const server = await findServer(ctx, p, req.params.name);
    await ctx.secrets.delete(server.id, req.params.secret, server.name);
    await audit(
      ctx.db,
      p,
      'secret.delete',
      { type: 'server', id: server.id },
      { server: server.name, secret: req.params.secret },
      requestId(res),
    );
    ctx.reconciler.wake(server.name);
    res.status(204).end();
  });

  router.post('/admin/rotate-master-key', async (req, res) => {
    input(req, ops.rotateMasterKey);
    const p = principal(res);
    // Rotation re-encrypts every org's secrets: only the owner of the operator's org (the first one) may.
    const operator = await ctx.db.org.findFirst({ orderBy: { createdAt: 'asc' } });
    if (p.role !== 'owner' || p.orgId !== operator?.id) {
      throw forbidden(
        "rotating the master key re-encrypts every org's secrets: only the platform operator's owner may",
      );
    }
    const result = await ctx.secrets.rotate();
    // The authorization server's signing keys are sealed under the same keyring.
    await resealSigningKeys(ctx.db, ctx.secrets, result.keyVersion);
    await audit(ctx.db, p, 'secrets.rotate', { type: 'platform', id: operator.id }, result, requestId(res));
    res.json(result);
  });

  return router;
}
