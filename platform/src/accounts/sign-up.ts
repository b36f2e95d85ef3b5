import { randomBytes } from 'node:crypto';
import { Router } from 'express';
import { audit } from '../audit.ts';
import type { PlatformContext } from '../context.ts';
import { ApiError, forbidden, invalidRequest } from '../errors.ts';
import { EMAIL, formBody, normalizeEmail, userView } from './forms.ts';
import { hashInvitation, type SignupMode } from './invitations.ts';
import { hashPassword, passwordProblem } from './passwords.ts';

/**
 * POST /auth/signup: a new account with a password, joining the org of its invitation or, where sign-up is
 * open, founding an org of its own; the answer signs it in.
 */
export function signUpRoutes(ctx: PlatformContext, options: { signup: SignupMode }): Router {
  const router = Router();
  const body = formBody;

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
      throw new ApiError('invalid_invitation', 400, 'the invitation is unknown, used or expired: ask for a new one');
    }
    if (invitation && invitation.email !== email) {
      throw new ApiError('invalid_invitation', 400, `this invitation is for ${invitation.email}`);
    }
    if (!invitation && options.signup !== 'open') {
      throw forbidden('sign-up is by invitation only on this platform: ask an admin of your organization');
    }
    if (await ctx.db.user.findUnique({ where: { email } })) {
      throw new ApiError('email_taken', 409, 'an account with this email exists: sign in instead');
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

  return router;
}
