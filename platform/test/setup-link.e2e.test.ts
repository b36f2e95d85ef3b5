import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { welcome } from '../src/boot.ts';
import { TestStack } from './harness.ts';

const PASSWORD = 'a long enough password';

/** POSTs /auth/setup; returns the status, the error code and the session cookie it set. */
async function useLink(stack: TestStack, body: Record<string, unknown>) {
  const res = await fetch(`${stack.url}/auth/setup`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const json = (await res.json()) as { error?: { code: string; message: string }; csrfToken?: string };
  const cookie = /bmms_session=([^;]+)/.exec(res.headers.get('set-cookie') ?? '')?.[1];
  return { status: res.status, code: json.error?.code, message: json.error?.message, cookie, csrf: json.csrfToken };
}

describe('the first-run set-password link', () => {
  let stack: TestStack;

  beforeAll(async () => {
    stack = await TestStack.start();
  });
  afterAll(async () => {
    await stack?.destroy();
  });

  it('is printed in the start banner while the owner has no password, as a fragment (never sent to a server)', () => {
    const token = stack.platform.setupToken ?? '';
    expect(token).toMatch(/^bmms_setup_[A-Za-z0-9_-]{32}$/);
    expect(welcome(stack.platform, stack.dataDir)).toContain(`${stack.url}/setup/#${token}`);
  });

  it('cannot be used as a session cookie', async () => {
    const res = await fetch(`${stack.url}/auth/session`, {
      headers: { cookie: `bmms_session=${stack.platform.setupToken}` },
    });
    expect(res.status).toBe(401);
  });

  it('sets the password and the email once, signs the browser in, and is refused the second time', async () => {
    const token = stack.platform.setupToken;
    const weak = await useLink(stack, { token, password: 'short' });
    expect(weak).toMatchObject({ status: 400, code: 'invalid_request' });

    const first = await useLink(stack, { token, password: PASSWORD, email: 'Owner@Example.com' });
    expect(first.status).toBe(200);
    expect(first.cookie).toBeTruthy();
    const session = await fetch(`${stack.url}/auth/session`, { headers: { cookie: `bmms_session=${first.cookie}` } });
    expect(((await session.json()) as { user: { email: string } }).user.email).toBe('owner@example.com');
    const dashboard = await fetch(`${stack.url}/dashboard/`, {
      headers: { cookie: `bmms_session=${first.cookie}` },
      redirect: 'manual',
    });
    expect(dashboard.status).toBe(200);

    const again = await useLink(stack, { token, password: 'another long password' });
    expect(again).toMatchObject({ status: 400, code: 'invalid_setup_link' });
    const login = await fetch(`${stack.url}/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'owner@example.com', password: PASSWORD }),
    });
    expect(login.status).toBe(200);
  });

  it('is refused when unknown or malformed', async () => {
    for (const token of [undefined, 'bmms_setup_nope', 'x'.repeat(500), 42]) {
      expect(await useLink(stack, { token, password: PASSWORD })).toMatchObject({
        status: 400,
        code: 'invalid_setup_link',
      });
    }
  });

  it('can be issued again with the owner’s API key (and not without a credential)', async () => {
    const anonymous = await stack.api('POST', '/api/v1/me/setup-link', undefined, { key: null });
    expect(anonymous.status).toBe(401);
    const issued = await stack.api<{ url: string; expiresAt: string }>('POST', '/api/v1/me/setup-link');
    expect(issued.status).toBe(201);
    expect(issued.body.url).toMatch(new RegExp(`^${stack.url}/setup/#bmms_setup_`));
    const minutes = (new Date(issued.body.expiresAt).getTime() - Date.now()) / 60_000;
    expect(minutes).toBeGreaterThan(25);
    expect(minutes).toBeLessThanOrEqual(30);
    const token = issued.body.url.split('#')[1];
    const used = await useLink(stack, { token, password: 'the owner forgot it' });
    expect(used.status).toBe(200);
  });

  it('is refused to a member other than an owner once their account has a password', async () => {
    const invite = await stack.api<{ token: string }>('POST', '/api/v1/org/invitations', {
      email: 'dev@example.com',
      role: 'developer',
    });
    expect(invite.status).toBe(201);
    const signup = await fetch(`${stack.url}/auth/signup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'dev@example.com', password: PASSWORD, invitation: invite.body.token }),
    });
    expect(signup.status).toBe(201);
    const { csrfToken } = (await signup.json()) as { csrfToken: string };
    const cookie = (signup.headers.get('set-cookie') ?? '').split(';')[0] as string;
    const key = await stack.api<{ key: string }>(
      'POST',
      '/api/v1/keys',
      { name: 'dev' },
      { key: null, headers: { cookie, 'x-csrf-token': csrfToken } },
    );
    expect(key.status).toBe(201);
    const refused = await stack.api<{ error: { code: string } }>('POST', '/api/v1/me/setup-link', undefined, {
      key: key.body.key,
    });
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe('forbidden');
  });

  it('refuses an email another account uses, naming the field', async () => {
    const issued = await stack.api<{ url: string }>('POST', '/api/v1/me/setup-link');
    const res = await fetch(`${stack.url}/auth/setup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: issued.body.url.split('#')[1], password: PASSWORD, email: 'dev@example.com' }),
    });
    expect(res.status).toBe(409);
    expect(await res.json()).toEqual({
      error: {
        code: 'email_taken',
        message: 'another account uses this email: choose another',
        details: { field: 'email' },
      },
    });
  });

  it('expires', async () => {
    const issued = await stack.api<{ url: string }>('POST', '/api/v1/me/setup-link');
    const token = issued.body.url.split('#')[1] ?? '';
    await stack.platform.ctx.db.webSession.updateMany({
      where: { id: { startsWith: 'setup:' } },
      data: { expiresAt: new Date(Date.now() - 1000) },
    });
    expect(await useLink(stack, { token, password: PASSWORD })).toMatchObject({
      status: 400,
      code: 'invalid_setup_link',
    });
  });
});
