import { createHash, randomBytes } from 'node:crypto';
import type { PrismaClient } from '@bmms/prisma';
import express, { type Request, Router } from 'express';
import { audit } from '../audit.ts';
import {
  csrfFailed,
  emailTaken,
  forbidden,
  invalidInvitation,
  invalidRequest,
  tooManyAttempts,
  unauthorized,
} from '../errors.ts';
import { storableInput } from '../http/middleware.ts';
import { DUMMY_HASH, hashPassword, passwordProblem, verifyPassword } from './passwords.ts';
import type { WebSessions } from './sessions.ts';
import type { SignupMode } from './signup.ts';
import type { LoginThrottle } from './throttle.ts';

/** What sign-up, sign-in and sign-out need. */
export interface AuthRouterDeps {
  /** Users, orgs, memberships, invitations and the audit log. */
  db: PrismaClient;
  /** Browser sign-in sessions. */
  sessions: WebSessions;
  /** Failed sign-ins, one count for this form and the OAuth sign-in page. */
  logins: LoginThrottle;
}

const EMAIL = /^[^\s@]{1,64}@[^\s@]{1,255}$/;

/** SHA-256 of an invitation token (only the hash is stored). */
export const hashInvitation = (token: string) => createHash('sha256').update(token).digest('hex');

/** A new invitation token (shown once). */
export const newInvitationToken = () => `bmms_inv_${randomBytes(24).toString('base64url')}`;

const normalizeEmail = (value: unknown) => (typeof value === 'string' ? value.trim().toLowerCase() : '');

/**
 * Sign-up, sign-in and sign-out for browsers at /auth (JSON or form posts). A session cookie
 * (HttpOnly, SameSite=Lax) carries the session; API calls with it need the returned X-CSRF-Token.
 */
export function authRouter(ctx: AuthRouterDeps, options: { signup: SignupMode }): Router {
  const router = Router();
  router.use(express.json({ limit: '16kb' }), express.urlencoded({ extended: false, limit: '16kb' }), storableInput());
  const { logins } = ctx;
  const body = (req: Request) => (req.body ?? {}) as Record<string, unknown>;
  const userView = (u: { id: string; email: string; name: string }) => ({ id: u.id, email: u.email, name: u.name });

  router.post('/signup', async (req, res) => {
    const b = body(req);
    const email = normalizeEmail(b.email);
    if (!EMAIL.test(email)) throw invalidRequest('"email" must be an email address');
    const problem = passwordProblem(b.password);
    if (problem) throw invalidRequest(problem);
    const name = typeof b.name === 'string' && b.name.trim() ? b.name.trim().slice(0, 100) : email.split('@')[0];
    const token = typeof b.invitation === 'string' ? b.invitation : undefined;
    const invitation = token
      ? await ctx.db.invitation.findUnique({ where: { tokenHash: hashInvitation(token) } })
      : null;
    if (token && (!invitation || invitation.acceptedAt || invitation.expiresAt.getTime() <= Date.now())) {
      throw invalidInvitation();
    }
    if (invitation && invitation.email !== email) {
      throw invalidInvitation(invitation.email);
    }
    if (!invitation && options.signup !== 'open') {
      throw forbidden('sign-up is by invitation only on this platform: ask an admin of your organization');
    }
    if (await ctx.db.user.findUnique({ where: { email } })) {
      throw emailTaken('signup');
    }
    const passwordHash = await hashPassword(b.password as string);
    const { user, orgId } = await ctx.db.$transaction(async (tx) => {
      const user = await tx.user.create({ data: { email, name: name as string, passwordHash } });
      let orgId: string;
      if (invitation) {
        orgId = invitation.orgId;
        await tx.membership.create({ data: { orgId, userId: user.id, role: invitation.role } });
        await tx.invitation.update({ where: { id: invitation.id }, data: { acceptedAt: new Date() } });
      } else {
        const slug = `${
          email
            .split('@')[0]
            ?.replace(/[^a-z0-9]+/g, '-')
            .slice(0, 30) || 'org'
        }-${randomBytes(3).toString('hex')}`;
        const org = await tx.org.create({ data: { slug, name: `${name}'s organization` } });
        orgId = org.id;
        await tx.membership.create({ data: { orgId, userId: user.id, role: 'owner' } });
      }
      return { user, orgId };
    });
    await audit(
      ctx.db,
      { userId: user.id, orgId, apiKeyId: null, role: invitation?.role ?? 'owner', scopes: [] },
      invitation ? 'member.join' : 'user.signup',
      { type: 'user', id: user.id, orgId },
      invitation ? { role: invitation.role } : {},
      res.locals.requestId as string,
    );
    const csrfToken = await ctx.sessions.start(req, res, user.id);
    res.status(201).json({ user: userView(user), csrfToken });
  });

  router.post('/login', async (req, res) => {
    const b = body(req);
    const email = normalizeEmail(b.email);
    const password = typeof b.password === 'string' ? b.password : '';
    const ip = `ip:${req.ip ?? 'unknown'}`;
    const wait = logins.retryAfter(email, ip);
    if (wait > 0) {
      throw tooManyAttempts(wait);
    }
    const user = email ? await ctx.db.user.findUnique({ where: { email } }) : null;
    const ok = await verifyPassword(password, user?.passwordHash ?? DUMMY_HASH);
    if (!user || !ok) {
      logins.fail(email, ip);
      throw unauthorized('wrong email or password');
    }
    logins.succeed(email);
    const membership = await ctx.db.membership.findFirst({ where: { userId: user.id }, orderBy: { createdAt: 'asc' } });
    const actor = { userId: user.id, orgId: membership?.orgId ?? '', apiKeyId: null, role: '', scopes: [] };
    await audit(ctx.db, actor, 'user.login', { type: 'user', id: user.id, orgId: membership?.orgId }, {});
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
      throw csrfFailed();
    }
    await ctx.sessions.end(req, res);
    if (session) {
      const membership = await ctx.db.membership.findFirst({
        where: { userId: session.userId },
        orderBy: { createdAt: 'asc' },
      });
      const actor = { userId: session.userId, orgId: membership?.orgId ?? '', apiKeyId: null, role: '', scopes: [] };
      await audit(ctx.db, actor, 'user.logout', { type: 'user', id: session.userId, orgId: membership?.orgId }, {});
    }
    res.status(204).end();
  });

  return router;
}
