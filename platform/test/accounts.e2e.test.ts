import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestStack } from './harness.ts';

const PASSWORD = 'correct horse battery staple';

async function post(url: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

const cookieOf = (headers: Headers) => (headers.get('set-cookie') ?? '').split(';')[0] as string;

/** Accounts: sign-up, sign-in, sessions with CSRF, throttling, members, invitations and API keys. */
describe('accounts', () => {
  let stack: TestStack;

  beforeAll(async () => {
    stack = await TestStack.start({ signup: 'open' });
  }, 60_000);

  afterAll(async () => {
    await stack?.destroy();
  });

  it('signs up (open sign-up: a new org, owner), keeps a session, and needs the CSRF token to change things', async () => {
    const signup = await post(`${stack.url}/auth/signup`, {
      email: 'Ann@Example.com',
      password: PASSWORD,
      name: 'Ann',
    });
    expect(signup.status).toBe(201);
    expect(signup.body).toEqual({
      user: { id: expect.any(String), email: 'ann@example.com', name: 'Ann' },
      csrfToken: expect.any(String),
    });
    expect(signup.headers.get('set-cookie')).toMatch(
      /^bmms_session=[^;]+; Max-Age=\d+; Path=\/; Expires=[^;]+; HttpOnly; SameSite=Lax$/,
    );
    const cookie = cookieOf(signup.headers);
    const me = await stack.api<{ role: string; orgs: unknown[] }>('GET', '/api/v1/me', undefined, {
      key: null,
      headers: { cookie },
    });
    expect(me.status).toBe(200);
    expect(me.body.role).toBe('owner');
    const noCsrf = await stack.api(
      'POST',
      '/api/v1/servers',
      { name: 'anns', template: 'echo' },
      { key: null, headers: { cookie } },
    );
    expect(noCsrf.status).toBe(403);
    expect(noCsrf.body).toEqual({
      error: { code: 'csrf_failed', message: 'send the X-CSRF-Token your sign-in returned (GET /auth/session)' },
    });
    const session = await fetch(`${stack.url}/auth/session`, { headers: { cookie } });
    expect(((await session.json()) as { csrfToken: string }).csrfToken).toBe(signup.body.csrfToken);
    const logout = await post(
      `${stack.url}/auth/logout`,
      {},
      { cookie, 'x-csrf-token': signup.body.csrfToken as string },
    );
    expect(logout.status).toBe(204);
    expect((await stack.api('GET', '/api/v1/me', undefined, { key: null, headers: { cookie } })).status).toBe(401);
    const signedOut = await stack.platform.ctx.db.auditEvent.findMany({ where: { action: 'user.logout' } });
    expect(signedOut).toHaveLength(1);
    expect(signedOut[0]?.ip).toBeTruthy();
    // The other org's servers do not exist for Ann.
    const again = await post(`${stack.url}/auth/login`, { email: 'ann@example.com', password: PASSWORD });
    expect(again.status).toBe(200);
    const servers = await stack.api<{ servers: unknown[] }>('GET', '/api/v1/servers', undefined, {
      key: null,
      headers: { cookie: cookieOf(again.headers) },
    });
    expect(servers.body.servers).toEqual([]);
  });

  it('refuses weak passwords, taken emails and bad emails', async () => {
    expect((await post(`${stack.url}/auth/signup`, { email: 'b@example.com', password: 'short' })).body).toEqual({
      error: { code: 'invalid_request', message: 'the password must be at least 10 characters' },
    });
    const taken = await post(`${stack.url}/auth/signup`, { email: 'ann@example.com', password: PASSWORD });
    expect(taken.status).toBe(409);
    expect(taken.body).toEqual({
      error: { code: 'email_taken', message: 'an account with this email exists: sign in instead' },
    });
    expect((await post(`${stack.url}/auth/signup`, { email: 'nope', password: PASSWORD })).status).toBe(400);
  });

  it('answers a wrong password like an unknown email, then throttles with Retry-After', async () => {
    const wrong = await post(`${stack.url}/auth/login`, { email: 'ann@example.com', password: 'wrong password!' });
    const unknown = await post(`${stack.url}/auth/login`, { email: 'who@example.com', password: 'wrong password!' });
    expect(wrong.body).toEqual({ error: { code: 'unauthorized', message: 'wrong email or password' } });
    expect(unknown.body).toEqual(wrong.body);
    let last = wrong;
    for (let i = 0; i < 5; i++)
      last = await post(`${stack.url}/auth/login`, { email: 'ann@example.com', password: `guess ${i} xxxxx` });
    expect(last.status).toBe(429);
    expect((last.body as { error: { code: string } }).error.code).toBe('too_many_attempts');
    expect(Number(last.headers.get('retry-after'))).toBeGreaterThan(0);
    // Even the right password waits now.
    expect((await post(`${stack.url}/auth/login`, { email: 'ann@example.com', password: PASSWORD })).status).toBe(429);
  });

  it('invitations are single use and bound to their email; roles change; the last owner stays', async () => {
    const invite = await stack.api<{ token: string }>('POST', '/api/v1/org/invitations', {
      email: 'dev@example.com',
      role: 'developer',
    });
    expect(invite.status).toBe(201);
    expect(invite.body.token).toMatch(/^bmms_inv_/);
    const wrongEmail = await post(`${stack.url}/auth/signup`, {
      email: 'x@example.com',
      password: PASSWORD,
      invitation: invite.body.token,
    });
    expect(wrongEmail.body).toEqual({
      error: { code: 'invalid_invitation', message: 'this invitation is for dev@example.com' },
    });
    const ok = await post(`${stack.url}/auth/signup`, {
      email: 'dev@example.com',
      password: PASSWORD,
      invitation: invite.body.token,
    });
    expect(ok.status).toBe(201);
    const reuse = await post(`${stack.url}/auth/signup`, {
      email: 'dev@example.com',
      password: PASSWORD,
      invitation: invite.body.token,
    });
    expect((reuse.body as { error: { code: string } }).error.code).toBe('invalid_invitation');
    const devId = (ok.body.user as { id: string }).id;
    expect((await stack.api('PATCH', `/api/v1/org/members/${devId}`, { role: 'admin' })).body).toEqual({
      userId: devId,
      role: 'admin',
    });
    const me = await stack.api<{ user: { id: string } }>('GET', '/api/v1/me');
    const demote = await stack.api('PATCH', `/api/v1/org/members/${me.body.user.id}`, { role: 'admin' });
    expect(demote.status).toBe(409);
    expect((demote.body as { error: { code: string } }).error.code).toBe('last_owner');
  });

  it('API keys are shown once, listed without the key, and stop at revocation', async () => {
    const created = await stack.api<{ id: string; key: string; prefix: string; scopes: string[] }>(
      'POST',
      '/api/v1/keys',
      {
        name: 'ci',
        scopes: ['api', 'git'],
      },
    );
    expect(created.status).toBe(201);
    expect(created.body.key.startsWith(created.body.prefix)).toBe(true);
    const listed = await stack.api<{ keys: Record<string, unknown>[] }>('GET', '/api/v1/keys');
    const row = listed.body.keys.find((k) => k.id === created.body.id);
    expect(row).toMatchObject({ name: 'ci', scopes: ['api', 'git'], lastUsedAt: null });
    expect(JSON.stringify(listed.body)).not.toContain(created.body.key);
    expect((await stack.api('GET', '/api/v1/servers', undefined, { key: created.body.key })).status).toBe(200);
    const used = await stack.api<{ keys: Record<string, unknown>[] }>('GET', '/api/v1/keys');
    expect(used.body.keys.find((k) => k.id === created.body.id)?.lastUsedAt).toEqual(expect.any(String));
    expect((await stack.api('DELETE', `/api/v1/keys/${created.body.id}`)).status).toBe(204);
    expect((await stack.api('GET', '/api/v1/servers', undefined, { key: created.body.key })).status).toBe(401);
    const bad = await stack.api('POST', '/api/v1/keys', { name: 'x', scopes: ['root'] });
    expect(bad.status).toBe(400);
  });
});

describe('invitation-only sign-up (the default)', () => {
  let stack: TestStack;

  beforeAll(async () => {
    stack = await TestStack.start();
  }, 60_000);

  afterAll(async () => {
    await stack?.destroy();
  });

  it('refuses sign-up without an invitation', async () => {
    const res = await post(`${stack.url}/auth/signup`, { email: 'x@example.com', password: PASSWORD });
    expect(res).toMatchObject({
      status: 403,
      body: {
        error: {
          code: 'forbidden',
          message: 'sign-up is by invitation only on this platform: ask an admin of your organization',
        },
      },
    });
  });
});
