import http from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ServerBody, TestStack } from './harness.ts';
import { connectWithOpenidClient, mcpPost } from './oauth-helpers.ts';

/** What an attacker puts in the headers that name a host or a client. */
const FORGED = {
  host: 'evil.example:8443',
  'x-forwarded-host': 'attacker.example',
  'x-forwarded-proto': 'https',
  'x-forwarded-for': '203.0.113.7',
};

interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Record<string, unknown>;
}

/** An HTTP call with headers fetch would not let a test set (Host); JSON in, JSON out. */
function raw(
  base: string,
  method: string,
  pathname: string,
  headers: Record<string, string>,
  body?: unknown,
): Promise<RawResponse> {
  const url = new URL(pathname, base);
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: url.hostname,
        port: url.port,
        path: `${url.pathname}${url.search}`,
        method,
        headers: { ...headers, ...(payload ? { 'content-type': 'application/json' } : {}) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: Record<string, unknown> = {};
          try {
            parsed = text ? (JSON.parse(text) as Record<string, unknown>) : {};
          } catch {
            parsed = { text };
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parsed });
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** Every absolute http(s) URL anywhere in a JSON answer. */
function urlsIn(value: unknown): string[] {
  if (typeof value === 'string') return /^https?:\/\//i.test(value) ? [value] : [];
  if (Array.isArray(value)) return value.flatMap(urlsIn);
  if (value && typeof value === 'object') return Object.values(value).flatMap(urlsIn);
  return [];
}

/** Acceptance: without BMMS_PUBLIC_URL, a forged Host or X-Forwarded-* never reaches a URL or a check. */
describe('Host header: URLs come from the listening address, never from the request', () => {
  let stack: TestStack;
  let auth: Record<string, string>;

  beforeAll(async () => {
    stack = await TestStack.start({}, { oauth: { registrationLimit: { burst: 2, perMinute: 1 } } });
    auth = { ...FORGED, authorization: `Bearer ${stack.key}` };
    const created = await stack.api('POST', '/api/v1/servers', { name: 'demo', template: 'echo' });
    expect(created.status).toBe(201);
  }, 120_000);

  afterAll(async () => {
    await stack?.destroy();
  });

  const expectOwnUrls = (urls: string[], atLeast: number) => {
    expect(urls.length).toBeGreaterThanOrEqual(atLeast);
    for (const url of urls) expect(url.startsWith(`${stack.url}/`), url).toBe(true);
  };

  it('builds server url, gitUrl and preview urls from the listening address', async () => {
    const list = await raw(stack.url, 'GET', '/api/v1/servers', auth);
    expect(list.status).toBe(200);
    const servers = list.body.servers as { url: string; gitUrl: string }[];
    expect(servers[0]?.url).toBe(`${stack.url}/s/demo/mcp`);
    expect(servers[0]?.gitUrl).toBe(`${stack.url}/git/demo.git`);

    const one = await raw(stack.url, 'GET', '/api/v1/servers/demo', auth);
    expect(one.status).toBe(200);
    expect(one.body.url).toBe(`${stack.url}/s/demo/mcp`);
    expectOwnUrls(urlsIn(one.body), 2);

    const change = await raw(stack.url, 'GET', '/api/v1/servers/demo/changes/1', auth);
    expect(change.status).toBe(200);
    expect((change.body.preview as { url: string }).url).toBe(`${stack.url}/s/demo--pr-1/mcp`);
    expectOwnUrls(urlsIn(change.body), 1);
  });

  it('puts the listening address in invitation links', async () => {
    const invited = await raw(stack.url, 'POST', '/api/v1/org/invitations', auth, { email: 'new@example.com' });
    expect(invited.status).toBe(201);
    expect(invited.body.signup).toBe(`${stack.url}/auth/signup`);
  });

  it('answers OAuth metadata with its own issuer and endpoints', async () => {
    for (const path of [
      '/.well-known/oauth-authorization-server',
      '/.well-known/oauth-authorization-server/oauth',
      '/oauth/.well-known/openid-configuration',
    ]) {
      const meta = await raw(stack.url, 'GET', path, FORGED);
      expect(meta.status, path).toBe(200);
      expect(meta.body.issuer).toBe(`${stack.url}/oauth`);
      expect(meta.body.token_endpoint).toBe(`${stack.url}/oauth/token`);
      expect(meta.body.authorization_endpoint).toBe(`${stack.url}/oauth/auth`);
      expect(meta.body.registration_endpoint).toBe(`${stack.url}/oauth/reg`);
      expectOwnUrls(urlsIn(meta.body), 5);
    }
    const resource = await raw(stack.url, 'GET', '/.well-known/oauth-protected-resource/s/demo/mcp', FORGED);
    expect(resource.status).toBe(200);
    expect(resource.body.resource).toBe(`${stack.url}/s/demo/mcp`);
    expect(resource.body.authorization_servers).toEqual([`${stack.url}/oauth`]);
  });

  it('names its own resource metadata in WWW-Authenticate', async () => {
    const refused = await raw(stack.url, 'POST', '/s/demo/mcp', FORGED, { jsonrpc: '2.0', id: 1, method: 'ping' });
    expect(refused.status).toBe(401);
    expect(refused.headers['www-authenticate']).toBe(
      `Bearer resource_metadata="${stack.url}/.well-known/oauth-protected-resource/s/demo/mcp", scope="mcp:tools"`,
    );
  });

  it('gives a registered client a management URL at its own address', async () => {
    const reg = await raw(stack.url, 'POST', '/oauth/reg', FORGED, {
      redirect_uris: ['http://127.0.0.1:45123/cb'],
      token_endpoint_auth_method: 'none',
    });
    expect(reg.status).toBe(201);
    expect(String(reg.body.registration_client_uri)).toMatch(new RegExp(`^${stack.url}/oauth/reg/`));
  });

  it('refuses an MCP call whose Host is foreign even when X-Forwarded-Host says localhost', async () => {
    const call = await raw(
      stack.url,
      'POST',
      '/s/demo/mcp',
      {
        host: 'rebound.example',
        'x-forwarded-host': 'localhost',
        authorization: `Bearer ${stack.key}`,
        accept: 'application/json, text/event-stream',
      },
      { jsonrpc: '2.0', id: 1, method: 'ping' },
    );
    expect(call.status).toBe(403);
    expect(call.body).toEqual({
      error: { code: 'forbidden_origin', message: 'host rebound.example may not call this server' },
    });
  });

  it('does not let X-Forwarded-For from an unconfigured proxy dodge a per-address limit', async () => {
    const codes: number[] = [];
    for (const ip of ['198.51.100.1', '198.51.100.2', '198.51.100.3']) {
      const reg = await raw(
        stack.url,
        'POST',
        '/oauth/reg',
        { 'x-forwarded-for': ip },
        {
          redirect_uris: ['http://127.0.0.1:45123/cb'],
          token_endpoint_auth_method: 'none',
        },
      );
      codes.push(reg.status);
    }
    // The earlier test registered once from this address: one more fits the burst of 2, then 429.
    expect(codes).toEqual([201, 429, 429]);
  });
});

describe('BMMS_TRUSTED_PROXIES', () => {
  let stack: TestStack;

  beforeAll(async () => {
    stack = await TestStack.start(
      { trustedProxies: ['127.0.0.0/8', '::1'], allowedHosts: ['mcp.internal'] },
      { oauth: { registrationLimit: { burst: 1, perMinute: 1 } } },
    );
  }, 120_000);

  afterAll(async () => {
    await stack?.destroy();
  });

  it('takes the client address from a configured proxy, yet never its X-Forwarded-Host', async () => {
    const codes: number[] = [];
    for (const ip of ['198.51.100.1', '198.51.100.2', '198.51.100.1']) {
      const reg = await raw(
        stack.url,
        'POST',
        '/oauth/reg',
        { ...FORGED, 'x-forwarded-for': ip },
        {
          redirect_uris: ['http://127.0.0.1:45123/cb'],
          token_endpoint_auth_method: 'none',
        },
      );
      codes.push(reg.status);
      if (reg.status === 201) {
        expect(String(reg.body.registration_client_uri)).toMatch(new RegExp(`^${stack.url}/oauth/reg/`));
      }
    }
    // One registration per client address: two addresses pass, the first one's second try waits.
    expect(codes).toEqual([201, 201, 429]);
    const meta = await raw(stack.url, 'GET', '/.well-known/oauth-authorization-server', FORGED);
    expect(meta.body.token_endpoint).toBe(`${stack.url}/oauth/token`);
  });

  it('builds URLs under an allowed host the proxy forwards, with its scheme', async () => {
    const viaProxy = { 'x-forwarded-host': 'mcp.internal', 'x-forwarded-proto': 'https' };
    const invited = await raw(
      stack.url,
      'POST',
      '/api/v1/org/invitations',
      { ...viaProxy, authorization: `Bearer ${stack.key}` },
      { email: 'proxied@example.com' },
    );
    expect(invited.status).toBe(201);
    expect(invited.body.signup).toBe('https://mcp.internal/auth/signup');
    const meta = await raw(stack.url, 'GET', '/.well-known/oauth-authorization-server', viaProxy);
    expect(meta.body.issuer).toBe('https://mcp.internal/oauth');
    expect(meta.body.token_endpoint).toBe('https://mcp.internal/oauth/token');
  });
});

/** A port nobody listens on right now (so a test can name `localhost:<port>` before the platform starts). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

describe('BMMS_ALLOWED_HOSTS', () => {
  const OWNER = { email: 'owner@localhost', password: 'correct horse battery staple' };
  let stack: TestStack;
  let alias: string;
  let alpha: ServerBody;

  beforeAll(async () => {
    const port = await freePort();
    alias = `http://localhost:${port}`;
    stack = await TestStack.start({ port, allowedHosts: [`localhost:${port}`] });
    expect((await stack.api('PUT', '/api/v1/me/password', { password: OWNER.password })).status).toBe(204);
    alpha = await stack.createAndDeploy('alpha');
  }, 240_000);

  afterAll(async () => {
    await stack?.destroy();
  });

  it('builds URLs under an allowed Host, and under the listening address for any other', async () => {
    expect(stack.url).not.toBe(alias);
    const key = { authorization: `Bearer ${stack.key}` };
    const allowed = await raw(stack.url, 'GET', '/api/v1/servers/alpha', { ...key, host: new URL(alias).host });
    expect(allowed.body.url).toBe(`${alias}/s/alpha/mcp`);
    expect(allowed.body.gitUrl).toBe(`${alias}/git/alpha.git`);
    const forged = await raw(stack.url, 'GET', '/api/v1/servers/alpha', { ...key, ...FORGED });
    expect(forged.body.url).toBe(`${stack.url}/s/alpha/mcp`);
    // An allowed name in X-Forwarded-Host from a peer that is not a trusted proxy counts for nothing.
    const smuggled = await raw(stack.url, 'GET', '/api/v1/servers/alpha', {
      ...key,
      host: 'evil.example',
      'x-forwarded-host': new URL(alias).host,
    });
    expect(smuggled.body.url).toBe(`${stack.url}/s/alpha/mcp`);

    const meta = await raw(stack.url, 'GET', '/.well-known/oauth-authorization-server', { host: new URL(alias).host });
    expect(meta.body.issuer).toBe(`${alias}/oauth`);
    expect(meta.body.token_endpoint).toBe(`${alias}/oauth/token`);
    const other = await raw(stack.url, 'GET', '/.well-known/oauth-authorization-server', FORGED);
    expect(other.body.issuer).toBe(`${stack.url}/oauth`);
  });

  it('runs OAuth under the allowed host; its tokens are good for that address only', async () => {
    const resource = `${alias}/s/alpha/mcp`;
    const granted = await connectWithOpenidClient(alias, resource, OWNER);
    const listed = await mcpPost(resource, granted.accessToken);
    expect(listed.status).toBe(200);
    const elsewhere = await mcpPost(alpha.url, granted.accessToken);
    expect(elsewhere.status).toBe(401);
    expect(elsewhere.body).toEqual({
      error: { code: 'invalid_token', message: 'the access token was not issued by this platform' },
    });
    const own = await connectWithOpenidClient(stack.url, alpha.url, OWNER);
    expect((await mcpPost(alpha.url, own.accessToken)).status).toBe(200);
  }, 120_000);
});
