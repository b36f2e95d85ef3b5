import { createHash, randomBytes } from 'node:crypto';
import { importJWK, SignJWT } from 'jose';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSigningKeys } from '../src/oauth/keys.ts';
import { type ServerBody, TestStack } from './harness.ts';
import {
  Browser,
  connectWithOpenidClient,
  follow,
  formAction,
  type GrantedTokens,
  hiddenField,
  mcpPost,
  registerPublicClient,
  tokenRequest,
} from './oauth-helpers.ts';

const PASSWORD = 'correct horse battery staple';
const OWNER = { email: 'owner@localhost', password: PASSWORD };
const REDIRECT = 'http://127.0.0.1:45123/cb';

/** Acceptance: hostile input gets the exact refusal on the wire. */
describe('OAuth: hostile input', () => {
  let stack: TestStack;
  let alpha: ServerBody;
  let beta: ServerBody;
  let granted: GrantedTokens;

  beforeAll(async () => {
    stack = await TestStack.start({}, { oauth: { registrationLimit: { burst: 25, perMinute: 1 } } });
    expect((await stack.api('PUT', '/api/v1/me/password', { password: PASSWORD })).status).toBe(204);
    alpha = await stack.createAndDeploy('alpha');
    beta = await stack.createAndDeploy('beta');
    granted = await connectWithOpenidClient(stack.url, alpha.url, OWNER);
  }, 240_000);

  afterAll(async () => {
    await stack?.destroy();
  });

  const challenge = (server: ServerBody, error?: string) =>
    `Bearer resource_metadata="${stack.url}/.well-known/oauth-protected-resource/s/${server.name}/mcp", scope="mcp:tools"${
      error ? `, error="invalid_token", error_description="${error}"` : ''
    }`;

  /** A JWT signed with the platform's real current key, with `claims` overriding a valid access token's. */
  async function forge(claims: Record<string, unknown>, header: Record<string, unknown> = {}): Promise<string> {
    const { privateJwks } = await loadSigningKeys(stack.platform.ctx.db, stack.platform.ctx.secrets);
    const jwk = privateJwks[0] as { kid: string };
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({
      sub: (await stack.api<{ user: { id: string } }>('GET', '/api/v1/me')).body.user.id,
      client_id: granted.clientId,
      scope: 'mcp:tools',
      iss: `${stack.url}/oauth`,
      aud: alpha.url,
      iat: now,
      exp: now + 300,
      jti: randomBytes(8).toString('hex'),
      ...claims,
    })
      .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: jwk.kid, ...header })
      .sign(await importJWK(privateJwks[0] as Parameters<typeof importJWK>[0], 'ES256'));
  }

  it('a call without a token gets 401 with the resource metadata, which names the authorization server', async () => {
    const res = await fetch(alpha.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe(challenge(alpha));
    const meta = await (await fetch(`${stack.url}/.well-known/oauth-protected-resource/s/alpha/mcp`)).json();
    expect(meta).toEqual({
      resource: alpha.url,
      authorization_servers: [`${stack.url}/oauth`],
      scopes_supported: ['mcp:tools'],
      bearer_methods_supported: ['header'],
      resource_name: 'alpha',
    });
    const as = await (await fetch(`${stack.url}/.well-known/oauth-authorization-server/oauth`)).json();
    expect(as).toMatchObject({
      issuer: `${stack.url}/oauth`,
      code_challenge_methods_supported: ['S256'],
      registration_endpoint: `${stack.url}/oauth/reg`,
      response_types_supported: ['code'],
    });
  });

  it('the token works for its own server', async () => {
    const ok = await mcpPost(alpha.url, granted.accessToken);
    expect(ok.status).toBe(200);
  });

  it.each([
    [
      'a token for another server',
      async () => ({ token: granted.accessToken, server: 'beta' }),
      'the access token was issued for another resource',
    ],
    [
      'an expired token',
      async () => ({ token: await forge({ iat: 1_700_000_000, exp: 1_700_000_600 }), server: 'alpha' }),
      'the access token expired',
    ],
    [
      'alg none',
      async () => {
        const [, payload] = granted.accessToken.split('.');
        const header = Buffer.from(JSON.stringify({ alg: 'none', typ: 'at+jwt' })).toString('base64url');
        return { token: `${header}.${payload}.`, server: 'alpha' };
      },
      'the access token must be signed with ES256',
    ],
    [
      'a wrong issuer',
      async () => ({ token: await forge({ iss: 'https://evil.example/oauth' }), server: 'alpha' }),
      'the access token was not issued by this platform',
    ],
    [
      'a tampered signature',
      async () => {
        const [header, payload, signature] = granted.accessToken.split('.') as [string, string, string];
        const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
        const changed = Buffer.from(JSON.stringify({ ...claims, scope: 'mcp:tools admin' })).toString('base64url');
        return { token: `${header}.${changed}.${signature}`, server: 'alpha' };
      },
      'the access token signature is invalid',
    ],
    [
      'an ID token or other JWT type',
      async () => ({ token: await forge({}, { typ: 'JWT' }), server: 'alpha' }),
      'the token is not an access token (typ at+jwt)',
    ],
    ['garbage', async () => ({ token: 'not-a-jwt', server: 'alpha' }), 'the access token is malformed'],
  ])('refuses %s with 401 invalid_token', async (_what, make, message) => {
    const { token, server } = await make();
    const target = server === 'alpha' ? alpha : beta;
    const res = await mcpPost(target.url, token);
    expect(res.status).toBe(401);
    expect(res.body).toEqual({ error: { code: 'invalid_token', message } });
    expect(res.headers.get('www-authenticate')).toBe(challenge(target, message));
  });

  /** An authorization request of a freshly registered client; `params` override or remove (undefined) fields. */
  async function authorize(params: Record<string, string | undefined>, browser?: Browser) {
    const client = { client_id: await registerPublicClient(stack.url, REDIRECT, 'hostile') };
    const verifier = oidc.randomPKCECodeVerifier();
    const url = new URL(`${stack.url}/oauth/auth`);
    const all: Record<string, string | undefined> = {
      client_id: client.client_id,
      response_type: 'code',
      redirect_uri: REDIRECT,
      scope: 'mcp:tools',
      resource: alpha.url,
      state: 'st',
      code_challenge: createHash('sha256').update(verifier).digest('base64url'),
      code_challenge_method: 'S256',
      ...params,
    };
    for (const [k, v] of Object.entries(all)) if (v !== undefined) url.searchParams.set(k, v);
    const res = browser ? await browser.fetch(url.toString()) : await fetch(url, { redirect: 'manual' });
    return { res, location: res.headers.get('location'), clientId: client.client_id, verifier };
  }

  it('refuses an authorization request without PKCE (error back to the client)', async () => {
    const { res, location } = await authorize({ code_challenge: undefined, code_challenge_method: undefined });
    expect(res.status).toBe(303);
    const back = new URL(location as string);
    expect(`${back.origin}${back.pathname}`).toBe(REDIRECT);
    expect(Object.fromEntries(back.searchParams)).toEqual({
      error: 'invalid_request',
      error_description: 'Authorization Server policy requires PKCE to be used for this request',
      state: 'st',
      iss: `${stack.url}/oauth`,
    });
  });

  it('refuses PKCE plain', async () => {
    const { res, location } = await authorize({ code_challenge: 'a'.repeat(43), code_challenge_method: 'plain' });
    expect(res.status).toBe(303);
    expect(Object.fromEntries(new URL(location as string).searchParams)).toEqual({
      error: 'invalid_request',
      error_description: 'not supported value of code_challenge_method',
      state: 'st',
      iss: `${stack.url}/oauth`,
    });
  });

  it.each([
    ['an unregistered redirect URI', 'http://127.0.0.1:45123/other'],
    ['a path traversal on the registered URI', 'http://127.0.0.1:45123/cb/../evil'],
    ['an open redirect via another host', 'https://evil.example/cb'],
    ['the registered URI with an extra query', 'http://127.0.0.1:45123/cb?next=https://evil.example'],
    ['a userinfo trick', 'http://127.0.0.1:45123@evil.example/cb'],
  ])('never redirects to %s', async (_what, redirect) => {
    const { res, location } = await authorize({ redirect_uri: redirect });
    expect(res.status).toBe(400);
    expect(location).toBeNull();
    const html = await res.text();
    expect(html).toContain('redirect_uri did not match any of the client&#39;s registered redirect_uris');
    expect(html).not.toContain('evil.example/cb"');
  });

  it.each([
    ['http on a public host', 'http://evil.example/cb', 'http is allowed only on loopback'],
    ['javascript:', 'javascript:alert(1)', 'uses a scheme that is not allowed'],
    ['a fragment', 'https://app.example/cb#x', 'must not have a fragment'],
    ['credentials', 'https://user:pw@app.example/cb', 'must not carry credentials'],
  ])('refuses to register %s as a redirect URI', async (_what, uri, message) => {
    const reg = await fetch(`${stack.url}/oauth/reg`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ redirect_uris: [uri], token_endpoint_auth_method: 'none' }),
    });
    expect(reg.status).toBe(400);
    const body = (await reg.json()) as { error: string; error_description: string };
    expect(body.error).toBe('invalid_redirect_uri');
    expect(body.error_description).toContain(message);
  });

  it('registers the redirect URIs of Claude, ChatGPT, Cursor and VS Code', async () => {
    for (const uri of [
      'https://claude.ai/api/mcp/auth_callback',
      'https://chatgpt.com/connector_platform_oauth_redirect',
      'cursor://anysphere.cursor-retrieval/oauth/user-mcp/callback',
      'http://127.0.0.1:33418/',
    ]) {
      const reg = await fetch(`${stack.url}/oauth/reg`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ redirect_uris: [uri], token_endpoint_auth_method: 'none', scope: 'mcp:tools' }),
      });
      expect(reg.status, uri).toBe(201);
    }
  });

  it('refuses consent (and sign-in) without the CSRF token: no redirect happens', async () => {
    const browser = new Browser();
    const { location } = await authorize({}, browser);
    const login = await follow(browser, new URL(location as string, stack.url).toString(), stack.url);
    const html = await login.res.text();
    const action = formAction(html, stack.url, '/login');
    const noCsrf = await browser.post(action, { email: OWNER.email, password: OWNER.password });
    expect(noCsrf.status).toBe(403);
    expect(noCsrf.headers.get('location')).toBeNull();
    expect(await noCsrf.text()).toContain('CSRF check failed');
    const signedIn = await browser.post(action, { csrf: hiddenField(html, 'csrf'), ...OWNER });
    expect(signedIn.status).toBe(303);
    const consent = await follow(
      browser,
      new URL(signedIn.headers.get('location') as string, action).toString(),
      stack.url,
    );
    const page = await consent.res.text();
    expect(page).toContain('Allow hostile to use <code>alpha</code>?');
    const confirm = formAction(page, stack.url, '/confirm');
    for (const csrf of [undefined, 'forged', hiddenField(html, 'csrf').replace(/^./, 'x')]) {
      const res = await browser.post(confirm, csrf === undefined ? {} : { csrf });
      expect(res.status).toBe(403);
      expect(res.headers.get('location')).toBeNull();
    }
    // The same form from another browser (no bmms_csrf cookie) is refused too.
    const other = await new Browser().post(confirm, { csrf: hiddenField(page, 'csrf') });
    expect(other.headers.get('location')).toBeNull();
    expect(other.status).toBeGreaterThanOrEqual(400);
  });

  it('refuses a wrong password with the same message as an unknown email, then throttles', async () => {
    const browser = new Browser();
    const { location } = await authorize({}, browser);
    const login = await follow(browser, new URL(location as string, stack.url).toString(), stack.url);
    const html = await login.res.text();
    const action = formAction(html, stack.url, '/login');
    const csrf = hiddenField(html, 'csrf');
    const unknown = await browser.post(action, { csrf, email: 'nobody@example.com', password: 'x'.repeat(12) });
    expect(unknown.status).toBe(401);
    expect(await unknown.text()).toContain('Wrong email or password.');
    let last: Response | undefined;
    for (let i = 0; i < 6; i++)
      last = await browser.post(action, { csrf, email: 'victim@example.com', password: `guess-${i}-xxxxx` });
    expect(last?.status).toBe(429);
    expect(Number(last?.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await last?.text()).toContain('Too many failed sign-ins.');
  });

  it('refuses a sign-in form holding what the database cannot store (a NUL) with 400, not 500', async () => {
    const browser = new Browser();
    const { location } = await authorize({}, browser);
    const login = await follow(browser, new URL(location as string, stack.url).toString(), stack.url);
    const html = await login.res.text();
    const action = formAction(html, stack.url, '/login');
    const res = await browser.post(action, {
      csrf: hiddenField(html, 'csrf'),
      email: 'a\u0000@x.com',
      password: 'x'.repeat(12),
    });
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('NUL');
  });

  it('a reused refresh token revokes the grant: both the old and the new refresh token stop working', async () => {
    const fresh = await connectWithOpenidClient(stack.url, alpha.url, OWNER);
    const first = await tokenRequest(stack.url, {
      grant_type: 'refresh_token',
      refresh_token: fresh.refreshToken,
      client_id: fresh.clientId,
    });
    expect(first.status).toBe(200);
    const replay = await tokenRequest(stack.url, {
      grant_type: 'refresh_token',
      refresh_token: fresh.refreshToken,
      client_id: fresh.clientId,
    });
    expect(replay).toEqual({
      status: 400,
      body: { error: 'invalid_grant', error_description: 'grant request is invalid' },
    });
    const next = await tokenRequest(stack.url, {
      grant_type: 'refresh_token',
      refresh_token: first.body.refresh_token as string,
      client_id: fresh.clientId,
    });
    expect(next).toEqual({
      status: 400,
      body: { error: 'invalid_grant', error_description: 'grant request is invalid' },
    });
    const call = await mcpPost(alpha.url, first.body.access_token as string);
    expect(call.body).toEqual({ error: { code: 'invalid_token', message: 'the access token was revoked' } });
  });

  it('stores no refresh token, code or session id in plain text', async () => {
    const rows = await stack.platform.ctx.db.oauthPayload.findMany();
    const dump = JSON.stringify(rows);
    expect(rows.length).toBeGreaterThan(0);
    expect(dump).not.toContain(granted.refreshToken);
    expect(rows.every((r) => /^[0-9a-f]{64}$/.test(r.id))).toBe(true);
    const keys = await stack.platform.ctx.db.oauthSigningKey.findMany();
    expect(JSON.stringify(keys.map((k) => k.publicJwk))).not.toContain('"d"');
  });

  it('escapes a hostile client name on the sign-in page, which cannot be framed', async () => {
    const client_id = await registerPublicClient(stack.url, REDIRECT, '<img src=x onerror=alert(1)>"');
    const url = new URL(`${stack.url}/oauth/auth`);
    for (const [k, v] of Object.entries({
      client_id,
      response_type: 'code',
      redirect_uri: REDIRECT,
      scope: 'mcp:tools',
      resource: alpha.url,
      code_challenge: createHash('sha256').update('v'.repeat(43)).digest('base64url'),
      code_challenge_method: 'S256',
    })) {
      url.searchParams.set(k, v);
    }
    const browser = new Browser();
    const page = await follow(browser, url.toString(), stack.url);
    const html = await page.res.text();
    expect(html).toContain('Sign in to connect &lt;img src=x onerror=alert(1)&gt;&quot;');
    expect(html).not.toContain('<img');
    expect(page.res.headers.get('x-frame-options')).toBe('DENY');
    expect(page.res.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
  });

  it('a registration flood gets 429 with Retry-After', async () => {
    const statuses: number[] = [];
    let limited: Response | undefined;
    for (let i = 0; i < 40; i++) {
      const res = await fetch(`${stack.url}/oauth/reg`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ redirect_uris: [REDIRECT], token_endpoint_auth_method: 'none' }),
      });
      statuses.push(res.status);
      if (res.status === 429) limited = res;
      else await res.arrayBuffer();
    }
    expect(statuses).toContain(429);
    expect(Number(limited?.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await limited?.json()).toEqual({
      error: 'rate_limited',
      error_description: expect.stringMatching(/^too many client registrations from this address; retry in \d+ s$/),
    });
  });
});
