import { createHmac, randomBytes } from 'node:crypto';
import type { PrismaClient } from '@bmms/prisma';
import type { Request, Response } from 'express';
import * as oidc from 'openid-client';
import type { Logger } from '../logger.ts';
import { cookieOf, safeEqual } from './sessions.ts';

/** The company identity provider people may sign in with (BMMS_OIDC_*). */
export interface ExternalIdpConfig {
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** What the sign-in button says: "Sign in with <name>". */
  name: string;
}

/** Why an external sign-in did not produce an account. */
export class ExternalSignInError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ExternalSignInError';
  }
}

const FLOW_COOKIE = 'bmms_oidc_flow';
const FLOW_TTL_MS = 10 * 60_000;
const LOOPBACK = /^http:\/\/(127\.0\.0\.1|localhost|\[::1\])(:\d+)?(\/|$)/;

interface Flow {
  state: string;
  nonce: string;
  verifier: string;
  /** The OAuth interaction to finish, or undefined for a plain browser sign-in. */
  uid: string | undefined;
  exp: number;
}

/**
 * Sign-in with an external OpenID provider through openid-client: authorization code + PKCE + nonce,
 * the flow's secrets in a signed HttpOnly cookie. An identity maps to a user by (issuer, subject); a first
 * sign-in links an existing user with the same verified email, or accepts a pending invitation for it.
 */
export class ExternalSignIn {
  readonly config: ExternalIdpConfig;
  readonly #db: PrismaClient;
  readonly #log: Logger;
  readonly #key: Buffer;
  readonly #callbackUrl: (req: Request) => string;
  #client: Promise<oidc.Configuration> | undefined;

  constructor(deps: {
    config: ExternalIdpConfig;
    db: PrismaClient;
    log: Logger;
    key: Buffer;
    /** The absolute URL of GET /auth/oidc/callback. */
    callbackUrl: (req: Request) => string;
  }) {
    this.config = deps.config;
    this.#db = deps.db;
    this.#log = deps.log;
    this.#key = deps.key;
    this.#callbackUrl = deps.callbackUrl;
  }

  /** Discovery, once (retried after a failure). */
  #configuration(): Promise<oidc.Configuration> {
    this.#client ??= oidc
      .discovery(new URL(this.config.issuer), this.config.clientId, this.config.clientSecret, undefined, {
        // Plain http only for a provider on this machine (development, tests).
        ...(LOOPBACK.test(this.config.issuer) ? { execute: [oidc.allowInsecureRequests] } : {}),
      })
      .catch((err: unknown) => {
        this.#client = undefined;
        throw err;
      });
    return this.#client;
  }

  /** Redirects the browser to the provider; `uid` is the OAuth interaction to finish afterwards. */
  async start(req: Request, res: Response, uid: string | undefined): Promise<void> {
    const config = await this.#configuration();
    const flow: Flow = {
      state: oidc.randomState(),
      nonce: oidc.randomNonce(),
      verifier: oidc.randomPKCECodeVerifier(),
      uid,
      exp: Date.now() + FLOW_TTL_MS,
    };
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: this.#callbackUrl(req),
      scope: 'openid email profile',
      code_challenge: await oidc.calculatePKCECodeChallenge(flow.verifier),
      code_challenge_method: 'S256',
      state: flow.state,
      nonce: flow.nonce,
    });
    res.cookie(FLOW_COOKIE, this.#sign(flow), {
      httpOnly: true,
      sameSite: 'lax',
      secure: req.secure,
      path: '/auth/oidc',
      maxAge: FLOW_TTL_MS,
    });
    res.redirect(303, url.toString());
  }

  /** Completes the provider's redirect: the account id and the interaction to finish. */
  async callback(req: Request, res: Response): Promise<{ userId: string; uid: string | undefined }> {
    const flow = this.#verify(cookieOf(req, FLOW_COOKIE));
    res.clearCookie(FLOW_COOKIE, { path: '/auth/oidc' });
    if (!flow) throw new ExternalSignInError('the sign-in took too long or was started elsewhere: start again');
    const config = await this.#configuration();
    const current = new URL(req.originalUrl, this.#callbackUrl(req));
    let claims: oidc.IDToken | undefined;
    try {
      const tokens = await oidc.authorizationCodeGrant(config, current, {
        pkceCodeVerifier: flow.verifier,
        expectedState: flow.state,
        expectedNonce: flow.nonce,
        idTokenExpected: true,
      });
      claims = tokens.claims();
      // Many providers put email and name only in userinfo.
      if (claims && typeof claims.email !== 'string') {
        const info = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub);
        claims = { ...claims, email: info.email, email_verified: info.email_verified, name: info.name ?? claims.name };
      }
    } catch (err) {
      this.#log.warn('external sign-in refused', { err });
      throw new ExternalSignInError(`${this.config.name} did not confirm the sign-in: ${(err as Error).message}`);
    }
    if (!claims) throw new ExternalSignInError(`${this.config.name} returned no identity`);
    return { userId: await this.#userFor(claims), uid: flow.uid };
  }

  /** The user of an external identity: linked before, by verified email, or by a pending invitation. */
  async #userFor(claims: oidc.IDToken): Promise<string> {
    const issuer = claims.iss;
    const subject = claims.sub;
    const linked = await this.#db.externalIdentity.findUnique({ where: { issuer_subject: { issuer, subject } } });
    if (linked) return linked.userId;
    const email = typeof claims.email === 'string' ? claims.email.trim().toLowerCase() : '';
    if (!email || claims.email_verified !== true) {
      throw new ExternalSignInError(`${this.config.name} did not give a verified email address`);
    }
    const name = typeof claims.name === 'string' && claims.name ? claims.name.slice(0, 100) : email.split('@')[0];
    return this.#db.$transaction(async (tx) => {
      let user = await tx.user.findUnique({ where: { email } });
      if (!user) {
        const invitation = await tx.invitation.findFirst({
          where: { email, acceptedAt: null, expiresAt: { gt: new Date() } },
          orderBy: { createdAt: 'desc' },
        });
        if (!invitation) {
          throw new ExternalSignInError(`there is no account or invitation for ${email}: ask an admin to invite you`);
        }
        user = await tx.user.create({ data: { email, name: name as string } });
        await tx.membership.create({ data: { orgId: invitation.orgId, userId: user.id, role: invitation.role } });
        await tx.invitation.update({ where: { id: invitation.id }, data: { acceptedAt: new Date() } });
      }
      await tx.externalIdentity.create({ data: { issuer, subject, userId: user.id } });
      return user.id;
    });
  }

  #sign(flow: Flow): string {
    const payload = Buffer.from(JSON.stringify(flow)).toString('base64url');
    return `${payload}.${createHmac('sha256', this.#key).update(payload).digest('base64url')}`;
  }

  #verify(cookie: string | undefined): Flow | undefined {
    const [payload, mac] = (cookie ?? '').split('.');
    if (!payload || !mac) return undefined;
    if (!safeEqual(createHmac('sha256', this.#key).update(payload).digest('base64url'), mac)) return undefined;
    const flow = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Flow;
    return flow.exp > Date.now() ? flow : undefined;
  }
}

/** A one-use proof that `userId` signed in externally for interaction `uid` (cookie scoped to that interaction). */
export function signInProof(key: Buffer, userId: string, uid: string): string {
  const payload = Buffer.from(
    JSON.stringify({ userId, uid, exp: Date.now() + 60_000, n: randomBytes(8).toString('hex') }),
  ).toString('base64url');
  return `${payload}.${createHmac('sha256', key).update(`proof|${payload}`).digest('base64url')}`;
}

/** The user id of a valid proof for `uid`, or undefined. */
export function checkSignInProof(key: Buffer, proof: string | undefined, uid: string): string | undefined {
  const [payload, mac] = (proof ?? '').split('.');
  if (!payload || !mac) return undefined;
  if (!safeEqual(createHmac('sha256', key).update(`proof|${payload}`).digest('base64url'), mac)) return undefined;
  const data = JSON.parse(Buffer.from(payload, 'base64url').toString()) as { userId: string; uid: string; exp: number };
  return data.uid === uid && data.exp > Date.now() ? data.userId : undefined;
}
