import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider from 'oidc-provider';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ServerBody, TestStack } from './harness.ts';
import { Browser, formAction, hiddenField, mcpPost, registerPublicClient } from './oauth-helpers.ts';

const REDIRECT = 'http://127.0.0.1:45123/cb';
const PEOPLE: Record<string, { email: string; name: string }> = {
  'alice-1': { email: 'alice@corp.example', name: 'Alice' },
  'mallory-1': { email: 'mallory@corp.example', name: 'Mallory' },
};

/** Sign-in with a company OpenID provider (a second oidc-provider here) in the MCP OAuth flow. */
describe('sign-in with an external OpenID provider', () => {
  let idpServer: http.Server;
  let idpUrl: string;
  let stack: TestStack;
  let server: ServerBody;
  /** Who the company IdP signs in next (its own login is not under test). */
  let nextPerson = 'alice-1';

  beforeAll(async () => {
    idpServer = http.createServer();
    await new Promise<void>((resolve) => idpServer.listen(0, '127.0.0.1', resolve));
    idpUrl = `http://127.0.0.1:${(idpServer.address() as AddressInfo).port}`;
    stack = await TestStack.start({
      oidc: { issuer: idpUrl, clientId: 'bmms', clientSecret: 'company-idp-client-secret', name: 'Corp SSO' },
    });
    const idp = new Provider(idpUrl, {
      clients: [
        {
          client_id: 'bmms',
          client_secret: 'company-idp-client-secret',
          redirect_uris: [`${stack.url}/auth/oidc/callback`],
          grant_types: ['authorization_code'],
          response_types: ['code'],
        },
      ],
      findAccount: (_ctx, sub) => ({
        accountId: sub,
        claims: () => ({ sub, email: PEOPLE[sub]?.email, email_verified: true, name: PEOPLE[sub]?.name }),
      }),
      claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
      features: { devInteractions: { enabled: false } },
      interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
      cookies: { keys: ['company-idp-cookie-key'] },
    });
    const callback = idp.callback();
    idpServer.on('request', async (req: http.IncomingMessage, res: http.ServerResponse) => {
      if (!req.url?.startsWith('/interaction/')) return callback(req, res);
      const details = await idp.interactionDetails(req, res);
      if (details.prompt.name === 'login') {
        await idp.interactionFinished(
          req,
          res,
          { login: { accountId: nextPerson } },
          { mergeWithLastSubmission: false },
        );
        return;
      }
      const grant = new idp.Grant({ accountId: details.session?.accountId as string, clientId: 'bmms' });
      const missing = details.prompt.details as { missingOIDCScope?: string[]; missingOIDCClaims?: string[] };
      if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
      if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
      await idp.interactionFinished(
        req,
        res,
        { consent: { grantId: await grant.save() } },
        { mergeWithLastSubmission: true },
      );
    });
    server = await stack.createAndDeploy('corp');
  }, 180_000);

  afterAll(async () => {
    await stack?.destroy();
    await new Promise((resolve) => idpServer?.close(resolve));
  });

  /** Starts an MCP client's authorization and signs in with the company button; returns where it ends. */
  async function viaCompany(browser: Browser) {
    const client_id = await registerPublicClient(stack.url, REDIRECT, 'corp client');
    const verifier = oidc.randomPKCECodeVerifier();
    const auth = new URL(`${stack.url}/oauth/auth`);
    for (const [k, v] of Object.entries({
      client_id,
      response_type: 'code',
      redirect_uri: REDIRECT,
      scope: 'mcp:tools',
      resource: server.url,
      state: 'st',
      code_challenge: createHash('sha256').update(verifier).digest('base64url'),
      code_challenge_method: 'S256',
    })) {
      auth.searchParams.set(k, v);
    }
    // Follow redirects across the platform and the company IdP, like a browser; stop at the client.
    let res = await browser.fetch(auth.toString());
    let url = auth.toString();
    for (let hop = 0; hop < 30; hop++) {
      const location = res.headers.get('location');
      if (location) {
        const next = new URL(location, url);
        if (next.toString().startsWith(REDIRECT)) return { back: next, client_id, verifier };
        url = next.toString();
        res = await browser.fetch(url);
        continue;
      }
      const html = await res.text();
      if (res.status !== 200) return { page: html, status: res.status, client_id, verifier };
      const csrf = hiddenField(html, 'csrf');
      const action = html.includes('/external"')
        ? formAction(html, stack.url, '/external')
        : formAction(html, stack.url, '/confirm');
      url = action;
      res = await browser.post(action, { csrf });
    }
    throw new Error('did not finish');
  }

  it('an invited person signs in with the company account, consents, and calls the server', async () => {
    const invite = await stack.api('POST', '/api/v1/org/invitations', { email: 'alice@corp.example', role: 'viewer' });
    expect(invite.status).toBe(201);
    const browser = new Browser();
    const result = await viaCompany(browser);
    expect(result.back?.searchParams.get('code')).toBeTruthy();
    const token = await fetch(`${stack.url}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code: result.back?.searchParams.get('code') as string,
        redirect_uri: REDIRECT,
        client_id: result.client_id,
        code_verifier: result.verifier,
        resource: server.url,
      }).toString(),
    });
    const tokens = (await token.json()) as { access_token: string };
    expect((await mcpPost(server.url, tokens.access_token)).status).toBe(200);
    const db = stack.platform.ctx.db;
    const user = await db.user.findUniqueOrThrow({ where: { email: 'alice@corp.example' } });
    expect(user.passwordHash).toBeNull();
    expect(await db.externalIdentity.findMany({ where: { userId: user.id } })).toEqual([
      expect.objectContaining({ issuer: idpUrl, subject: 'alice-1' }),
    ]);
    const members = await stack.api<{ members: { email: string; role: string }[] }>('GET', '/api/v1/org/members');
    expect(members.body.members).toContainEqual(
      expect.objectContaining({ email: 'alice@corp.example', role: 'viewer' }),
    );
  });

  it('refuses a company identity with no account and no invitation', async () => {
    nextPerson = 'mallory-1';
    const result = await viaCompany(new Browser());
    expect(result.back).toBeUndefined();
    expect(result.status).toBe(403);
    expect(result.page).toContain(
      'there is no account or invitation for mallory@corp.example: ask an admin to invite you',
    );
    expect(await stack.platform.ctx.db.user.findUnique({ where: { email: 'mallory@corp.example' } })).toBeNull();
  });

  it('refuses a callback without the flow cookie (forged or replayed)', async () => {
    const res = await fetch(`${stack.url}/auth/oidc/callback?code=abc&state=def`);
    expect(res.status).toBe(403);
    expect(await res.text()).toContain('the sign-in took too long or was started elsewhere: start again');
  });
});
