import express, { Router } from 'express';
import type { PlatformContext } from '../context.ts';
import type { SignupMode } from './invitations.ts';
import { signInRoutes } from './sign-in.ts';
import { signUpRoutes } from './sign-up.ts';

/**
 * Sign-up, sign-in and sign-out for browsers at /auth (JSON or form posts). A session cookie
 * (HttpOnly, SameSite=Lax) carries the session; API calls with it need the returned X-CSRF-Token.
 */
export function authRouter(ctx: PlatformContext, options: { signup: SignupMode }): Router {
  const router = Router();
  router.use(express.json({ limit: '16kb' }), express.urlencoded({ extended: false, limit: '16kb' }));
  router.use(signUpRoutes(ctx, options), signInRoutes(ctx));
  return router;
}
