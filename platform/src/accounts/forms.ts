import type { Request } from 'express';

// What the /auth forms share: their fields (JSON or form-encoded) and the user as they answer with it.

/** What an email address must look like. */
export const EMAIL = /^[^\s@]{1,64}@[^\s@]{1,255}$/;

/** The posted fields (`{}` without a body). */
export const formBody = (req: Request) => (req.body ?? {}) as Record<string, unknown>;

/** An email field, trimmed and lower-cased ('' when it is no string). */
export const normalizeEmail = (value: unknown) => (typeof value === 'string' ? value.trim().toLowerCase() : '');

/** The user as the /auth answers show it. */
export const userView = (u: { id: string; email: string; name: string }) => ({
  id: u.id,
  email: u.email,
  name: u.name,
});
