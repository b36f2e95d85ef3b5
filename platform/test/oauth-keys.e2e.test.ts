import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestStack } from './harness.ts';
import {
  Browser,
  connectWithOpenidClient,
  follow,
  formAction,
  hiddenField,
  mcpPost,
  registerPublicClient,
  tokenRequest,
} from './oauth-helpers.ts';

const PASSWORD = 'correct horse battery staple';
const OWNER = { email: 'owner@localhost', password: PASSWORD };

const kidOf = (jwt: string) =>
  (JSON.parse(Buffer.from(jwt.split('.')[0] as string, 'base64url').toString()) as { kid: string }).kid;

/**
 * Signing keys are persisted (encrypted) and rotate without breaking live tokens; grants survive a restart.
 * The server is created but not deployed: a token the gateway accepts gets 503 (nothing serves yet), a
 * refused one 401.
 */
describe('OAuth signing keys and persistence', () => {
  let stack: TestStack;
  let resource: string;

  beforeAll(async () => {
    stack = await TestStack.start();
    expect((await stack.api('PUT', '/api/v1/me/password', { password: PASSWORD })).status).toBe(204);
    const created = await stack.api<{ server: { url: string } }>('POST', '/api/v1/servers', {
      name: 'keyed',
      template: 'echo',
    });
    resource = created.body.server.url;
  }, 60_000);

  afterAll(async () => {
    await stack?.destroy();
  });

  it('rotates the signing key: old tokens stay valid, new ones use the new key; both survive a restart', async () => {
    const before = await connectWithOpenidClient(stack.url, resource, OWNER);
    expect((await mcpPost(resource, before.accessToken)).status).toBe(503);

    const viewer = await stack.api('POST', '/api/v1/org/invitations', { email: 'v@example.com', role: 'viewer' });
    expect(viewer.status).toBe(201);
    const rotated = await stack.api<{ kid: string }>('POST', '/api/v1/admin/rotate-signing-key');
    expect(rotated.status).toBe(200);
    expect(rotated.body.kid).not.toBe(kidOf(before.accessToken));
    const jwks = (await (await fetch(`${stack.url}/oauth/jwks`)).json()) as { keys: { kid: string; d?: string }[] };
    expect(jwks.keys.map((k) => k.kid)).toEqual([rotated.body.kid, kidOf(before.accessToken)]);
    expect(jwks.keys.every((k) => k.d === undefined)).toBe(true);

    expect((await mcpPost(resource, before.accessToken)).status).toBe(503);
    const refreshed = await tokenRequest(stack.url, {
      grant_type: 'refresh_token',
      refresh_token: before.refreshToken,
      client_id: before.clientId,
    });
    expect(refreshed.status).toBe(200);
    const after = refreshed.body.access_token as string;
    expect(kidOf(after)).toBe(rotated.body.kid);
    expect((await mcpPost(resource, after)).status).toBe(503);

    // Same port: the issuer and the resource URL stay the same.
    const port = stack.platform.port;
    await stack.stop();
    await stack.boot({ port });
    expect((await mcpPost(resource, before.accessToken)).status).toBe(503);
    expect((await mcpPost(resource, after)).status).toBe(503);
    const again = await tokenRequest(stack.url, {
      grant_type: 'refresh_token',
      refresh_token: refreshed.body.refresh_token as string,
      client_id: before.clientId,
    });
    expect(again.status).toBe(200);
  }, 60_000);

  it('does not fetch a client ID metadata document from a loopback or private address', async () => {
    const url = new URL(`${stack.url}/oauth/auth`);
    for (const [k, v] of Object.entries({
      client_id: 'https://127.0.0.1:9/client.json',
      response_type: 'code',
      redirect_uri: 'https://127.0.0.1:9/cb',
      scope: 'mcp:tools',
      resource,
      code_challenge: createHash('sha256').update('x'.repeat(43)).digest('base64url'),
      code_challenge_method: 'S256',
    })) {
      url.searchParams.set(k, v);
    }
    const res = await fetch(url, { redirect: 'manual' });
    expect(res.status).toBe(400);
    expect(res.headers.get('location')).toBeNull();
    expect(await res.text()).toContain('invalid_client');
  });

  it('offers "Continue as" to a browser already signed in to the platform', async () => {
    const browser = new Browser();
    const login = await browser.fetch(`${stack.url}/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(OWNER),
    });
    expect(login.status).toBe(200);
    const client_id = await registerPublicClient(stack.url, 'http://127.0.0.1:45123/cb');
    const url = new URL(`${stack.url}/oauth/auth`);
    for (const [k, v] of Object.entries({
      client_id,
      response_type: 'code',
      redirect_uri: 'http://127.0.0.1:45123/cb',
      scope: 'mcp:tools',
      resource,
      code_challenge: createHash('sha256').update('y'.repeat(43)).digest('base64url'),
      code_challenge_method: 'S256',
    })) {
      url.searchParams.set(k, v);
    }
    const anonymous = await follow(new Browser(), url.toString(), stack.url);
    expect(await anonymous.res.text()).not.toContain('Continue as');
    const page = await follow(browser, url.toString(), stack.url);
    const html = await page.res.text();
    expect(html).toContain('Continue as owner@localhost');
    const continued = await browser.post(formAction(html, stack.url, '/session'), { csrf: hiddenField(html, 'csrf') });
    expect(continued.status).toBe(303);
    const consent = await follow(
      browser,
      new URL(continued.headers.get('location') as string, stack.url).toString(),
      stack.url,
    );
    expect(await consent.res.text()).toContain('Signed in as owner@localhost.');
  });
});
