import { Router } from 'express';
import type { PlatformContext } from '../context.ts';
import { invitationsRouter } from './invitations.ts';
import { keysRouter } from './keys.ts';
import { meRouter } from './me.ts';
import { membersRouter } from './members.ts';
import { signingKeyRouter } from './signing-key.ts';

/**
 * Accounts under /api/v1: the caller (`/me`, password, connected OAuth clients), API keys, org members,
 * invitations, and the authorization server's signing-key rotation.
 */
export function accountsRouter(ctx: PlatformContext): Router {
  const router = Router();
  router.use(meRouter(ctx), keysRouter(ctx), membersRouter(ctx), invitationsRouter(ctx), signingKeyRouter(ctx));
  return router;
}
