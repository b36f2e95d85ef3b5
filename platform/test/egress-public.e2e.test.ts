import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';
import { EgressProxy } from '../src/egress/proxy.ts';
import { type ChangeBody, type ServerBody, TestStack, textOf } from './harness.ts';
import { NETNS_UNAVAILABLE, TestNamespace } from './netns.ts';
import { selfSignedCert } from './tls.ts';

// A template that calls an IPv4 host the classifier deems public works end to end: created, checked, merged,
// deployed, and its tool called through the gateway; its ctx.fetch leaves the sandbox through the egress
// proxy, which resolves "api.example.com" (test hook) to a host in a network namespace this test creates.
// That host has an address of the documentation range 198.51.100.0/24, which the classifier refuses unless
// BMMS_TEST_PUBLIC_RANGES names it: the proxy connects over a veth pair, never to anything else.

const SKIP = NETNS_UNAVAILABLE;
const API_KEY = 'netns-api-value';

const SERVER_JS = `
import { createServer as createHttps } from 'node:https';
import { createServer as createHttp } from 'node:http';
import { readFileSync } from 'node:fs';
const [keyFile, certFile, apiKey] = process.argv.slice(2);
const handle = (scheme) => (req, res) => {
  const hit = { scheme, method: req.method, host: req.headers.host, path: req.url, key: req.headers['x-api-key'] === apiKey, remote: req.socket.remoteAddress };
  process.stdout.write(JSON.stringify({ hit }) + '\\n');
  if (req.url === '/items/1' && hit.key) {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ id: '1', name: 'from the namespace', scheme }));
  } else {
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end('{"message":"Not Found"}');
  }
};
const tls = { key: readFileSync(keyFile), cert: readFileSync(certFile) };
let up = 0;
const ready = () => { if (++up === 2) process.stdout.write(JSON.stringify({ ready: true }) + '\\n'); };
createHttps(tls, handle('https')).listen(443, '0.0.0.0', ready);
createHttp(handle('http')).listen(80, '0.0.0.0', ready);
`;

let ns: TestNamespace;
let scratch = '';
let hostProcess: ChildProcess | undefined;
const hits: { scheme: string; method: string; host: string; path: string; key: boolean; remote: string }[] = [];
let stack: TestStack | undefined;
let change: ChangeBody;
let server: ServerBody;

/** Starts the stand-in API inside the namespace on 80 and 443; resolves once both listen. */
async function startTestHost(): Promise<string> {
  const tls = selfSignedCert(scratch, ['api.example.com']);
  const script = path.join(scratch, 'api.mjs');
  await writeFile(script, SERVER_JS);
  const child = spawn(
    'ip',
    [
      'netns',
      'exec',
      ns.name,
      process.execPath,
      script,
      path.join(scratch, 'key.pem'),
      path.join(scratch, 'cert.pem'),
      API_KEY,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  hostProcess = child;
  await new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`test host exited with ${code}`)));
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      const message = JSON.parse(line) as { ready?: boolean; hit?: (typeof hits)[number] };
      if (message.hit) hits.push(message.hit);
      if (message.ready) resolve();
    });
  });
  return tls.cert;
}

/** One GET through a proxy listener for `api.example.com`; the status and the body. */
async function viaProxy(testPublicRanges: string[], url: string): Promise<{ status: number; body: string }> {
  const proxy = new EgressProxy({
    root: path.join(scratch, `proxy-${testPublicRanges.length}`),
    lookup: async () => [{ address: ns.address, family: 4 }],
    testPublicRanges,
    log: () => {},
  });
  try {
    const { socketPath } = await proxy.open('i', { allow: ['api.example.com'], server: 'direct' });
    return await new Promise((resolve, reject) => {
      const req = request({ socketPath, path: url, headers: { 'x-api-key': API_KEY } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      });
      req.on('error', reject);
      req.end();
    });
  } finally {
    await proxy.closeAll();
  }
}

describe.skipIf(SKIP !== '')(`egress to a public IPv4 host, end to end ${SKIP ? `(skipped: ${SKIP})` : ''}`, () => {
  beforeAll(async () => {
    scratch = await mkdtemp(path.join(os.tmpdir(), 'bmms-egress-public-'));
    ns = TestNamespace.create('eg');
    const cert = await startTestHost();
    // The setting as an operator's environment would give it.
    const { testPublicRanges } = loadConfig({ BMMS_TEST_PUBLIC_RANGES: '198.51.100.0/24' });
    stack = await TestStack.start(
      { ...(testPublicRanges ? { testPublicRanges } : {}) },
      {
        egress: {
          // Only the API's name resolves (to the namespace's host); no other name and no real DNS.
          lookup: async (name) => {
            if (name !== 'api.example.com')
              throw Object.assign(new Error(`no such host ${name}`), { code: 'ENOTFOUND' });
            return [{ address: ns.address, family: 4 }];
          },
          ca: cert,
        },
      },
    );
    const created = await stack.api('POST', '/api/v1/servers', { name: 'public-api', template: 'http-json' });
    if (created.status !== 201) throw new Error(`create: ${created.status} ${JSON.stringify(created.body)}`);
    const secret = await stack.api('PUT', '/api/v1/servers/public-api/secrets/API_KEY', { value: API_KEY });
    if (secret.status !== 201) throw new Error(`secret: ${secret.status}`);
    change = await stack.waitChecks('public-api', 1, 300_000);
    const merged = await stack.api<{ sha: string }>('POST', '/api/v1/servers/public-api/changes/1/merge');
    if (merged.status !== 200) throw new Error(`merge: ${merged.status} ${JSON.stringify(merged.body)}`);
    server = await stack.waitReady('public-api', merged.body.sha, 120_000);
  }, 600_000);

  afterAll(async () => {
    await stack?.destroy();
    if (hostProcess && hostProcess.exitCode === null) {
      const exited = new Promise((resolve) => hostProcess?.once('exit', resolve));
      hostProcess.kill('SIGTERM');
      await exited;
    }
    ns?.remove();
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  it('the setting refuses anything that is not a documentation range', () => {
    expect(() => loadConfig({ BMMS_TEST_PUBLIC_RANGES: '10.0.0.0/8' })).toThrow(
      /BMMS_TEST_PUBLIC_RANGES: "10.0.0.0\/8" can't be treated as public/,
    );
    expect(() => loadConfig({ BMMS_TEST_PUBLIC_RANGES: '198.51.100.0/24,127.0.0.0/8' })).toThrow(/127\.0\.0\.0\/8/);
  });

  it('without the setting the proxy refuses the same host, and plain http on 80 works with it', async () => {
    const before = hits.length;
    const refused = await viaProxy([], 'http://api.example.com/items/1');
    expect(refused.status).toBe(403);
    expect(JSON.parse(refused.body)).toMatchObject({ error: { code: 'egress_address_refused' } });
    expect(hits.length).toBe(before);
    const plain = await viaProxy(['198.51.100.0/24'], 'http://api.example.com/items/1');
    expect(plain.status).toBe(200);
    expect(JSON.parse(plain.body)).toEqual({ id: '1', name: 'from the namespace', scheme: 'http' });
    expect(hits.at(-1)).toMatchObject({ scheme: 'http', host: 'api.example.com', remote: ns.hostSide });
  });

  it('http-json passes every check, deploys, and its tool reaches the public host through the proxy', async () => {
    expect(change.checkSuite.conclusion).toBe('success');
    expect(server.conditions.find((c) => c.type === 'Ready')?.status).toBe('True');
    const client = await stack?.mcpClient(server.url);
    if (!client) throw new Error('no stack');
    try {
      const before = hits.length;
      const result = (await client.callTool({ name: 'get_json', arguments: { id: '1' } })) as {
        isError?: boolean;
        content: { type: string; text?: string }[];
      };
      expect(result.isError, textOf(result)).toBeFalsy();
      expect(JSON.parse(textOf(result))).toEqual({ id: '1', name: 'from the namespace', scheme: 'https' });
      // The request crossed the veth pair from the host side, with the secret the tool sent.
      const hit = hits.slice(before).at(-1);
      expect(hit).toEqual({
        scheme: 'https',
        method: 'GET',
        host: 'api.example.com',
        path: '/items/1',
        key: true,
        remote: ns.hostSide,
      });
    } finally {
      await client.close();
    }
  });
});
