import type { GitProvider } from '@bmms/gitserver';
import type { PrismaClient } from '@bmms/prisma';
import type { Reconciler } from '@bmms/reconciler';
import { parseManifest } from '@bmms/runner-template';
import { Router } from 'express';
import { requirePermission } from '../accounts/roles.ts';
import { audit } from '../audit.ts';
import { forbidden } from '../errors.ts';
import type { GitHubConnections } from '../github/connections.ts';
import { resealSigningKeys } from '../oauth/keys.ts';
import type { ReplayRecorder } from '../replay/recorder.ts';
import { type SecretInfo, type SecretStore, validateName } from '../secrets/store.ts';
import { findServer } from '../services/servers.ts';
import { input } from './operation.ts';
import { ops } from './operations.ts';
import { principalOf, requestIdOf } from './request.ts';

/** What the secrets routes need. */
export interface SecretsApiDeps {
  /** Servers, the operator org, signing keys and the audit log. */
  db: PrismaClient;
  /** main's mcp.json, which declares the secret names. */
  git: GitProvider;
  /** Per-server encrypted secrets. */
  secrets: SecretStore;
  /** The orgs' GitHub connections, sealed under the same master key. */
  githubConnections: Pick<GitHubConnections, 'reseal'>;
  /** Recorded calls for the replay check, sealed under the same master key. */
  replay: Pick<ReplayRecorder, 'reseal'>;
  /** Woken when a secret changed, so the server restarts with it. */
  reconciler: Reconciler;
}

/** The secret names main's mcp.json declares ([] without a readable manifest). */
async function declaredSecrets(ctx: Pick<SecretsApiDeps, 'git'>, serverName: string): Promise<string[]> {
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
export function secretsRouter(ctx: SecretsApiDeps): Router {
  const router = Router();

  router.get('/servers/:name/secrets', async (req, res) => {
    input(req, ops.listSecrets);
    const p = principalOf(res);
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
    const p = principalOf(res);
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
      requestIdOf(res),
    );
    ctx.reconciler.wake(server.name);
    res.status(created ? 201 : 200).json(view(info, await declaredSecrets(ctx, server.name)));
  });

  router.delete('/servers/:name/secrets/:secret', async (req, res) => {
    input(req, ops.deleteSecret);
    const p = principalOf(res);
    requirePermission(p, 'write');
    const server = await findServer(ctx, p, req.params.name);
    await ctx.secrets.delete(server.id, req.params.secret, server.name);
    await audit(
      ctx.db,
      p,
      'secret.delete',
      { type: 'server', id: server.id },
      { server: server.name, secret: req.params.secret },
      requestIdOf(res),
    );
    ctx.reconciler.wake(server.name);
    res.status(204).end();
  });

  router.post('/admin/rotate-master-key', async (req, res) => {
    input(req, ops.rotateMasterKey);
    const p = principalOf(res);
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
    await ctx.githubConnections.reseal(result.keyVersion);
    await ctx.replay.reseal(result.keyVersion);
    await audit(ctx.db, p, 'secrets.rotate', { type: 'platform', id: operator.id }, result, requestIdOf(res));
    res.json(result);
  });

  return router;
}
