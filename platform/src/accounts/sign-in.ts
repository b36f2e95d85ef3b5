import { Router } from 'express';
import type { PlatformContext } from '../context.ts';
import { ApiError, unauthorized } from '../errors.ts';
import { formBody, normalizeEmail, userView } from './forms.ts';
import { DUMMY_HASH, verifyPassword } from './passwords.ts';

/** POST /auth/login, GET /auth/session and POST /auth/logout: a browser session, its CSRF token, its end. */
export function signInRoutes(ctx: PlatformContext): Router {
  const router = Router();
  // One count of failures for this form and the OAuth sign-in page.
  const logins = ctx.oauth.logins;
  const body = formBody;

  router.post('/login', async (req, res) => {
    const b = body(req);
    const email = normalizeEmail(b.email);
    const password = typeof b.password === 'string' ? b.password : '';
    const ip = `ip:${req.ip ?? 'unknown'}`;
    const wait = logins.retryAfter(email, ip);
    if (wait > 0) {
      throw new ApiError('too_many_attempts', 429, `too many failed sign-ins; retry in ${wait} s`, {
        headers: { 'Retry-After': String(wait) },
      });
    }
    const user = email ? await ctx.db.user.findUnique({ where: { email } }) : null;
    const ok = await verifyPassword(password, user?.passwordHash ?? DUMMY_HASH);
    if (!user || !ok) {
      logins.fail(email, ip);
      throw unauthorized('wrong email or password');
    }
    logins.succeed(email);
    const csrfToken = await ctx.sessions.start(req, res, user.id);
    res.json({ user: userView(user), csrfToken });
  });

  router.get('/session', async (req, res) => {
    const session = await ctx.sessions.resolve(req);
    const user = session ? await ctx.db.user.findUnique({ where: { id: session.userId } }) : null;
    if (!session || !user) throw unauthorized('not signed in');
    res.json({ user: userView(user), csrfToken: ctx.sessions.csrfToken(session.token) });
  });

  router.post('/logout', async (req, res) => {
    const session = await ctx.sessions.resolve(req);
    if (session && !ctx.sessions.checkCsrf(session.token, req.get('x-csrf-token') ?? String(body(req).csrf ?? ''))) {
      throw new ApiError('csrf_failed', 403, 'send the X-CSRF-Token your sign-in returned');
    }
    await ctx.sessions.end(req, res);
    res.status(204).end();
  });

  return router;
}
