import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ServerBody, TestStack, textOf } from './harness.ts';
import {
  Browser,
  connectWithOpenidClient,
  MemoryOAuthProvider,
  mcpPost,
  signInAndAllow,
  tokenRequest,
} from './oauth-helpers.ts';

const PASSWORD = 'correct horse battery staple';

/** Acceptance: the official SDK's OAuth flow against a deployed server, then refresh, then revocation. */
describe('OAuth 2.1 for MCP clients (official SDK)', () => {
  let stack: TestStack;
  let server: ServerBody;

  beforeAll(async () => {
    stack = await TestStack.start();
    const set = await stack.api('PUT', '/api/v1/me/password', { password: PASSWORD });
    expect(set.status).toBe(204);
    server = await stack.createAndDeploy('oauth-echo');
  }, 180_000);

  afterAll(async () => {
    await stack?.destroy();
  });

  it('discovers, registers, signs in with PKCE and a resource, calls a tool, refreshes, and stops at revocation', async () => {
    const provider = new MemoryOAuthProvider();
    const url = new URL(server.url);

    // 1. Without a token: 401 with the resource metadata; the SDK discovers, registers and sends the user off.
    const first = new StreamableHTTPClientTransport(url, { authProvider: provider });
    await expect(new Client({ name: 'sdk', version: '1.0.0' }).connect(first)).rejects.toBeInstanceOf(
      UnauthorizedError,
    );
    const authorizationUrl = provider.authorizationUrl as URL;
    expect(authorizationUrl.searchParams.get('code_challenge_method')).toBe('S256');
    expect(authorizationUrl.searchParams.get('resource')).toBe(server.url);
    expect(provider.clientInformation()?.client_id).toBeTruthy();
    // The registration is in the audit trail: no actor (nobody signed in), the client and the caller's address.
    const registeredId = provider.clientInformation()?.client_id as string;
    const registered = () =>
      stack.platform.ctx.db.auditEvent.findFirst({
        where: { action: 'oauth.client.register', targetId: registeredId },
      });
    await expect.poll(registered).toMatchObject({ actorId: null, orgId: null, targetType: 'oauth_client' });
    expect((await registered())?.ip).toBeTruthy();

    // 2. The user signs in and allows on the platform's pages.
    const browser = new Browser();
    const back = await signInAndAllow(browser, authorizationUrl.toString(), stack.url, {
      email: 'owner@localhost',
      password: PASSWORD,
    });
    expect(`${back.origin}${back.pathname}`).toBe(provider.redirectUrl);
    const code = back.searchParams.get('code');
    expect(code).toBeTruthy();
    await first.finishAuth(code as string);
    const tokens = provider.tokens();
    if (!tokens) throw new Error('no tokens after finishAuth');
    expect(tokens.refresh_token).toBeTruthy();
    const claims = JSON.parse(Buffer.from(tokens.access_token.split('.')[1] as string, 'base64url').toString());
    expect(claims).toMatchObject({ aud: server.url, iss: `${stack.url}/oauth`, scope: 'mcp:tools' });

    // 3. A tools/call with the token succeeds.
    const client = new Client({ name: 'sdk', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(url, { authProvider: provider }));
    expect(textOf(await client.callTool({ name: 'echo', arguments: { text: 'via oauth' } }))).toBe('via oauth');
    await client.close();

    // 4. Refresh, by the SDK itself: its access token is refused (here: replaced by a stale one), so it
    //    refreshes — a new access token and a rotated refresh token — and the call goes through.
    provider.saveTokens({ ...tokens, access_token: 'stale' });
    const again = new Client({ name: 'sdk', version: '1.0.0' });
    await again.connect(new StreamableHTTPClientTransport(url, { authProvider: provider }));
    expect(textOf(await again.callTool({ name: 'echo', arguments: { text: 'refreshed' } }))).toBe('refreshed');
    await again.close();
    const rotated = provider.tokens();
    expect(rotated?.access_token).not.toBe('stale');
    expect(rotated?.refresh_token).toBeTruthy();
    expect(rotated?.refresh_token).not.toBe(tokens.refresh_token);
    const refreshed = { body: rotated as unknown as Record<string, unknown> };

    // 5. The user lists and revokes the client: refresh stops at once, and so does the access token.
    const listed = await stack.api<{
      clients: { clientId: string; clientName: string; resources: { resource: string }[] }[];
    }>('GET', '/api/v1/me/clients');
    const clientId = provider.clientInformation()?.client_id as string;
    expect(listed.body.clients).toEqual([
      expect.objectContaining({
        clientId,
        clientName: 'e2e client',
        resources: [expect.objectContaining({ resource: server.url })],
      }),
    ]);
    expect((await stack.api('DELETE', `/api/v1/me/clients/${clientId}`)).status).toBe(204);
    const denied = await tokenRequest(stack.url, {
      grant_type: 'refresh_token',
      refresh_token: refreshed.body.refresh_token as string,
      client_id: clientId,
    });
    expect(denied).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    const call = await mcpPost(server.url, refreshed.body.access_token as string);
    expect(call.status).toBe(401);
    expect(call.body).toEqual({ error: { code: 'invalid_token', message: 'the access token was revoked' } });
    expect((await stack.api<{ clients: unknown[] }>('GET', '/api/v1/me/clients')).body.clients).toEqual([]);
  }, 60_000);

  it('a second client library (openid-client) completes discovery, registration, code + PKCE + resource, token and refresh', async () => {
    const granted = await connectWithOpenidClient(stack.url, server.url, {
      email: 'owner@localhost',
      password: PASSWORD,
    });
    expect(
      (
        await mcpPost(server.url, granted.accessToken, {
          method: 'tools/call',
          params: { name: 'echo', arguments: { text: 'a' } },
        })
      ).status,
    ).toBe(200);
    const refreshed = await oidc.refreshTokenGrant(granted.config, granted.refreshToken, { resource: server.url });
    expect(refreshed.refresh_token).not.toBe(granted.refreshToken);
    expect(refreshed.scope).toBe('mcp:tools');
    const res = await mcpPost(server.url, refreshed.access_token, {
      method: 'tools/call',
      params: { name: 'add', arguments: { a: 2, b: 3 } },
    });
    expect(res.status).toBe(200);
    expect(JSON.stringify(res.body)).toContain('"text":"5"');
  }, 30_000);
});
