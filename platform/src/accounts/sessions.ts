import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { PrismaClient } from '@bmms/prisma';
import type { Request, Response } from 'express';

export const SESSION_COOKIE = 'bmms_session';
const SESSION_TTL_MS = 7 * 24 * 60 * 60 * 1000;
const TOUCH_RESOLUTION_MS = 60_000;

const hashToken = (token: string) => createHash('sha256').update(token).digest('hex');

/** The value of cookie `name` in a request, or undefined. */
export function cookieOf(req: Request, name: string): string | undefined {
  for (const part of (req.get('cookie') ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq === -1) continue;
    if (part.slice(0, eq).trim() === name) {
      try {
        return decodeURIComponent(part.slice(eq + 1).trim());
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

/** Sets a cookie the platform's way: HttpOnly, SameSite=Lax, Secure over https. */
export function setCookie(req: Request, res: Response, name: string, value: string, maxAgeMs: number): void {
  res.cookie(name, value, { httpOnly: true, sameSite: 'lax', secure: req.secure, path: '/', maxAge: maxAgeMs });
}

/** Browser sessions: the cookie holds a random token, the database its SHA-256. */
export class WebSessions {
  readonly #db: PrismaClient;
  readonly #csrfKey: Buffer;

  constructor(deps: { db: PrismaClient; csrfKey: Buffer }) {
    this.#db = deps.db;
    this.#csrfKey = deps.csrfKey;
  }

  /** Starts a session for `userId` and sets its cookie; returns the CSRF token for it. */
  async start(req: Request, res: Response, userId: string): Promise<string> {
    const token = randomBytes(32).toString('base64url');
    await this.#db.webSession.create({
      data: { id: hashToken(token), userId, expiresAt: new Date(Date.now() + SESSION_TTL_MS) },
    });
    setCookie(req, res, SESSION_COOKIE, token, SESSION_TTL_MS);
    return this.csrfToken(token);
  }

  /** The user of the request's session cookie, with the session's token, or null. */
  async resolve(req: Request): Promise<{ userId: string; token: string } | null> {
    const token = cookieOf(req, SESSION_COOKIE);
    if (!token || token.length > 100) return null;
    const row = await this.#db.webSession.findUnique({ where: { id: hashToken(token) } });
    if (!row || row.expiresAt.getTime() <= Date.now()) return null;
    if (Date.now() - row.lastSeenAt.getTime() > TOUCH_RESOLUTION_MS) {
      await this.#db.webSession.update({ where: { id: row.id }, data: { lastSeenAt: new Date() } });
    }
    return { userId: row.userId, token };
  }

  /** Ends the request's session (if any) and clears its cookie. */
  async end(req: Request, res: Response): Promise<void> {
    const token = cookieOf(req, SESSION_COOKIE);
    if (token) await this.#db.webSession.deleteMany({ where: { id: hashToken(token) } });
    res.clearCookie(SESSION_COOKIE, { path: '/' });
  }

  /** The CSRF token bound to a session token (sent back in X-CSRF-Token on unsafe requests). */
  csrfToken(sessionToken: string): string {
    return createHmac('sha256', this.#csrfKey).update(`session|${sessionToken}`).digest('base64url');
  }

  /** Whether `given` is the CSRF token of `sessionToken`. */
  checkCsrf(sessionToken: string, given: string | undefined): boolean {
    return safeEqual(this.csrfToken(sessionToken), given);
  }
}

/** Constant-time string comparison; false when `given` is missing. */
export function safeEqual(expected: string, given: string | undefined): boolean {
  if (given === undefined) return false;
  const a = Buffer.from(expected);
  const b = Buffer.from(given);
  return a.length === b.length && timingSafeEqual(a, b);
}
