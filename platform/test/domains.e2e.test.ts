// Custom domains through the real stack: a claim verified by a TXT record on a DNS server (a stand-in on
// 127.0.0.1 speaking the real wire format), the server's MCP endpoint at http://<domain>:<port>/mcp with API keys
// and with the official SDK's OAuth flow (the domain's URL is its own resource), nothing else of the platform on a
// customer's name, and what hostile or clumsy owners try: addresses, the platform's own host, wildcards, a name
// another server verified, a plan without custom domains, tokens minted for another URL, removal and re-claiming.
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { Agent, fetch as undiciFetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DomainKeeper } from '../src/domains/keeper.ts';
import { type DnsStandIn, startDnsServer } from './dns.ts';
import { type ServerBody, TestStack, textOf } from './harness.ts';
import { Browser, MemoryOAuthProvider, signInAndAllow } from './oauth-helpers.ts';

const PASSWORD = 'correct horse battery staple';
const HOST = 'mcp.shop.test';

interface DomainBody {
  hostname: string;
  url: string;
  status: string;
  verification: { type: string; name: string; value: string };
  routing: { type: string; name: string; value: string };
  lastError: string | null;
}
interface ErrorBody {
  error: { code: string; message: string; details?: Record<string, unknown> };
}

/** Every name resolves to 127.0.0.1, as a customer's CNAME to the platform would make it. */
const toPlatform = new Agent({
  connect: {
    lookup: (_host: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) =>
      options?.all ? callback(null, [{ address: '127.0.0.1', family: 4 }]) : callback(null, '127.0.0.1', 4),
  } as never,
});
const viaDns = ((url: string | URL, init?: RequestInit) =>
  undiciFetch(url, { ...(init as object), dispatcher: toPlatform } as never)) as unknown as typeof fetch;

describe('custom domains', () => {
  let stack: TestStack;
  let dns: DnsStandIn;
  let server: ServerBody;
  let origin = '';
  const domains = () => `/api/v1/servers/${server.name}/domains`;
  const call = (url: string, key: string, message: Record<string, unknown>) =>
    viaDns(url, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${key}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, ...message }),
    });
  const echo = { method: 'tools/call', params: { name: 'echo', arguments: { text: 'on my domain' } } };

  beforeAll(async () => {
    dns = await startDnsServer();
    stack = await TestStack.start({ dnsServers: [dns.address], testDomainSuffixes: ['test'] });
    expect((await stack.api('PUT', '/api/v1/me/password', { password: PASSWORD })).status).toBe(204);
    server = await stack.createAndDeploy('shop');
    origin = `http://${HOST}:${new URL(stack.url).port}`;
  }, 240_000);

  afterAll(async () => {
    await stack?.destroy();
    await dns?.close();
  });

  it('refuses names the platform cannot serve, saying why', async () => {
    const cases: [string, RegExp][] = [
      ['https://mcp.shop.test/mcp', /not a bare hostname/],
      ['127.0.0.1', /is an address/],
      ['[::1]', /not a bare hostname|is an address/],
      ['localhost', /single label|reserved/],
      ['mcp.shop.local', /reserved/],
      ['*.shop.test', /wildcard/],
      ['under_score.shop.test', /letters, digits and hyphens/],
      ['-bad.shop.test', /may not start or end with a hyphen/],
      [`${'a'.repeat(64)}.shop.test`, /longer than 63/],
      [`${'a.'.repeat(130)}test`, /longer than 253/],
      ['', /empty/],
    ];
    for (const [hostname, why] of cases) {
      const res = await stack.api<ErrorBody>('POST', domains(), { hostname });
      expect(res.status, hostname).toBe(400);
      expect(res.body.error.code, hostname).toBe('invalid_domain');
      expect(res.body.error.message, hostname).toMatch(why);
    }
    // The platform's own host (here an address, so refused as one) and a body that is not {hostname}.
    expect((await stack.api('POST', domains(), { hostname: HOST, extra: 1 })).status).toBe(400);
    expect((await stack.api('POST', domains(), { hostname: 42 })).status).toBe(400);
  });

  it('stores an internationalized name in its xn-- form, case and trailing dot folded, once', async () => {
    const first = await stack.api<DomainBody>('POST', domains(), { hostname: 'Bücher.Shop.Test.' });
    expect(first.status).toBe(201);
    expect(first.body.hostname).toBe('xn--bcher-kva.shop.test');
    const again = await stack.api<DomainBody>('POST', domains(), { hostname: 'xn--bcher-kva.shop.test' });
    expect(again.status).toBe(200);
    expect(again.body.verification.value).toBe(first.body.verification.value);
    expect((await stack.api('DELETE', `${domains()}/xn--bcher-kva.shop.test`)).status).toBe(204);
  });

  it('claims a name, refuses to verify it without its TXT record, then serves the server on it', async () => {
    const claimed = await stack.api<DomainBody>('POST', domains(), { hostname: HOST });
    expect(claimed.status).toBe(201);
    expect(claimed.body).toMatchObject({
      hostname: HOST,
      status: 'pending',
      verification: { type: 'TXT', name: `_bmms-challenge.${HOST}` },
      routing: { type: 'CNAME', name: HOST, value: '127.0.0.1' },
    });
    expect(claimed.body.verification.value).toMatch(/^bmms-verification=[\w-]{32}$/);

    // Pending: the name does not reach the server.
    expect((await call(`${origin}/mcp`, stack.key, echo)).status).toBe(404);

    const missing = await stack.api<ErrorBody>('POST', `${domains()}/${HOST}/verify`);
    expect(missing.status).toBe(422);
    expect(missing.body.error.code).toBe('domain_not_verified');
    expect(missing.body.error.message).toContain(`there is no TXT record at _bmms-challenge.${HOST}`);
    expect(missing.body.error.message).toContain(claimed.body.verification.value);
    // Pressed again at once: told to wait, without another lookup.
    const asked = dns.queries.length;
    const soon = await stack.api<ErrorBody>('POST', `${domains()}/${HOST}/verify`);
    expect(soon.status).toBe(429);
    expect(soon.body.error.code).toBe('domain_check_too_soon');
    expect(Number(soon.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(dns.queries.length).toBe(asked);

    // A record holding something else is named as such.
    dns.setTxt(claimed.body.verification.name, ['v=spf1 -all']);
    await new Promise((r) => setTimeout(r, 5_100));
    const other = await stack.api<ErrorBody>('POST', `${domains()}/${HOST}/verify`);
    expect(other.status).toBe(422);
    expect(other.body.error.message).toContain('"v=spf1 -all"');
    const listed = await stack.api<{ domains: DomainBody[] }>('GET', domains());
    expect(listed.body.domains[0]?.lastError).toContain('do not include the verification value');

    dns.setTxt(claimed.body.verification.name, ['v=spf1 -all', claimed.body.verification.value]);
    await new Promise((r) => setTimeout(r, 5_100));
    const verified = await stack.api<DomainBody>('POST', `${domains()}/${HOST}/verify`);
    expect(verified.status).toBe(200);
    expect(verified.body).toMatchObject({ status: 'verified', url: `http://${HOST}/mcp`, lastError: null });

    const res = await call(`${origin}/mcp`, stack.key, echo);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('on my domain');
    const audit = await stack.platform.ctx.db.auditEvent.findMany({
      where: { action: { startsWith: 'domain.' } },
      orderBy: { createdAt: 'asc' },
    });
    expect(audit.map((a) => a.action)).toEqual(
      expect.arrayContaining(['domain.add', 'domain.verify', 'domain.remove']),
    );
  }, 60_000);

  it('answers only the MCP endpoint and its resource metadata on the customer name', async () => {
    const metadata = await viaDns(`${origin}/.well-known/oauth-protected-resource/mcp`);
    expect(metadata.status).toBe(200);
    expect(await metadata.json()).toMatchObject({
      resource: `${origin}/mcp`,
      authorization_servers: [`${stack.url}/oauth`],
      scopes_supported: ['mcp:tools'],
      resource_name: 'shop',
    });
    const root = await viaDns(`${origin}/`);
    expect(await root.json()).toMatchObject({ server: 'shop', mcp: `${origin}/mcp` });
    for (const path of [
      '/api/v1/servers',
      '/dashboard/',
      '/oauth/auth',
      `/s/${server.name}/mcp`,
      '/git/shop.git/info/refs',
    ]) {
      const res = await viaDns(`${origin}${path}`, { headers: { authorization: `Bearer ${stack.key}` } });
      expect(res.status, path).toBe(404);
    }
    // Without a credential: the challenge names this name's metadata.
    const bare = await viaDns(`${origin}/mcp`, { method: 'POST', body: '{}' });
    expect(bare.status).toBe(401);
    expect(bare.headers.get('www-authenticate')).toContain(
      `resource_metadata="${origin}/.well-known/oauth-protected-resource/mcp"`,
    );
    // A proxy asking whether to get a certificate.
    expect((await fetch(`${stack.url}/api/v1/domains/tls?domain=${HOST}`)).status).toBe(200);
    expect((await fetch(`${stack.url}/api/v1/domains/tls?domain=other.shop.test`)).status).toBe(404);
  });

  it("runs the official SDK's OAuth flow against the domain's own URL; tokens for other URLs are refused", async () => {
    const provider = new MemoryOAuthProvider();
    const url = new URL(`${origin}/mcp`);
    const first = new StreamableHTTPClientTransport(url, { authProvider: provider, fetch: viaDns });
    await expect(new Client({ name: 'sdk', version: '1.0.0' }).connect(first)).rejects.toBeInstanceOf(
      UnauthorizedError,
    );
    const authorizationUrl = provider.authorizationUrl as URL;
    expect(authorizationUrl.origin).toBe(stack.url);
    expect(authorizationUrl.searchParams.get('resource')).toBe(`${origin}/mcp`);
    const back = await signInAndAllow(new Browser(), authorizationUrl.toString(), stack.url, {
      email: 'owner@localhost',
      password: PASSWORD,
    });
    await first.finishAuth(back.searchParams.get('code') as string);
    const token = provider.tokens()?.access_token as string;
    const claims = JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString());
    expect(claims).toMatchObject({ aud: `${origin}/mcp`, iss: `${stack.url}/oauth` });

    const client = new Client({ name: 'sdk', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(url, { authProvider: provider, fetch: viaDns }));
    expect(textOf(await client.callTool({ name: 'echo', arguments: { text: 'via oauth' } }))).toBe('via oauth');
    await client.close();

    // The same token on the platform's own URL of the server: another resource.
    const onPath = await call(server.url, token, echo);
    expect(onPath.status).toBe(401);
    expect(await onPath.text()).toContain('another resource');
    // The name written in capitals is the same name.
    const capitals = await call(`${origin.replace(HOST, HOST.toUpperCase())}/mcp`, token, echo);
    expect(capitals.status).toBe(200);

    // Removing the domain: refused at once, and its grant revoked with it.
    expect((await stack.api('DELETE', `${domains()}/${HOST}`)).status).toBe(204);
    expect((await call(`${origin}/mcp`, token, echo)).status).toBe(404);
    const grants = await stack.platform.ctx.db.oauthPayload.findMany({ where: { model: 'Grant' } });
    expect(grants.filter((g) => JSON.stringify(g.payload).includes(HOST))).toEqual([]);

    // Claimed and verified again (the record is still published): the old token does not come back to life.
    expect((await stack.api('POST', domains(), { hostname: HOST })).status).toBe(201);
    const listed = await stack.api<{ domains: DomainBody[] }>('GET', domains());
    const claim = listed.body.domains.find((d) => d.hostname === HOST) as DomainBody;
    dns.setTxt(claim.verification.name, [claim.verification.value]);
    expect((await stack.api('POST', `${domains()}/${HOST}/verify`)).status).toBe(200);
    const stale = await call(`${origin}/mcp`, token, echo);
    expect(stale.status).toBe(401);
    expect((await call(`${origin}/mcp`, stack.key, echo)).status).toBe(200);
  }, 60_000);

  it('keeps a verified name to its server, and custom domains to the plans that include them', async () => {
    const second = await stack.api('POST', '/api/v1/servers', { name: 'shop-two', template: 'echo' });
    expect(second.status).toBe(201);
    const taken = await stack.api<ErrorBody>('POST', '/api/v1/servers/shop-two/domains', { hostname: HOST });
    expect(taken.status).toBe(409);
    expect(taken.body.error.code).toBe('domain_taken');

    // At most five per server.
    for (let i = 1; i <= 4; i++) {
      expect((await stack.api('POST', domains(), { hostname: `n${i}.shop.test` })).status).toBe(201);
    }
    const sixth = await stack.api<ErrorBody>('POST', domains(), { hostname: 'n5.shop.test' });
    expect(sixth.status).toBe(409);
    expect(sixth.body.error.code).toBe('domain_limit_reached');

    const orgId = (await stack.platform.ctx.db.server.findUniqueOrThrow({ where: { name: 'shop' } })).orgId;
    await stack.platform.ctx.plans.set(orgId, 'hobby');
    try {
      const refused = await stack.api<ErrorBody>('POST', '/api/v1/servers/shop-two/domains', {
        hostname: 'two.shop.test',
      });
      expect(refused.status).toBe(403);
      expect(refused.body.error).toMatchObject({
        code: 'plan_feature_missing',
        message:
          "the Hobby plan does not include custom domains: move to a plan that does (Pro, Team, Enterprise) in the organization's settings (/settings/#billing)",
        details: { plan: 'hobby', upgrade: '/settings/#billing' },
      });
      // A downgrade keeps the names already verified serving.
      expect((await call(`${origin}/mcp`, stack.key, echo)).status).toBe(200);
    } finally {
      await stack.platform.ctx.plans.set(orgId, null);
    }
  }, 60_000);

  it('re-checks a verified name daily: gone three checks in a row, it stops serving until verified again; claims never verified expire', async () => {
    const day = 24 * 3600_000;
    let now = Date.now();
    const keeper = new DomainKeeper({ ...stack.platform.ctx, log: stack.platform.ctx.log, now: () => now });
    const record = `_bmms-challenge.${HOST}`;
    const value = dns.txt(record);
    // Not due yet: verified moments ago.
    expect(await keeper.sweep()).toEqual({ expired: 0, checked: 0, unverified: [] });
    // A day later the record is still there: checked, nothing changes.
    now += day + 1000;
    expect(await keeper.sweep()).toMatchObject({ checked: 1, unverified: [] });
    // The name changed hands: the record is gone. Two failed checks only say so on the claim.
    dns.remove(record);
    for (let i = 1; i <= 2; i++) {
      now += day + 1000;
      expect(await keeper.sweep()).toMatchObject({ checked: 1, unverified: [] });
      const listed = await stack.api<{ domains: DomainBody[] }>('GET', domains());
      const claim = listed.body.domains.find((d) => d.hostname === HOST);
      expect(claim).toMatchObject({ status: 'verified', lastError: expect.stringContaining(`re-check ${i} of 3`) });
      expect((await call(`${origin}/mcp`, stack.key, echo)).status).toBe(200);
    }
    now += day + 1000;
    expect(await keeper.sweep()).toMatchObject({ checked: 1, unverified: [HOST] });
    expect((await call(`${origin}/mcp`, stack.key, echo)).status).toBe(404);
    expect((await fetch(`${stack.url}/api/v1/domains/tls?domain=${HOST}`)).status).toBe(404);
    const listed = await stack.api<{ domains: DomainBody[] }>('GET', domains());
    const claim = listed.body.domains.find((d) => d.hostname === HOST);
    expect(claim?.status).toBe('pending');
    expect(claim?.lastError).toMatch(/^unverified on \d{4}-\d{2}-\d{2} after 3 daily checks/);
    const unverify = await stack.platform.ctx.db.auditEvent.findFirst({ where: { action: 'domain.unverify' } });
    expect(unverify?.data).toMatchObject({ server: 'shop', hostname: HOST });
    // Published again by its owner: verified again, and served.
    dns.setTxt(record, value);
    expect((await stack.api('POST', `${domains()}/${HOST}/verify`)).status).toBe(200);
    expect((await call(`${origin}/mcp`, stack.key, echo)).status).toBe(200);
    // The four claims above were never verified: 14 days on, they are dropped; the verified one stays.
    now += 14 * day;
    expect(await keeper.sweep()).toEqual({ expired: 4, checked: 1, unverified: [] });
    const left = await stack.api<{ domains: DomainBody[] }>('GET', domains());
    expect(left.body.domains.map((d) => d.hostname)).toEqual([HOST]);
    expect((await call(`${origin}/mcp`, stack.key, echo)).status).toBe(200);
  }, 60_000);

  it('goes with its server: deleting the server frees the name and refuses calls to it', async () => {
    expect((await stack.api('DELETE', `/api/v1/servers/${server.name}`)).status).toBeLessThan(300);
    expect((await call(`${origin}/mcp`, stack.key, echo)).status).toBe(404);
    expect(await stack.platform.ctx.db.serverDomain.count({ where: { hostname: HOST } })).toBe(0);
    expect((await fetch(`${stack.url}/api/v1/domains/tls?domain=${HOST}`)).status).toBe(404);
  }, 60_000);
});
