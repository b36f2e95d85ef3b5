// Two platform processes on one Postgres database: the gateway caches keys, memberships and servers in memory,
// yet a key revoked, a member removed or a server deleted through one process is refused by both within a second
// while clients call in a loop. Both serve the server before (the follower through the routes it mirrors from the
// leader); what matters is that both stop authenticating what was revoked.
import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createTestDatabase, type TestDatabase, testServerUrl } from '@bmms/prisma/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DnsStandIn, startDnsServer } from './dns.ts';
import { HAS_BWRAP, poll } from './harness.ts';
import { PlatformProcess } from './platform-process.ts';

const PASSWORD = 'correct horse battery staple';
const CALL = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'tools/call',
  params: { name: 'echo', arguments: { text: 'hi' } },
});

interface Sample {
  startedAt: number;
  status: number;
  code: string | undefined;
}

/** Calls `server` through `p` with `key` in a loop until stopped; every answer with when its call started. */
function callInLoop(p: PlatformProcess, server: string, key: string): { stop(): Promise<Sample[]> } {
  const samples: Sample[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const startedAt = Date.now();
      const res = await fetch(`${p.url}/s/${server}/mcp`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${key}`,
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
        },
        body: CALL,
      });
      const text = await res.text();
      let code: string | undefined;
      try {
        code = (JSON.parse(text) as { error?: { code?: string } }).error?.code;
      } catch {
        code = undefined;
      }
      samples.push({ startedAt, status: res.status, code });
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return samples;
    },
  };
}

/** Runs `act` while both processes call in a loop; returns what each answered before and 1 s after it. */
async function refusedWithinASecond(
  processes: PlatformProcess[],
  server: string,
  key: string,
  act: () => Promise<void>,
): Promise<{ before: Sample[][]; after: Sample[][] }> {
  const loops = processes.map((p) => callInLoop(p, server, key));
  await new Promise((r) => setTimeout(r, 600));
  await act();
  const done = Date.now();
  await new Promise((r) => setTimeout(r, 1800));
  const all = await Promise.all(loops.map((l) => l.stop()));
  return {
    before: all.map((samples) => samples.filter((s) => s.startedAt < done - 300)),
    after: all.map((samples) => samples.filter((s) => s.startedAt >= done + 1000)),
  };
}

describe.runIf(testServerUrl())('two platform processes on one database', () => {
  let db: TestDatabase;
  let tmp: string;
  let leader: PlatformProcess;
  let follower: PlatformProcess;
  let dns: DnsStandIn;

  beforeAll(async () => {
    dns = await startDnsServer();
    db = await createTestDatabase({ kind: 'postgres' });
    tmp = await mkdtemp(path.join(os.tmpdir(), 'bmms-invalidate-'));
    const env = {
      DATABASE_URL: db.url as string,
      BMMS_MASTER_KEY: randomBytes(32).toString('base64'),
      BMMS_RESYNC_SECONDS: '2',
      BMMS_DNS_SERVERS: dns.address,
      BMMS_TEST_DOMAIN_SUFFIXES: 'test',
      ...(HAS_BWRAP ? {} : { BMMS_INSECURE_NO_SANDBOX: '1' }),
    };
    leader = new PlatformProcess(path.join(tmp, 'leader'), env);
    await leader.start();
    // The follower shares the database (and so the owner's key) but has its own data dir.
    await mkdir(path.join(tmp, 'follower'), { recursive: true, mode: 0o700 });
    await copyFile(path.join(tmp, 'leader', 'owner-api-key'), path.join(tmp, 'follower', 'owner-api-key'));
    follower = new PlatformProcess(path.join(tmp, 'follower'), env);
    await follower.start();

    const created = await leader.api('POST', '/api/v1/servers', { name: 'demo', template: 'echo' });
    expect(created.status).toBe(201);
    await poll(
      async () => {
        const c = await leader.api<{ checkSuite?: { conclusion: string | null } }>(
          'GET',
          '/api/v1/servers/demo/changes/1',
        );
        return c.body.checkSuite?.conclusion ? true : undefined;
      },
      180_000,
      'checks of change #1',
    );
    expect((await leader.api('POST', '/api/v1/servers/demo/changes/1/merge')).status).toBe(200);
    await leader.servingHead('demo');
  }, 300_000);

  afterAll(async () => {
    await follower?.stop();
    await leader?.stop();
    await db?.drop();
    await rm(tmp, { recursive: true, force: true });
    await dns?.close();
  });

  const newKey = async (name: string) => {
    const created = await leader.api<{ id: string; key: string }>('POST', '/api/v1/keys', {
      name,
      scopes: ['mcp:tools'],
    });
    expect(created.status).toBe(201);
    return created.body;
  };

  it('a revoked key is refused by every process within a second', async () => {
    const key = await newKey('looping');
    const { before, after } = await refusedWithinASecond([leader, follower], 'demo', key.key, async () => {
      expect((await leader.api('DELETE', `/api/v1/keys/${key.id}`)).status).toBe(204);
    });
    // Before: the leader serves the call, the follower (no route) authenticates it and says it is starting.
    expect(new Set(before[0]?.map((s) => s.status))).toEqual(new Set([200]));
    expect(new Set(before[1]?.map((s) => s.status))).toEqual(new Set([200]));
    for (const samples of after) {
      expect(samples.length).toBeGreaterThan(3);
      expect(new Set(samples.map((s) => `${s.status} ${s.code}`))).toEqual(new Set(['401 invalid_token']));
    }
  }, 60_000);

  it('a removed member is refused by every process within a second', async () => {
    const invite = await leader.api<{ token: string }>('POST', '/api/v1/org/invitations', {
      email: 'dev@example.com',
      role: 'developer',
    });
    expect(invite.status).toBe(201);
    const signup = await fetch(`${leader.url}/auth/signup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'dev@example.com', password: PASSWORD, invitation: invite.body.token }),
    });
    expect(signup.status).toBe(201);
    const { csrfToken, user } = (await signup.json()) as { csrfToken: string; user: { id: string } };
    const cookie = (signup.headers.get('set-cookie') ?? '').split(';')[0] as string;
    const made = await fetch(`${leader.url}/api/v1/keys`, {
      method: 'POST',
      headers: { cookie, 'x-csrf-token': csrfToken, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'dev', scopes: ['mcp:tools'] }),
    });
    expect(made.status).toBe(201);
    const { key } = (await made.json()) as { key: string };
    // Removed through the follower this time: the leader learns it from the database's notification.
    const { before, after } = await refusedWithinASecond([leader, follower], 'demo', key, async () => {
      expect((await follower.api('DELETE', `/api/v1/org/members/${user.id}`)).status).toBe(204);
    });
    expect(new Set(before[0]?.map((s) => s.status))).toEqual(new Set([200]));
    expect(new Set(before[1]?.map((s) => s.status))).toEqual(new Set([200]));
    for (const samples of after) {
      expect(samples.length).toBeGreaterThan(3);
      expect(new Set(samples.map((s) => `${s.status} ${s.code}`))).toEqual(new Set(['401 invalid_token']));
    }
  }, 60_000);

  it('a custom domain verified or removed through one process is known to the other within a second', async () => {
    const tls = (p: PlatformProcess) => fetch(`${p.url}/api/v1/domains/tls?domain=mcp.demo.test`).then((r) => r.status);
    const claimed = await leader.api<{ verification: { name: string; value: string } }>(
      'POST',
      '/api/v1/servers/demo/domains',
      { hostname: 'mcp.demo.test' },
    );
    expect(claimed.status).toBe(201);
    dns.setTxt(claimed.body.verification.name, [claimed.body.verification.value]);
    expect(await tls(follower)).toBe(404);
    expect((await leader.api('POST', '/api/v1/servers/demo/domains/mcp.demo.test/verify')).status).toBe(200);
    await new Promise((r) => setTimeout(r, 1000));
    expect(await tls(follower)).toBe(200);
    expect((await follower.api('DELETE', '/api/v1/servers/demo/domains/mcp.demo.test')).status).toBe(204);
    expect(await tls(follower)).toBe(404);
    await new Promise((r) => setTimeout(r, 1000));
    expect(await tls(leader)).toBe(404);
  }, 60_000);

  it('a deleted server is refused by every process within a second', async () => {
    const key = await newKey('deleting');
    const { before, after } = await refusedWithinASecond([leader, follower], 'demo', key.key, async () => {
      expect((await follower.api('DELETE', '/api/v1/servers/demo')).status).toBe(204);
    });
    expect(new Set(before[0]?.map((s) => s.status))).toEqual(new Set([200]));
    expect(new Set(before[1]?.map((s) => s.status))).toEqual(new Set([200]));
    for (const samples of after) {
      expect(samples.length).toBeGreaterThan(3);
      expect(new Set(samples.map((s) => `${s.status} ${s.code}`))).toEqual(new Set(['404 not_found']));
    }
  }, 60_000);
});
