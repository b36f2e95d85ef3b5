// Server logs on the real stack: a tool call and the handler's own output reach the live log stream, the API
// filters them, deploy events are there too, and neither the caller's token nor a secret's value is ever logged.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SEARCHES_PER_ORG } from '../src/api/logs.ts';
import type { LogRecord } from '../src/logs/records.ts';
import { poll, TestStack, textOf } from './harness.ts';

// Assembled at run time: in no source file, so any hit in the scan is a leak.
const SECRET = `sec_${randomBytes(18).toString('hex')}`;

// A handler logs through ctx.log or console: both become JSON lines on stdout with the values of secrets
// redacted. This one even tries to log the secret.
const SHOUT_TOOL = `import { defineTool } from '@bmms/runner-template/runtime';
import { z } from 'zod';

export default defineTool({
  name: 'shout',
  input: { text: z.string() },
  handler: ({ text }, ctx) => {
    const token = ctx.secret('TOKEN');
    ctx.log('info', 'shouted ' + text);
    ctx.log('error', 'shout problem ' + text, { token });
    ctx.log('warn', 'shout warning ' + text + ' with ' + token);
    console.log('console says ' + text, { token });
    return text.toUpperCase() + (token.length > 0 ? '!' : '?');
  },
});
`;

let stack: TestStack;
/** A key made for the calls: the caller's token, which must appear in no log record nor file. */
let callerKey: string;

/** Follows a server's log stream, collecting its events (and the ids of the SSE frames). */
class Follower {
  readonly records: LogRecord[] = [];
  readonly ids: string[] = [];
  readonly #abort = new AbortController();
  status = 0;
  contentType = '';

  static async open(url: string, key: string, headers: Record<string, string> = {}): Promise<Follower> {
    const f = new Follower();
    const res = await fetch(url, {
      headers: { authorization: `Bearer ${key}`, accept: 'text/event-stream', ...headers },
      signal: f.#abort.signal,
    });
    f.status = res.status;
    f.contentType = res.headers.get('content-type') ?? '';
    if (res.body) void f.#read(res.body).catch(() => {});
    return f;
  }

  async #read(body: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    let buffered = '';
    for await (const chunk of body) {
      buffered += decoder.decode(chunk, { stream: true });
      let end = buffered.indexOf('\n\n');
      while (end >= 0) {
        const frame = buffered.slice(0, end);
        buffered = buffered.slice(end + 2);
        const id = /^id: (.*)$/m.exec(frame)?.[1];
        const data = /^data: (.*)$/m.exec(frame)?.[1];
        if (id && data && /^event: log$/m.test(frame)) {
          this.ids.push(id);
          this.records.push(JSON.parse(data) as LogRecord);
        }
        end = buffered.indexOf('\n\n');
      }
    }
  }

  /** The first record that `match` accepts, waiting for it. */
  async waitFor(match: (r: LogRecord) => boolean, what: string, timeoutMs = 20_000): Promise<LogRecord> {
    return poll(async () => this.records.find(match), timeoutMs, what);
  }

  close(): void {
    this.#abort.abort();
  }
}

const BIN_DIR = path.resolve(import.meta.dirname, '../../node_modules/.bin');

/** The env of a `bmms` child: the platform's URL and the owner key, a home of its own. */
function bmmsEnv(): NodeJS.ProcessEnv {
  return {
    PATH: `${BIN_DIR}:${process.env.PATH ?? ''}`,
    HOME: path.join(stack.dataDir, '..'),
    XDG_CONFIG_HOME: path.join(stack.dataDir, '..', 'cli-config'),
    BMMS_URL: stack.url,
    BMMS_API_KEY: stack.key,
  };
}

/** Starts `bmms args…`; its output accumulates until it exits. */
function spawnBmms(args: string[]) {
  const child = spawn(path.join(BIN_DIR, 'bmms'), args, { env: bmmsEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  const run = {
    child,
    stdout: '',
    stderr: '',
    code: null as number | null,
    done: undefined as unknown as Promise<void>,
  };
  child.stdout.on('data', (d) => {
    run.stdout += d;
  });
  child.stderr.on('data', (d) => {
    run.stderr += d;
  });
  run.done = new Promise((resolve) =>
    child.on('close', (code) => {
      run.code = code;
      resolve();
    }),
  );
  return run;
}

/** Runs `bmms args…` to its end. */
async function bmms(args: string[]) {
  const run = spawnBmms(args);
  await run.done;
  return run;
}

beforeAll(async () => {
  stack = await TestStack.start();
  await stack.createAndDeploy('shouter');
  const key = await stack.api<{ key: string }>('POST', '/api/v1/keys', { name: 'caller' });
  expect(key.status).toBe(201);
  callerKey = key.body.key;
  expect((await stack.api('PUT', '/api/v1/servers/shouter/secrets/TOKEN', { value: SECRET })).status).toBe(201);
  // A maintainer pushes main: declare TOKEN and add a tool that writes to stdout and stderr.
  const wd = await stack.clone('shouter');
  const manifestPath = path.join(wd.dir, 'mcp.json');
  const manifest = JSON.parse(await readFile(manifestPath, 'utf8'));
  manifest.secrets = ['TOKEN'];
  manifest.tools.push({
    name: 'shout',
    title: 'Shout',
    description: 'Answers the text in capitals.',
    inputSchema: { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] },
  });
  await writeFile(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
  await writeFile(path.join(wd.dir, 'src/tools/shout.ts'), SHOUT_TOOL);
  const serverPath = path.join(wd.dir, 'src/server.ts');
  const source = await readFile(serverPath, 'utf8');
  await writeFile(
    serverPath,
    source
      .replace(
        "import add from './tools/add.ts';",
        "import add from './tools/add.ts';\nimport shout from './tools/shout.ts';",
      )
      .replace('tools: [echo, add]', 'tools: [echo, add, shout]'),
  );
  const sha = await wd.commitAndPush('add shout', 'main');
  await stack.waitReady('shouter', sha, 180_000);
}, 300_000);

afterAll(async () => {
  await stack?.destroy();
});

const logsUrl = (query = '') => `/api/v1/servers/shouter/logs${query}`;

describe('server logs', () => {
  it('streams a tool call within a second, with its tool, status and latency, and the handler output', async () => {
    const follower = await Follower.open(`${stack.url}${logsUrl('?follow=1&limit=5')}`, stack.key);
    expect(follower.status).toBe(200);
    expect(follower.contentType).toContain('text/event-stream');
    const client = await stack.mcpClient((await stack.waitReady('shouter')).url, callerKey);
    const result = await client.callTool({ name: 'shout', arguments: { text: 'hello' } });
    const answeredAt = Date.now();
    expect(textOf(result)).toBe('HELLO!');

    const call = await follower.waitFor((r) => r.kind === 'call' && r.call?.tool === 'shout', 'the call record');
    const delay = Date.now() - answeredAt;
    expect(delay).toBeLessThan(1000);
    expect(call.call).toMatchObject({ method: 'tools/call', tool: 'shout', status: 200, failed: false });
    expect(call.call?.latencyMs).toBeGreaterThan(0);
    expect(call.call?.clientName).toBe('e2e');
    expect(call.call?.clientId).toMatch(/^api-key:/);
    expect(call.message).toMatch(/^tools\/call shout → 200 in \d+ ms$/);
    expect(call.level).toBe('info');

    const out = await follower.waitFor((r) => r.message.includes('"shouted hello"'), 'the handler log line');
    expect(out).toMatchObject({ kind: 'output', stream: 'stdout', level: 'info' });
    expect(JSON.parse(out.message)).toMatchObject({ level: 'info', msg: 'shouted hello', tool: 'shout' });
    const err = await follower.waitFor((r) => r.message.includes('shout problem hello'), 'the error line');
    expect(err).toMatchObject({ kind: 'output', stream: 'stdout', level: 'error' });
    expect(err.message).toContain('[REDACTED]');
    const warn = await follower.waitFor((r) => r.message.includes('shout warning hello'), 'the warning line');
    expect(warn).toMatchObject({ kind: 'output', level: 'warn' });
    const printed = await follower.waitFor((r) => r.message.includes('console says hello'), 'the console.log line');
    expect(printed).toMatchObject({ kind: 'output', stream: 'stdout', level: 'info' });
    expect(JSON.parse(printed.message)).toMatchObject({ level: 'info', source: 'console' });
    expect(printed.message).toContain('[REDACTED]');
    // Ids are monotonic and are the SSE event ids.
    const ids = follower.records.map((r) => BigInt(r.id));
    expect(ids).toEqual([...ids].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
    expect(follower.ids).toEqual(follower.records.map((r) => r.id));
    follower.close();
    await client.close();
  }, 60_000);

  it('resumes after Last-Event-ID with exactly the records after it', async () => {
    const page = await stack.api<{ logs: LogRecord[] }>('GET', logsUrl('?limit=1000'));
    const all = page.body.logs;
    expect(all.length).toBeGreaterThan(3);
    const from = all[all.length - 3] as LogRecord;
    const follower = await Follower.open(`${stack.url}${logsUrl('?follow=1')}`, stack.key, {
      'last-event-id': from.id,
    });
    await poll(async () => (follower.records.length >= 2 ? true : undefined), 10_000, 'the resumed records');
    expect(follower.records.slice(0, 2).map((r) => r.id)).toEqual(all.slice(-2).map((r) => r.id));
    follower.close();
  });

  it('filters by level, kind, tool and text, and pages backwards', async () => {
    const get = async (query: string) => (await stack.api<{ logs: LogRecord[] }>('GET', logsUrl(query))).body.logs;
    const calls = await get('?tool=shout');
    expect(calls.length).toBeGreaterThan(0);
    expect(calls.every((r) => r.kind === 'call' && r.call?.tool === 'shout')).toBe(true);
    const errors = await get('?level=error');
    expect(errors.some((r) => r.message.includes('shout problem hello'))).toBe(true);
    expect(errors.every((r) => r.level === 'error')).toBe(true);
    const warnUp = await get('?level=warn');
    expect(warnUp.every((r) => r.level === 'warn' || r.level === 'error')).toBe(true);
    const found = await get('?q=SHOUTED%20HELLO');
    expect(found).toHaveLength(1);
    expect(found[0]?.message).toContain('"shouted hello"');
    const deploys = await get('?kind=deploy');
    expect(deploys.some((r) => r.message.startsWith('Serving: serving'))).toBe(true);
    expect(deploys.some((r) => r.message.startsWith('Deploying: deploying'))).toBe(true);
    const newest = await get('?limit=2');
    expect(newest).toHaveLength(2);
    const older = await get(`?limit=2&before=${newest[0]?.id}`);
    expect(older).toHaveLength(2);
    expect(BigInt(older[1]?.id ?? '0')).toBeLessThan(BigInt(newest[0]?.id ?? '0'));
    // after: the next records in order, to page forwards.
    expect((await get(`?limit=1&after=${older[0]?.id}`)).map((r) => r.id)).toEqual([older[1]?.id]);
    expect(await get(`?since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`)).toEqual([]);
    const bad = await stack.api('GET', logsUrl('?level=loud&limit=5000'));
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toContain('query.level');
    expect((await stack.api('GET', '/api/v1/servers/nope/logs')).status).toBe(404);
  });

  it('bounds the live streams of an organization: one over the bound is 429 too_many_followers', async () => {
    const url = `${stack.url}${logsUrl('?follow=1&limit=1')}`;
    const open = await Promise.all(Array.from({ length: 10 }, () => Follower.open(url, stack.key)));
    try {
      expect(open.map((f) => f.status)).toEqual(Array(10).fill(200));
      const refused = await stack.api<{ error: { code: string } }>('GET', logsUrl('?follow=1'));
      expect(refused.status).toBe(429);
      expect(refused.body.error.code).toBe('too_many_followers');
      expect(refused.headers.get('retry-after')).toBe('60');
    } finally {
      for (const f of open) f.close();
    }
    // A stream that ends gives its place back.
    const again = await poll(
      async () => {
        const f = await Follower.open(url, stack.key);
        if (f.status === 200) return f;
        f.close();
        return undefined;
      },
      10_000,
      'a free follower slot',
    );
    again.close();
  });

  it('bmms logs prints records (JSON lines with --json) and fails with exit 3 for an unknown server', async () => {
    const errors = await bmms(['logs', 'shouter', '--level', 'error', '--json']);
    expect(errors.code, errors.stderr).toBe(0);
    const records = errors.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as LogRecord);
    expect(records.length).toBeGreaterThan(0);
    expect(records.every((r) => r.level === 'error')).toBe(true);
    const human = await bmms(['logs', 'shouter', '--tool', 'shout', '--since', '1h']);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toMatch(/INFO +call +tools\/call shout → 200 in \d+ ms/);
    expect((await bmms(['logs', 'nope'])).code).toBe(3);
    expect((await bmms(['logs', 'shouter', '--since', 'yesterday-ish'])).code).toBe(2);
  });

  it('bmms logs -f follows a live server and resumes after a dropped connection without losing or repeating records', async () => {
    const follower = spawnBmms(['logs', 'shouter', '-f', '--json', '--limit', '1']);
    try {
      const callOnce = async (text: string) => {
        const client = await stack.mcpClient((await stack.waitReady('shouter', undefined, 120_000)).url, callerKey);
        expect(textOf(await client.callTool({ name: 'shout', arguments: { text } }))).toBe(`${text.toUpperCase()}!`);
        await client.close();
      };
      // Connected once the newest record (limit 1) is printed; then the call comes live.
      await poll(
        async () => (follower.stdout.includes('\n') ? true : undefined),
        60_000,
        `bmms to connect: ${follower.stderr}`,
      );
      await callOnce('first');
      await poll(async () => (follower.stdout.includes('shouted first') ? true : undefined), 20_000, 'first line');
      // The platform goes away and comes back on the same port: the CLI reconnects with Last-Event-ID.
      const port = stack.platform.port;
      await stack.stop();
      await stack.boot({ port });
      await callOnce('second');
      await poll(async () => (follower.stdout.includes('shouted second') ? true : undefined), 60_000, 'second line');
      expect(follower.stderr).toMatch(/reconnecting/);
    } finally {
      follower.child.kill('SIGTERM');
    }
    const ids = follower.stdout
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as LogRecord).id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.map(BigInt)).toEqual([...ids.map(BigInt)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
    // Every record written between the first line and the end was printed: the resume lost none.
    const stored = (await stack.api<{ logs: LogRecord[] }>('GET', logsUrl(`?limit=1000`))).body.logs.map((r) => r.id);
    const from = stored.indexOf(ids[0] as string);
    const last = stored.indexOf(ids[ids.length - 1] as string);
    expect(ids).toEqual(stored.slice(from, last + 1));
  }, 240_000);

  it('logs neither the caller token nor the secret value: not in any record, nor in any file of the data dir', async () => {
    await stack.platform.ctx.logs.flush();
    const rows = await stack.platform.ctx.db.serverLog.findMany();
    expect(rows.length).toBeGreaterThan(5);
    const text = JSON.stringify(rows, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
    expect(text).toContain('shout');
    expect(text.includes(callerKey)).toBe(false);
    expect(text.includes(SECRET)).toBe(false);
    const files = (await readdir(stack.dataDir, { recursive: true, withFileTypes: true }))
      .filter((e) => e.isFile())
      .map((e) => path.join(e.parentPath, e.name));
    expect(files.length).toBeGreaterThan(10);
    const leaking: string[] = [];
    for (const file of files) {
      const bytes = await readFile(file).catch(() => Buffer.alloc(0));
      if (bytes.includes(callerKey) || bytes.includes(SECRET)) leaking.push(file);
    }
    expect(leaking).toEqual([]);
  });
  it('bounds the log reads an organization has running: one over the bound is 429 too_many_log_searches', async () => {
    const { db, logs } = stack.platform.ctx;
    const server = await db.server.findFirstOrThrow({ where: { name: 'shouter' } });
    const base = {
      server: 'shouter',
      serverId: server.id,
      orgId: server.orgId,
      preview: undefined,
      revision: undefined,
      method: 'tools/call',
      tool: 'add',
      status: 200,
      rpcErrorCode: undefined,
      failed: false,
      latencyMs: 1,
      requestBytes: 80,
      responseBytes: 90,
      clientName: 'bulk',
      clientId: 'api-key:bulk',
      userId: 'bulk',
      traceId: undefined,
    };
    // Enough calls, an hour old, that a read for text none of them has examines its bound of 200,000 records.
    const at = Date.now() - 3_600_000;
    for (let i = 0; i < 200_000; i++) {
      logs.addCall({ ...base, at: at + i, requestId: `bulk-${i}` });
      if (i % 10_000 === 9_999) await logs.flush();
    }
    await logs.flush();
    const read = () => stack.api<{ error?: { code: string } }>('GET', logsUrl('?q=no-such-text&limit=1'));
    const client = await stack.mcpClient((await stack.waitReady('shouter')).url, callerKey);
    let readsEnded = false;
    const reading = Promise.all(Array.from({ length: SEARCHES_PER_ORG + 1 }, read)).finally(() => {
      readsEnded = true;
    });
    // A call through the gateway is answered while they read (on PGlite too, which answers on the platform's thread).
    expect(textOf(await client.callTool({ name: 'add', arguments: { a: 1, b: 2 } }))).toBe('3');
    expect(readsEnded).toBe(false);
    const reads = await reading;
    expect(reads.map((r) => r.status).sort()).toEqual([...Array(SEARCHES_PER_ORG).fill(200), 429]);
    const refused = reads.find((r) => r.status === 429);
    expect(refused?.body.error?.code).toBe('too_many_log_searches');
    expect(refused?.headers.get('retry-after')).toBe('1');
    expect(reads.find((r) => r.status === 200)?.body).toMatchObject({ logs: [], next: {} });
    // Reads one after the other never meet the bound: each gives its place back.
    for (let i = 0; i < SEARCHES_PER_ORG + 1; i++) expect((await read()).status).toBe(200);
  }, 120_000);
});
