import type { PrismaClient } from '@bmms/prisma';
import { Router } from 'express';
import { audit } from '../audit.ts';
import { forbidden } from '../errors.ts';
import type { AuthorizationServer } from '../oauth/server.ts';
import { input } from './operation.ts';
import { ops } from './operations.ts';
import { principalOf, requestIdOf } from './request.ts';

/** What rotating the authorization server's signing key needs. */
export interface SigningKeyApiDeps {
  /** The operator org and the audit log. */
  db: PrismaClient;
  /** Rotates its signing key. */
  oauth: AuthorizationServer;
}

/** POST /api/v1/admin/rotate-signing-key: the authorization server signs with a new key (the operator's owner only). */
export function signingKeyRouter(ctx: SigningKeyApiDeps): Router {
  const router = Router();

  router.post('/admin/rotate-signing-key', async (req, res) => {
    input(req, ops.rotateSigningKey);
    const p = principalOf(res);
    const operator = await ctx.db.org.findFirst({ orderBy: { createdAt: 'asc' } });
    if (p.role !== 'owner' || p.orgId !== operator?.id) {
      throw forbidden(
        "rotating the authorization server's signing key affects every org: only the platform operator's owner may",
      );
    }
    const kid = await ctx.oauth.rotateSigningKey();
    await audit(
      ctx.db,
      p,
      'oauth.rotate_signing_key',
      { type: 'platform', id: operator.id },
      { kid },
      requestIdOf(res),
    );
    res.json({ kid });
  });

  return router;
}
