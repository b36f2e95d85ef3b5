import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EgressDeniedError, ManifestError, renderTemplate, validateManifest } from '@bmms/runner-template';
import { createEgressFetch } from '@bmms/runner-template/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manifestCheck } from '../src/checks/manifest.ts';
import { surfaceCheck } from '../src/checks/surface.ts';
import { EgressProxy } from '../src/egress/proxy.ts';
import { checkout, cleanup, editManifest, toolsOf } from './check-helpers.ts';
import { selfSignedCert } from './tls.ts';

// One table, four places: every case goes through the manifest check, the surface check (a link in a tool
// description is "outside egress" exactly when ctx.fetch could not fetch it), the runtime's ctx.fetch and the
// egress proxy, and all four must give the same verdict. The rows marked "disagreed" are the cases where the
// four gave different answers before the policy lived in one module (runner-template/src/egress/policy.ts).

type Verdict = 'allowed' | 'egress_host_not_allowed' | 'egress_port_not_allowed' | 'egress_scheme_not_allowed';

interface Case {
  egress: string[];
  url: string;
  verdict: Verdict;
  /** Schema problem of the entries (the runtime refuses to start, the check reports it); default none. */
  invalid?: boolean;
  /** Rules the manifest check reports for these entries; default none. */
  check?: string[];
  note?: string;
}

const CASES: Case[] = [
  { egress: ['api.example.com'], url: 'https://api.example.com/v1/items', verdict: 'allowed' },
  { egress: ['api.example.com'], url: 'http://api.example.com/v1/items', verdict: 'allowed' },
  { egress: ['api.example.com'], url: 'https://API.Example.COM/v1', verdict: 'allowed' },
  {
    egress: ['api.example.com'],
    url: 'http://api.example.com:443/',
    verdict: 'egress_port_not_allowed',
    note: 'disagreed: the proxy let a bare host through on 443 for http',
  },
  {
    egress: ['api.example.com'],
    url: 'https://api.example.com:80/',
    verdict: 'egress_port_not_allowed',
    note: 'disagreed: the proxy let a bare host through on 80 for https',
  },
  { egress: ['api.example.com'], url: 'https://api.example.com:8443/', verdict: 'egress_port_not_allowed' },
  { egress: ['api.example.com:443'], url: 'https://api.example.com/', verdict: 'allowed' },
  { egress: ['api.example.com:443'], url: 'http://api.example.com:443/', verdict: 'allowed' },
  { egress: ['api.example.com:443'], url: 'http://api.example.com/', verdict: 'egress_port_not_allowed' },
  { egress: ['api.example.com'], url: 'https://evil.example.com/', verdict: 'egress_host_not_allowed' },
  { egress: ['api.example.com'], url: 'https://api.example.com.evil.net/', verdict: 'egress_host_not_allowed' },
  { egress: ['api.example.com'], url: 'https://example.com/', verdict: 'egress_host_not_allowed' },
  { egress: ['api.example.com'], url: 'https://api.example.com./', verdict: 'egress_host_not_allowed' },
  { egress: ['api.example.com'], url: 'ftp://api.example.com/file', verdict: 'egress_scheme_not_allowed' },
  { egress: ['api.example.com'], url: 'wss://api.example.com/socket', verdict: 'egress_scheme_not_allowed' },
  {
    egress: ['*.api.example.com'],
    url: 'https://eu.api.example.com/v1',
    verdict: 'allowed',
    note: 'disagreed: the check accepted a leading wildcard that the schema and the runtime refused',
  },
  { egress: ['*.api.example.com'], url: 'https://api.example.com/', verdict: 'egress_host_not_allowed' },
  {
    egress: ['*.api.example.com'],
    url: 'https://a.eu.api.example.com/',
    verdict: 'egress_host_not_allowed',
    note: 'disagreed: the surface check let a wildcard match more than one label',
  },
  { egress: ['*.api.example.com'], url: 'https://evilapi.example.com/', verdict: 'egress_host_not_allowed' },
  { egress: ['*.api.example.com'], url: 'http://eu.api.example.com:443/', verdict: 'egress_port_not_allowed' },
  { egress: ['*.api.example.com:443'], url: 'http://eu.api.example.com:443/', verdict: 'allowed' },
  {
    egress: ['*.*.example.com'],
    url: 'https://a.b.example.com/',
    verdict: 'egress_host_not_allowed',
    invalid: true,
    check: ['egress-wildcard'],
  },
  {
    egress: ['api.*.example.com'],
    url: 'https://api.eu.example.com/',
    verdict: 'egress_host_not_allowed',
    invalid: true,
    check: ['egress-wildcard'],
  },
  {
    egress: ['*'],
    url: 'https://anything.example/',
    verdict: 'egress_host_not_allowed',
    invalid: true,
    check: ['egress-wildcard'],
  },
  {
    egress: ['*.com'],
    url: 'https://example.com/',
    verdict: 'egress_host_not_allowed',
    invalid: true,
    check: ['egress-wildcard'],
  },
  {
    egress: ['API.example.com'],
    url: 'https://api.example.com/',
    verdict: 'egress_host_not_allowed',
    invalid: true,
    check: ['manifest-invalid'],
  },
  {
    egress: ['api.example.com:0'],
    url: 'https://api.example.com/',
    verdict: 'egress_host_not_allowed',
    invalid: true,
    check: ['egress-port'],
  },
  {
    egress: ['127.1'],
    url: 'http://127.0.0.1/',
    verdict: 'egress_host_not_allowed',
    invalid: true,
    check: ['egress-ip-literal'],
  },
];

/** The echo template with `egress` set and the echo tool's description linking to `url`. */
const repo = (egress: string[], url: string) =>
  editManifest(renderTemplate('echo', 'demo'), (m) => {
    m.egress = egress;
    (toolsOf(m)[0] as Record<string, unknown>).description = `Echoes text. See [the reference](${url}).`;
  });

let tmp: string;
let httpUpstream: Server;
let httpsUpstream: Server;
let httpPort: number;
let httpsPort: number;
let cert: string;
const upstreamHits: string[] = [];

const answer = (req: IncomingMessage, res: ServerResponse) => {
  upstreamHits.push(`${req.headers.host}${req.url}`);
  res.writeHead(200, { 'content-type': 'text/plain' });
  res.end('upstream');
};
const listen = (server: Server): Promise<number> =>
  new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'bmms-egress-policy-'));
  const hosts = [...new Set(CASES.map((c) => new URL(c.url).hostname).filter((h) => !/^\d/.test(h)))];
  const tls = selfSignedCert(tmp, hosts);
  cert = tls.cert;
  httpUpstream = createServer(answer);
  httpsUpstream = createHttpsServer({ key: tls.key, cert }, answer);
  httpPort = await listen(httpUpstream);
  httpsPort = await listen(httpsUpstream);
});
afterAll(async () => {
  httpUpstream?.close();
  httpsUpstream?.close();
  await cleanup();
  await rm(tmp, { recursive: true, force: true });
});

/** The manifest check's egress-related rules for these entries (the rest of the echo template is clean). */
async function checkRules(c: Case): Promise<string[]> {
  const o = await manifestCheck.run(await checkout(repo(c.egress, c.url)));
  return (o.findings ?? []).map((f) => f.rule);
}

/** The surface check's verdict on a link to the case's URL. */
async function surfaceVerdict(c: Case): Promise<'allowed' | 'outside'> {
  const o = await surfaceCheck.run(await checkout(repo(c.egress, c.url)));
  const rules = (o.findings ?? []).map((f) => f.rule);
  return rules.includes('desc-external-link') ? 'outside' : 'allowed';
}

/** What ctx.fetch does with the URL: the hop runs only when the policy lets it through. */
async function runtimeVerdict(c: Case): Promise<Verdict> {
  const sent: string[] = [];
  const fetching = createEgressFetch(c.egress, new AbortController().signal, async (url) => {
    sent.push(url.href);
    return new Response('ok');
  });
  try {
    await fetching(c.url);
    expect(sent).toHaveLength(1);
    return 'allowed';
  } catch (error) {
    expect(error).toBeInstanceOf(EgressDeniedError);
    expect(sent).toEqual([]);
    return (error as EgressDeniedError).rule as Verdict;
  }
}

/** What the proxy answers: every name resolves to a local upstream of the URL's scheme (test hooks). */
async function proxyVerdict(c: Case, index: number): Promise<Verdict> {
  const scheme = new URL(c.url).protocol;
  const proxy = new EgressProxy({
    root: join(tmp, `proxy-${index}`),
    lookup: async () => [{ address: '127.0.0.1', family: 4 }],
    allowPrivate: (address) => address === '127.0.0.1',
    upstreamPort: () => (scheme === 'https:' ? httpsPort : httpPort),
    ca: cert,
    log: () => {},
  });
  try {
    const { socketPath } = await proxy.open('i', { allow: c.egress, server: 'demo' });
    const before = upstreamHits.length;
    const reply = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request({ socketPath, path: c.url, method: 'GET' }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      });
      req.on('error', reject);
      req.end();
    });
    if (reply.status === 200) {
      expect(reply.body).toBe('upstream');
      expect(upstreamHits.length).toBe(before + 1);
      return 'allowed';
    }
    expect(reply.status).toBe(403);
    expect(upstreamHits.length).toBe(before);
    return (JSON.parse(reply.body) as { error: { code: Verdict } }).error.code;
  } finally {
    await proxy.closeAll();
  }
}

describe('the egress policy: one table through the check, the runtime and the proxy', () => {
  it.each(CASES.map((c, i) => [`${c.egress.join(',')} → ${c.url}`, c, i] as const))(
    '%s',
    async (_name, c, index) => {
      expect(await checkRules(c)).toEqual(c.check ?? []);
      let schemaOk = true;
      try {
        validateManifest(JSON.parse(repo(c.egress, c.url)['mcp.json'] ?? ''));
      } catch (error) {
        expect(error).toBeInstanceOf(ManifestError);
        schemaOk = false;
      }
      expect(schemaOk).toBe(!c.invalid);
      expect(await surfaceVerdict(c)).toBe(c.verdict === 'allowed' ? 'allowed' : 'outside');
      expect(await runtimeVerdict(c)).toBe(c.verdict);
      expect(await proxyVerdict(c, index)).toBe(c.verdict);
    },
    30_000,
  );
});
