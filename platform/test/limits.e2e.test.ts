// The plan's limits through the real stack: a Hobby org's 100,001st tool call of the month is refused with 429, a
// JSON-RPC error a client can show and Retry-After until the month resets, and works again once the (test) clock rolls
// over; alerts at 80 % and 100 % are recorded once; a second server is refused naming the plan and the larger ones;
// rate limits per token answer 429 with the IETF RateLimit fields, and hold across two platform processes on one
// Postgres, sharing their counts through the database or through Redis (REDIS_URL).
import { randomBytes, randomUUID } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createTestDatabase, type TestDatabase, testServerUrl } from '@bmms/prisma/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LIMIT_ERROR_CODE } from '../src/gateway/mcp.ts';
import { HAS_BWRAP, TestStack } from './harness.ts';
import { PlatformProcess } from './platform-process.ts';
import { REDIS_TEST_URL, redisForTests } from './redis.ts';

const call = (id: number) =>
  JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'add', arguments: { a: id, b: 1 } } });
const ping = (id: number) => JSON.stringify({ jsonrpc: '2.0', id, method: 'ping' });
const MCP_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

/** A raw MCP POST: status, headers and the JSON (or SSE-wrapped JSON) answer. */
async function post(url: string, key: string, body: string) {
  const res = await fetch(url, { method: 'POST', headers: { ...MCP_HEADERS, authorization: `Bearer ${key}` }, body });
  const text = await res.text();
  const json = text.startsWith('{')
    ? JSON.parse(text)
    : JSON.parse(text.split('\ndata: ')[1]?.split('\n')[0] ?? 'null');
  return { status: res.status, headers: res.headers, body: json as Record<string, unknown> };
}

describe('plan limits', () => {
  let stack: TestStack;
  let now = Date.UTC(2026, 11, 31, 23, 0, 0);
  let orgId = '';

  beforeAll(async () => {
    stack = await TestStack.start({ rateLimits: { token: { limit: 40, windowMs: 60_000 } } }, { clock: () => now });
    orgId = (await stack.platform.ctx.db.org.findFirstOrThrow({ orderBy: { createdAt: 'asc' } })).id;
    await stack.platform.ctx.plans.set(orgId, 'hobby');
  }, 300_000);
  afterAll(async () => {
    await stack?.destroy();
  });

  it('refuses a server beyond the plan, naming the plan and how to get more', async () => {
    await stack.createAndDeploy('quota');
    const second = await stack.api<{ error: { code: string; message: string; details: Record<string, unknown> } }>(
      'POST',
      '/api/v1/servers',
      { name: 'second', template: 'echo' },
    );
    expect(second.status).toBe(403);
    expect(second.body.error.code).toBe('plan_limit_reached');
    expect(second.body.error.message).toBe(
      "the Hobby plan allows 1 server and your organization has 1: delete one, or move to a larger plan (Pro: 5 servers, Team: 25 servers, Enterprise: set per organization) in the organization's settings (/settings/#billing)",
    );
    expect(second.body.error.details).toEqual({ plan: 'hobby', servers: 1, limit: 1, upgrade: '/settings/#billing' });
    expect(await stack.platform.ctx.db.server.count()).toBe(1);
  }, 300_000);

  it('answers the 100,001st call of the month 429 until the month rolls over', async () => {
    const { db, usage } = stack.platform.ctx;
    const server = await db.server.findUniqueOrThrow({ where: { name: 'quota' } });
    // 99,995 calls counted by another process this month (as its flushed running total).
    await db.usageCount.create({
      data: {
        processId: randomUUID(),
        month: new Date('2026-12-01T00:00:00Z'),
        orgId,
        serverId: server.id,
        preview: false,
        method: 'tools/call',
        tool: 'add',
        status: 200,
        calls: 99_995,
      },
    });
    await usage.refresh();
    const url = `${stack.url}/s/quota/mcp`;
    for (let i = 1; i <= 3; i++) expect((await post(url, stack.key, call(i))).status).toBe(200);
    // A batch (protocol versions before 2025-06-18 allow them) counts each of its tool calls, whatever comes first.
    const batch = await fetch(url, {
      method: 'POST',
      headers: { ...MCP_HEADERS, authorization: `Bearer ${stack.key}` },
      body: `[${ping(90)},${call(4)},${call(5)}]`,
    });
    expect(batch.status).toBe(200);
    expect(usage.billable(orgId)).toBe(100_000);

    const refused = await post(url, stack.key, call(100_001));
    expect(refused.status).toBe(429);
    // Until 2027-01-01T00:00:00Z: one hour from the test clock.
    expect(refused.headers.get('retry-after')).toBe('3600');
    expect(refused.body).toEqual({
      jsonrpc: '2.0',
      id: 100_001,
      error: {
        code: LIMIT_ERROR_CODE,
        message:
          "the Hobby plan's 100,000 tool calls this month are used up: calls work again at 2027-01-01T00:00:00.000Z, or at once on a larger plan (/settings/#billing)",
        data: {
          code: 'quota_exceeded',
          plan: 'hobby',
          limit: 100_000,
          used: 100_000,
          resetsAt: '2027-01-01T00:00:00.000Z',
          upgrade: '/settings/#billing',
        },
      },
    });
    // Nor does a batch get tool calls past it behind a first message that is not one.
    expect((await post(url, stack.key, `[${ping(91)},${call(100_003)}]`)).status).toBe(429);
    // Other requests still work (a client can connect and list tools, and show why its calls fail).
    const list = await post(url, stack.key, JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/list' }));
    expect(list.status).toBe(200);
    const usageNow = await stack.api<{ calls: number; quota: number }>('GET', '/api/v1/usage');
    expect(usageNow.body).toMatchObject({ calls: 100_000, quota: 100_000 });

    // 80 % and 100 % recorded once each (the email hook logs that no mail is configured).
    await expect
      .poll(async () =>
        (await db.usageAlert.findMany({ where: { orgId }, orderBy: { percent: 'asc' } })).map((a) => a.percent),
      )
      .toEqual([80, 100]);

    now = Date.UTC(2027, 0, 1, 0, 0, 1);
    const again = await post(url, stack.key, call(100_002));
    expect(again.status).toBe(200);
    expect(usage.billable(orgId)).toBe(1);
  }, 120_000);

  it('limits requests per token with the IETF RateLimit fields', async () => {
    now = Date.UTC(2027, 0, 1, 0, 20, 0);
    const url = `${stack.url}/s/quota/mcp`;
    const answers = [];
    for (let i = 0; i < 41; i++) answers.push(await post(url, stack.key, call(i)));
    expect(answers.slice(0, 40).every((a) => a.status === 200)).toBe(true);
    expect(answers[0]?.headers.get('ratelimit-policy')).toBe('"token";q=40;w=60');
    expect(answers[0]?.headers.get('ratelimit')).toBe('"token";r=39;t=0');
    const last = answers[40];
    expect(last?.status).toBe(429);
    expect(last?.headers.get('ratelimit')).toBe('"token";r=0;t=60');
    expect(last?.headers.get('retry-after')).toBe('60');
    expect(last?.body).toMatchObject({
      jsonrpc: '2.0',
      error: { code: LIMIT_ERROR_CODE, data: { code: 'rate_limited' } },
    });
    // Another window: room again.
    now += 120_000;
    expect((await post(url, stack.key, call(99))).status).toBe(200);
  }, 120_000);
});

/** The token limit's window in the two-process tests: an hour, so that their 16 s rarely meet a window's end. */
const WINDOW_SECONDS = 3600;

/**
 * Two platform processes on one Postgres database, with BMMS_RATE_LIMIT_TOKEN=20/3600 and `env`: 40 requests of one
 * token, alternating between them, let exactly 20 through in all.
 */
function limitsAcrossTwoProcesses(env: Record<string, string>, after?: (db: TestDatabase) => Promise<void>) {
  let db: TestDatabase;
  let tmp: string;
  const processes: PlatformProcess[] = [];

  beforeAll(async () => {
    db = await createTestDatabase({ kind: 'postgres' });
    tmp = await mkdtemp(path.join(os.tmpdir(), 'bmms-limits-'));
    const all = {
      DATABASE_URL: db.url as string,
      BMMS_MASTER_KEY: randomBytes(32).toString('base64'),
      BMMS_RATE_LIMIT_TOKEN: `20/${WINDOW_SECONDS}`,
      ...(HAS_BWRAP ? {} : { BMMS_INSECURE_NO_SANDBOX: '1' }),
      ...env,
    };
    const first = new PlatformProcess(path.join(tmp, 'a'), all);
    await first.start();
    await mkdir(path.join(tmp, 'b'), { recursive: true, mode: 0o700 });
    await copyFile(path.join(tmp, 'a', 'owner-api-key'), path.join(tmp, 'b', 'owner-api-key'));
    const second = new PlatformProcess(path.join(tmp, 'b'), all);
    await second.start();
    processes.push(first, second);
  }, 300_000);
  afterAll(async () => {
    for (const p of processes) await p.stop();
    await db?.drop();
    await rm(tmp, { recursive: true, force: true });
  });

  it('lets the limit through in all, not per process', async () => {
    // The 40 requests (about 40 s) stay inside one fixed window: across a boundary the sliding window weighs the
    // previous window's count down by how far the new one got, and rightly lets a few more through than 20.
    const left = WINDOW_SECONDS * 1000 - (Date.now() % (WINDOW_SECONDS * 1000));
    if (left < 90_000) await new Promise((r) => setTimeout(r, left + 100));
    // Requests to a server that does not exist: the token's limit is taken before the server is looked up (404).
    const answers: number[][] = [[], []];
    for (let i = 0; i < 40; i++) {
      const p = processes[i % 2] as PlatformProcess;
      answers[i % 2]?.push((await post(`${p.url}/s/nowhere/mcp`, p.key, call(i)).catch(() => ({ status: 0 }))).status);
      // Past two of the processes' exchange intervals (250 ms each) and a slow query: the one that served this request
      // has written its count and the other has read it before the next request. 400 ms let one more through in CI.
      await new Promise((r) => setTimeout(r, 1_000));
    }
    const through = answers.flat().filter((s) => s === 404).length;
    expect(answers.flat().every((s) => s === 404 || s === 429)).toBe(true);
    expect(through).toBe(20);
    // Each process refused some: alone, each would have let 20 through.
    for (const a of answers) expect(a.filter((s) => s === 429).length).toBeGreaterThan(0);
    await after?.(db);
  }, 180_000);
}

describe.runIf(testServerUrl())('rate limits across two platform processes on one Postgres', () => {
  limitsAcrossTwoProcesses({});
});

const redis = testServerUrl() ? await redisForTests() : false;

describe.runIf(redis)('rate limits across two platform processes through Redis (REDIS_URL)', () => {
  limitsAcrossTwoProcesses({ REDIS_URL: REDIS_TEST_URL }, async (db) => {
    // The counts went through Redis, not the database.
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      const { rows } = await client.query('SELECT count(*)::int AS n FROM rate_limit_counts');
      expect(rows[0].n).toBe(0);
    } finally {
      await client.end();
    }
  });
});
