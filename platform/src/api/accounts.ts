import { Router } from 'express';
import { type InvitationsApiDeps, invitationsRouter } from './invitations.ts';
import { type KeysApiDeps, keysRouter } from './keys.ts';
import { type MeApiDeps, meRouter } from './me.ts';
import { membersRouter, type OrgApiDeps } from './members.ts';
import { type SigningKeyApiDeps, signingKeyRouter } from './signing-key.ts';

/** What the accounts routes need: what each of them needs. */
export type AccountsApiDeps = MeApiDeps & KeysApiDeps & OrgApiDeps & InvitationsApiDeps & SigningKeyApiDeps;

/**
 * Accounts under /api/v1: the caller (`/me`, password, connected OAuth clients), API keys, org members,
 * invitations, and the authorization server's signing-key rotation.
 */
export function accountsRouter(ctx: AccountsApiDeps): Router {
  const router = Router();
  router.use(meRouter(ctx), keysRouter(ctx), membersRouter(ctx), invitationsRouter(ctx), signingKeyRouter(ctx));
  return router;
}
