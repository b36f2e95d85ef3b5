import type { LookupAddress } from 'node:dns';
import { statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNetworkFetch } from '@bmms/runner-template/runtime';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { selfSignedCert } from '../../test/tls.ts';
import { egressProvisioner } from './provisioner.ts';
import { EgressProxy, type EgressProxyOptions, type TappedExchange } from './proxy.ts';

let tmp: string;
let httpUpstream: Server;
let httpsUpstream: Server;
let httpPort: number;
let httpsPort: number;
let cert: string;
const seen: { method: string; url: string; headers: IncomingMessage['headers']; body: string }[] = [];
const proxies: EgressProxy[] = [];

function upstreamHandler(scheme: string) {
  return (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      res.writeHead(200, { 'content-type': 'application/json', 'x-upstream': scheme });
      res.end(JSON.stringify({ scheme, path: req.url, body, host: req.headers.host }));
    });
  };
}

const listen = (server: Server): Promise<number> =>
  new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'bmms-egress-'));
  const tls = selfSignedCert(tmp, ['secure.test']);
  cert = tls.cert;
  httpUpstream = createServer(upstreamHandler('http'));
  httpsUpstream = createHttpsServer({ key: tls.key, cert }, upstreamHandler('https'));
  httpPort = await listen(httpUpstream);
  httpsPort = await listen(httpsUpstream);
});
afterEach(async () => {
  seen.length = 0;
  for (const p of proxies.splice(0)) await p.closeAll();
});
afterAll(async () => {
  httpUpstream.close();
  httpsUpstream.close();
  await rm(tmp, { recursive: true, force: true });
});

const loopbackOnly = (address: string) => address === '127.0.0.1';
/** Every name resolves to 127.0.0.1 unless `table` says otherwise. */
const fakeDns =
  (table: Record<string, string> = {}, calls: string[] = []) =>
  async (host: string): Promise<LookupAddress[]> => {
    calls.push(host);
    const address = table[host] ?? '127.0.0.1';
    return [{ address, family: address.includes(':') ? 6 : 4 }];
  };

function proxy(over: Partial<EgressProxyOptions> = {}, lines: Record<string, unknown>[] = []): EgressProxy {
  const p = new EgressProxy({
    root: join(tmp, 'egress'),
    lookup: fakeDns(),
    allowPrivate: loopbackOnly,
    ca: cert,
    log: (e) => lines.push(e),
    ...over,
  });
  proxies.push(p);
  return p;
}

type Answer = { status: number; headers: IncomingMessage['headers']; body: string };
function send(
  socketPath: string,
  url: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path: url, method: opts.method ?? 'GET', headers: opts.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }),
      );
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}
const code = (a: Answer): string => (JSON.parse(a.body) as { error: { code: string } }).error.code;

describe('EgressProxy', () => {
  it('hands the upstream answers of the servers a tap wants to it, bounded, and of no other server', async () => {
    const heard: { server: string; exchange: TappedExchange }[] = [];
    const p = proxy({
      tap: {
        wants: (server) => server === 'weather',
        exchange: (server, exchange) => heard.push({ server, exchange }),
      },
    });
    const weather = await p.open('i-1', { allow: [`api.test:${httpPort}`], server: 'weather' });
    const other = await p.open('i-2', { allow: [`api.test:${httpPort}`], server: 'other' });
    const a = await send(weather.socketPath, `http://api.test:${httpPort}/v1/x?q=1`);
    await send(other.socketPath, `http://api.test:${httpPort}/v1/y`);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(heard).toHaveLength(1);
    expect(heard[0]?.server).toBe('weather');
    expect(heard[0]?.exchange).toMatchObject({
      method: 'GET',
      url: `http://api.test:${httpPort}/v1/x?q=1`,
      status: 200,
      truncated: false,
    });
    expect(heard[0]?.exchange.body.toString('utf8')).toBe(a.body);
  });

  it('a replaying listener answers with recorded answers only, never going out, and 502 for anything else', async () => {
    const p = proxy();
    const { socketPath } = await p.open('i-1', {
      allow: [`api.test:${httpPort}`],
      server: 'weather (preview)',
      replay: (method, url) =>
        method === 'GET' && url === `http://api.test:${httpPort}/v1/x`
          ? { status: 200, headers: { 'content-type': 'application/json' }, body: '{"recorded":true}' }
          : undefined,
    });
    const hit = await send(socketPath, `http://api.test:${httpPort}/v1/x`);
    expect(hit).toMatchObject({ status: 200, body: '{"recorded":true}' });
    const miss = await send(socketPath, `http://api.test:${httpPort}/v1/other`);
    expect(miss.status).toBe(502);
    expect(code(miss)).toBe('egress_replay_unrecorded');
    const refused = await send(socketPath, 'http://elsewhere.test/v1/x');
    expect(code(refused)).toBe('egress_host_not_allowed');
    expect(seen).toEqual([]);
  });

  it('forwards an allowlisted http request, body and headers, and answers with the upstream response', async () => {
    const p = proxy();
    const { socketPath } = await p.open('i-1', { allow: [`api.test:${httpPort}`], server: 'weather' });
    const a = await send(socketPath, `http://api.test:${httpPort}/v1/x?q=1`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain', authorization: 'Bearer s3cr3t-value', 'proxy-authorization': 'x' },
      body: 'hello',
    });
    expect(a.status).toBe(200);
    expect(a.headers['x-upstream']).toBe('http');
    expect(JSON.parse(a.body)).toEqual({
      scheme: 'http',
      path: '/v1/x?q=1',
      body: 'hello',
      host: `api.test:${httpPort}`,
    });
    expect(seen[0]?.headers.authorization).toBe('Bearer s3cr3t-value');
    expect(seen[0]?.headers['proxy-authorization']).toBeUndefined();
    expect(p.stats('weather')).toMatchObject({ requests: 1, refused: 0, bytesOut: 5, bytesIn: a.body.length });
  });

  it('originates TLS itself, checking the certificate against the host name', async () => {
    const p = proxy();
    const { socketPath } = await p.open('i-1', { allow: [`secure.test:${httpsPort}`], server: 'weather' });
    const a = await send(socketPath, `https://secure.test:${httpsPort}/tls`);
    expect(a.status).toBe(200);
    expect(JSON.parse(a.body)).toMatchObject({ scheme: 'https', path: '/tls' });

    // The same upstream under a name its certificate does not carry is a 502, not a silent pass.
    const q = proxy({ root: join(tmp, 'egress2') });
    const other = await q.open('i-2', { allow: [`other.test:${httpsPort}`], server: 'weather' });
    const b = await send(other.socketPath, `https://other.test:${httpsPort}/tls`);
    expect(b.status).toBe(502);
    expect(code(b)).toBe('egress_upstream_failed');
  });

  it('refuses a host that is not on the allowlist', async () => {
    const p = proxy();
    const { socketPath } = await p.open('i-1', { allow: [`api.test:${httpPort}`], server: 'weather' });
    const a = await send(socketPath, `http://evil.test:${httpPort}/`);
    expect(a.status).toBe(403);
    expect(code(a)).toBe('egress_host_not_allowed');
    expect(seen).toHaveLength(0);
    expect(p.stats('weather')).toMatchObject({ requests: 1, refused: 1 });
  });

  it('refuses a port other than 80/443 unless the entry names it', async () => {
    const p = proxy();
    const { socketPath } = await p.open('i-1', { allow: ['api.test', 'other.test:8443'], server: 'weather' });
    const a = await send(socketPath, `http://api.test:${httpPort}/`);
    expect(a.status).toBe(403);
    expect(code(a)).toBe('egress_port_not_allowed');
    const b = await send(socketPath, `http://other.test:${httpPort}/`);
    expect(code(b)).toBe('egress_port_not_allowed');
    expect(seen).toHaveLength(0);
  });

  it('refuses schemes other than http and https', async () => {
    const p = proxy();
    const { socketPath } = await p.open('i-1', { allow: ['api.test'], server: 'weather' });
    const a = await send(socketPath, 'ftp://api.test/file');
    expect(a.status).toBe(403);
    expect(code(a)).toBe('egress_scheme_not_allowed');
  });

  it.each([
    ['10.0.0.1'],
    ['127.0.0.1'],
    ['169.254.169.254'],
    ['100.64.1.1'],
    ['192.168.1.1'],
    ['::1'],
    ['fd00:ec2::254'],
    ['fe80::1'],
    ['::ffff:127.0.0.1'],
    ['0.0.0.0'],
    ['255.255.255.255'],
    ['::ffff:10.0.0.1'],
    ['64:ff9b::a9fe:a9fe'], // NAT64 of 169.254.169.254
    ['64:ff9b:1::a00:1'],
    ['2002:a00:1::1'], // 6to4 of 10.0.0.1
    ['2001:0:4136:e378:8000:63bf:3fff:fdd2'], // Teredo
    ['fec0::1'], // site-local
    ['198.51.100.2'], // documentation: public only with BMMS_TEST_PUBLIC_RANGES
  ])('refuses a name that resolves to %s (production default)', async (address) => {
    const p = proxy({ allowPrivate: undefined, lookup: fakeDns({ 'api.test': address }) });
    const { socketPath } = await p.open('i-1', { allow: [`api.test:${httpPort}`], server: 'weather' });
    const a = await send(socketPath, `http://api.test:${httpPort}/`);
    expect(a.status).toBe(403);
    expect(code(a)).toBe('egress_address_refused');
    expect(seen).toHaveLength(0);
  });

  it('refuses an allowlisted IP literal in a private range without resolving anything', async () => {
    const calls: string[] = [];
    const p = proxy({ allowPrivate: undefined, lookup: fakeDns({}, calls) });
    const { socketPath } = await p.open('i-1', { allow: [`127.0.0.1:${httpPort}`], server: 'weather' });
    const a = await send(socketPath, `http://127.0.0.1:${httpPort}/`);
    expect(code(a)).toBe('egress_address_refused');
    expect(calls).toEqual([]);
  });

  it('connects to the address it validated: a name that rebinds between requests is caught on the next one', async () => {
    const calls: string[] = [];
    let n = 0;
    const rebinding = async (host: string): Promise<LookupAddress[]> => {
      calls.push(host);
      n++;
      // First answer passes validation; later answers point at the metadata service.
      return [{ address: n === 1 ? '127.0.0.1' : '169.254.169.254', family: 4 }];
    };
    const p = proxy({ lookup: rebinding });
    const { socketPath } = await p.open('i-1', { allow: [`api.test:${httpPort}`], server: 'weather' });
    const a = await send(socketPath, `http://api.test:${httpPort}/one`);
    expect(a.status).toBe(200);
    // One resolution per request: the connection never asked DNS again (it would have got 169.254.169.254).
    expect(calls).toEqual(['api.test']);
    const b = await send(socketPath, `http://api.test:${httpPort}/two`);
    expect(code(b)).toBe('egress_address_refused');
    expect(seen.map((s) => s.url)).toEqual(['/one']);
  });

  it('refuses a mixed answer where any address is private', async () => {
    const p = proxy({
      allowPrivate: undefined,
      lookup: async () => [
        { address: '203.0.113.10', family: 4 },
        { address: '10.0.0.1', family: 4 },
      ],
    });
    const { socketPath } = await p.open('i-1', { allow: ['api.test'], server: 'weather' });
    expect(code(await send(socketPath, 'http://api.test/'))).toBe('egress_address_refused');
  });

  it('answers 502 for a name that does not resolve, or resolves to nothing, and never goes out', async () => {
    const p = proxy({
      lookup: async (host) => {
        if (host === 'empty.test') return [];
        throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
      },
    });
    const { socketPath } = await p.open('i-1', { allow: ['gone.test', 'empty.test'], server: 'weather' });
    for (const url of ['http://gone.test/', 'https://empty.test/']) {
      const a = await send(socketPath, url);
      expect(a.status).toBe(502);
      expect(code(a)).toBe('egress_resolve_failed');
    }
    expect(seen).toHaveLength(0);
  });

  it('logs one structured line per request without header values, paths or bodies', async () => {
    const lines: Record<string, unknown>[] = [];
    const p = proxy({}, lines);
    const { socketPath } = await p.open('i-1', { allow: [`api.test:${httpPort}`], server: 'weather' });
    await send(socketPath, `http://api.test:${httpPort}/secret-path?token=qs-secret`, {
      method: 'POST',
      headers: { authorization: 'Bearer hdr-secret' },
      body: 'body-secret',
    });
    await send(socketPath, `http://evil.test:${httpPort}/`);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({ msg: 'egress', server: 'weather', host: 'api.test', method: 'POST', status: 200 });
    expect(lines[0]).toMatchObject({ bytesOut: 11 });
    expect(typeof lines[0]?.ms).toBe('number');
    expect(lines[1]).toMatchObject({ host: 'evil.test', status: 403, rule: 'egress_host_not_allowed' });
    const text = JSON.stringify(lines);
    for (const secret of ['hdr-secret', 'qs-secret', 'secret-path', 'body-secret']) expect(text).not.toContain(secret);
  });

  it('makes the socket reachable for another uid and removes it on close', async () => {
    const p = proxy();
    const { dir, socketPath } = await p.open('i-1', { allow: ['api.test'], server: 'weather' });
    expect(statSync(socketPath).mode & 0o777).toBe(0o666);
    expect(statSync(dir).mode & 0o777).toBe(0o711);
    await p.close('i-1');
    expect(() => statSync(dir)).toThrow();
  });

  it('rejects origin-form requests', async () => {
    const p = proxy();
    const { socketPath } = await p.open('i-1', { allow: ['api.test'], server: 'weather' });
    const a = await send(socketPath, '/relative');
    expect(a.status).toBe(400);
    expect(code(a)).toBe('egress_bad_request');
  });
});

describe('egressProvisioner', () => {
  const manifest = (egress: string[]) => ({ egress }) as Parameters<ReturnType<typeof egressProvisioner>['setup']>[1];

  it('fingerprints the sorted allowlist and binds a listener folder at /run/bmms-egress', async () => {
    const p = proxy();
    const prov = egressProvisioner(p);
    const server = { id: 's1', name: 'weather' };
    expect(await prov.fingerprint(server, manifest(['b.test', 'a.test']))).toBe(
      await prov.fingerprint(server, manifest(['a.test', 'b.test'])),
    );
    const setup = await prov.setup(server, manifest([`api.test:${httpPort}`]), 'weather-123');
    expect(setup.env).toEqual({ BMMS_EGRESS_SOCKET: '/run/bmms-egress/egress.sock' });
    const bind = setup.binds?.[0];
    expect(bind?.sandbox).toBe('/run/bmms-egress');
    const a = await send(join(bind?.host ?? '', 'egress.sock'), `http://api.test:${httpPort}/p`);
    expect(a.status).toBe(200);
    await setup.release();
    expect(() => statSync(bind?.host ?? '')).toThrow();
  });

  it('gives nothing to a server without egress', async () => {
    const setup = await egressProvisioner(proxy()).setup({ id: 's', name: 'n' }, manifest([]), 'n-1');
    expect(setup.env).toEqual({});
    expect(setup.binds).toBeUndefined();
  });
});

describe('egress over a network (the swarm runtime on an overlay)', () => {
  /** A request to the network listener, with `token` when given. */
  function sendTo(base: string, url: string, token?: string): Promise<Answer> {
    const { hostname, port } = new URL(base);
    return new Promise((resolve, reject) => {
      const headers = token ? { 'proxy-authorization': `Bearer ${token}` } : undefined;
      const req = request({ host: hostname, port: Number(port), path: url, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }),
        );
      });
      req.on('error', reject);
      req.end();
    });
  }

  it('gives each instance a token to the one listener; no token, a wrong one or a closed one goes nowhere', async () => {
    const p = proxy();
    p.serveOnNetwork(async () => '127.0.0.1');
    const prov = egressProvisioner(p);
    const allowed = `api.test:${httpPort}`;
    const one = await prov.setup({ id: 's1', name: 'weather' }, manifestOf([allowed]), 'weather-1');
    const two = await prov.setup({ id: 's2', name: 'other' }, manifestOf(['elsewhere.test']), 'other-1');
    expect(one.binds).toBeUndefined();
    const url = one.env.BMMS_EGRESS_URL as string;
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(two.env.BMMS_EGRESS_URL).toBe(url);
    const token = one.env.BMMS_EGRESS_TOKEN as string;
    expect(token).not.toBe(two.env.BMMS_EGRESS_TOKEN);

    const ok = await sendTo(url, `http://${allowed}/v1/x`, token);
    expect(ok.status).toBe(200);
    expect(seen[0]?.headers['proxy-authorization']).toBeUndefined();
    expect(p.stats('weather').requests).toBe(1);
    // The other instance's token carries its own allowlist, not this one's.
    const refused = await sendTo(url, `http://${allowed}/v1/x`, two.env.BMMS_EGRESS_TOKEN);
    expect(code(refused)).toBe('egress_host_not_allowed');
    const anonymous = await sendTo(url, `http://${allowed}/v1/x`);
    expect(anonymous.status).toBe(407);
    expect(code(anonymous)).toBe('egress_unauthorized');
    expect((await sendTo(url, `http://${allowed}/v1/x`, 'A'.repeat(32))).status).toBe(407);
    await one.release();
    expect((await sendTo(url, `http://${allowed}/v1/x`, token)).status).toBe(407);
    expect(seen).toHaveLength(1);
    await two.release();
  });

  it("is what the runtime's ctx.fetch hop speaks (BMMS_EGRESS_URL, BMMS_EGRESS_TOKEN)", async () => {
    const p = proxy();
    p.serveOnNetwork(async () => '127.0.0.1');
    const { env } = await p.access('i-9', { allow: [`api.test:${httpPort}`], server: 'weather' });
    const hop = createNetworkFetch(env.BMMS_EGRESS_URL as string, env.BMMS_EGRESS_TOKEN as string);
    const res = await hop(new URL(`http://api.test:${httpPort}/v2?x=1`), { method: 'POST', body: 'hi' });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ path: '/v2?x=1', body: 'hi' });
    const wrong = createNetworkFetch(env.BMMS_EGRESS_URL as string, 'B'.repeat(32));
    expect((await wrong(new URL(`http://api.test:${httpPort}/`), {})).status).toBe(407);
  });
});

function manifestOf(egress: string[]) {
  return { egress } as Parameters<ReturnType<typeof egressProvisioner>['setup']>[1];
}
