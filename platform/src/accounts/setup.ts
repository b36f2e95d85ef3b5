import { createHash, randomBytes } from 'node:crypto';
import type { PrismaClient } from '@bmms/prisma';
import express, { Router } from 'express';
import { audit } from '../audit.ts';
import { emailTaken, invalidRequest, invalidSetupLink } from '../errors.ts';
import { storableInput } from '../http/middleware.ts';
import { hashPassword, passwordProblem } from './passwords.ts';
import type { WebSessions } from './sessions.ts';

/** What using a set-password link needs. */
export interface SetupDeps {
  /** The link's row, the user, their membership and the audit log. */
  db: PrismaClient;
  /** Signs the browser in once the password is set. */
  sessions: WebSessions;
}

/** How long a set-password link works. */
export const SETUP_LINK_TTL_MS = 30 * 60 * 1000;
const PREFIX = 'bmms_setup_';
const EMAIL = /^[^\s@]{1,64}@[^\s@]{1,255}$/;

/**
 * Set-password links live as rows of the session table under their own id space (`setup:<sha256>`):
 * a browser's session cookie is hashed without that prefix, so a link can never be used as a session,
 * and using it deletes the row (single use).
 */
const rowId = (token: string) => `setup:${createHash('sha256').update(token).digest('hex')}`;

/** The path of the page that takes a link's token (in the fragment, so it reaches no log and no Referer). */
export const setupPath = (token: string) => `/setup/#${token}`;

/** Issues a single-use set-password link token for `userId`, valid for 30 minutes. */
export async function issueSetupToken(db: PrismaClient, userId: string): Promise<{ token: string; expiresAt: Date }> {
  const token = `${PREFIX}${randomBytes(24).toString('base64url')}`;
  const expiresAt = new Date(Date.now() + SETUP_LINK_TTL_MS);
  await db.webSession.create({ data: { id: rowId(token), userId, expiresAt } });
  return { token, expiresAt };
}

/** The first-start owner while they have no password yet (their link belongs in the start banner), or null. */
export async function ownerWithoutPassword(db: PrismaClient): Promise<{ id: string } | null> {
  const owner = await db.membership.findFirst({
    where: { role: 'owner', user: { passwordHash: null } },
    orderBy: { createdAt: 'asc' },
    select: { userId: true },
  });
  return owner ? { id: owner.userId } : null;
}

const invalidLink = invalidSetupLink;

/**
 * POST /auth/setup {token, password, email?}: uses a set-password link once, sets the password (and the
 * sign-in email, which the first-start owner has as owner@localhost) and signs the browser in.
 */
export function setupRouter(ctx: SetupDeps): Router {
  const router = Router();
  router.post('/setup', express.json({ limit: '16kb' }), storableInput(), async (req, res) => {
    const b = (req.body ?? {}) as Record<string, unknown>;
    const token = typeof b.token === 'string' && b.token.startsWith(PREFIX) && b.token.length < 100 ? b.token : '';
    const problem = passwordProblem(b.password);
    if (problem) throw invalidRequest(problem, { field: 'password' });
    const email = typeof b.email === 'string' && b.email.trim() ? b.email.trim().toLowerCase() : undefined;
    if (email !== undefined && !EMAIL.test(email)) {
      throw invalidRequest('"email" must be an email address', { field: 'email' });
    }
    if (!token) throw invalidLink();
    // Deleting first makes the link single-use even under two racing requests: only one deletes the row.
    const row = await ctx.db.webSession.findUnique({ where: { id: rowId(token) } });
    const { count } = await ctx.db.webSession.deleteMany({ where: { id: rowId(token) } });
    if (!row || count === 0 || row.expiresAt.getTime() <= Date.now()) throw invalidLink();
    if (email) {
      const other = await ctx.db.user.findUnique({ where: { email } });
      if (other && other.id !== row.userId) {
        throw emailTaken('setup');
      }
    }
    const user = await ctx.db.user.update({
      where: { id: row.userId },
      data: { passwordHash: await hashPassword(b.password as string), ...(email ? { email } : {}) },
    });
    const membership = await ctx.db.membership.findFirst({ where: { userId: user.id }, orderBy: { createdAt: 'asc' } });
    if (membership) {
      await audit(
        ctx.db,
        { userId: user.id, orgId: membership.orgId, apiKeyId: null, role: membership.role, scopes: [] },
        'user.password',
        { type: 'user', id: user.id },
        { via: 'setup-link' },
        res.locals.requestId as string,
      );
    }
    const csrfToken = await ctx.sessions.start(req, res, user.id);
    res.json({ user: { id: user.id, email: user.email, name: user.name }, csrfToken });
  });
  return router;
}
