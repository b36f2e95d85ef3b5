// Call metrics through the real stack: a server with a tool that sleeps as long as it is told (and fails when told
// to) is called N times; the metrics API reports exactly N calls, the right errors, and p50/p95 within 10 % of what
// the client measured; the numbers survive a restart (flushed at close) without being counted twice. And the
// platform's own Prometheus endpoint in each access mode.
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MetricsAnswer } from '../src/metrics/query.ts';
import { type GitWorkdir, TestStack } from './harness.ts';

const TOKEN = 'metrics-token-for-the-e2e-test-0123456789';

/** Adds a `nap` tool that sleeps `ms` and throws when `fail` is set. */
async function addNapTool(wd: GitWorkdir): Promise<void> {
  const manifestPath = path.join(wd.dir, 'mcp.json');
  const manifest = JSON.parse(await readFile(manifestPath, 'utf8'));
  manifest.tools.push({
    name: 'nap',
    title: 'Nap',
    description: 'Waits the given number of milliseconds, then answers (or fails when asked to).',
    inputSchema: {
      type: 'object',
      properties: { ms: { type: 'number' }, fail: { type: 'boolean' } },
      required: ['ms'],
    },
  });
  await writeFile(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
  await writeFile(
    path.join(wd.dir, 'src/tools/nap.ts'),
    `import { defineTool } from '@bmms/runner-template/runtime';
import { z } from 'zod';

export default defineTool({
  name: 'nap',
  input: { ms: z.number(), fail: z.boolean().optional() },
  handler: async ({ ms, fail }) => {
    await new Promise((resolve) => setTimeout(resolve, ms));
    if (fail) throw new Error('failed on purpose');
    return \`slept \${ms} ms\`;
  },
});
`,
  );
  const serverPath = path.join(wd.dir, 'src/server.ts');
  const server = await readFile(serverPath, 'utf8');
  await writeFile(
    serverPath,
    server
      .replace(
        "import add from './tools/add.ts';",
        "import add from './tools/add.ts';\nimport nap from './tools/nap.ts';",
      )
      .replace('tools: [echo, add]', 'tools: [echo, add, nap]'),
  );
}

/** The nearest-rank quantile of `values`. */
function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(1, Math.ceil(q * sorted.length)) - 1] as number;
}

/** Calls `name` and returns how long the client waited (ms) and whether the call failed. */
async function timedCall(client: Client, name: string, args: Record<string, unknown>): Promise<number> {
  const t0 = performance.now();
  try {
    await client.callTool({ name, arguments: args });
  } catch {
    // an unknown tool may be a JSON-RPC error: still a call, timed like the others
  }
  return performance.now() - t0;
}

/**
 * Checks that `text` is Prometheus text exposition format: every line a comment (# HELP / # TYPE), blank, or a
 * sample `name{label="value",…} number`; returns the samples.
 */
function parseExposition(text: string): { name: string; labels: string; value: number }[] {
  const samples: { name: string; labels: string; value: number }[] = [];
  const name = '[a-zA-Z_:][a-zA-Z0-9_:]*';
  const label = '[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\["\\\\n])*"';
  const sample = new RegExp(
    `^(${name})(\\{(?:${label}(?:,${label})*,?)?\\})? ([-+]?(?:[0-9.]+(?:e[-+]?[0-9]+)?|NaN|Inf))( -?[0-9]+)?$`,
  );
  const comment = new RegExp(`^# (?:HELP ${name} .*|TYPE ${name} (?:counter|gauge|histogram|summary|untyped))$`);
  for (const line of text.split('\n')) {
    if (line === '' || comment.test(line)) continue;
    const m = sample.exec(line);
    if (!m) throw new Error(`not exposition format: ${line}`);
    samples.push({ name: m[1] as string, labels: m[2] ?? '', value: Number(m[3]) });
  }
  return samples;
}

describe('call metrics', () => {
  let stack: TestStack;
  const latencies: number[] = [];
  const N_NAPS = 24;
  const N_FAILING = 3;
  const N_UNKNOWN = 2;
  const N = N_NAPS + N_FAILING + N_UNKNOWN;

  beforeAll(async () => {
    stack = await TestStack.start({ prometheus: { mode: 'token', token: TOKEN } });
  }, 300_000);
  afterAll(async () => {
    await stack?.destroy();
  });

  it('counts every call, its errors and its latency, visible at once', async () => {
    await stack.createAndDeploy('timed');
    const wd = await stack.clone('timed');
    await addNapTool(wd);
    const sha = await wd.commitAndPush('Add nap', 'main');
    await stack.waitReady('timed', sha, 120_000);

    const client = await stack.mcpClient(`${stack.url}/s/timed/mcp`);
    // A spread of latencies: 30 ms to 490 ms, in a shuffled order.
    const sleeps = Array.from({ length: N_NAPS }, (_, i) => 30 + ((i * 7) % N_NAPS) * 20);
    for (const ms of sleeps) latencies.push(await timedCall(client, 'nap', { ms }));
    for (let i = 0; i < N_FAILING; i++) latencies.push(await timedCall(client, 'nap', { ms: 150, fail: true }));
    for (let i = 0; i < N_UNKNOWN; i++) latencies.push(await timedCall(client, 'no_such_tool', {}));
    await client.close();

    // Not flushed yet: the process that served the calls counts them at once.
    const r = await stack.api<MetricsAnswer>('GET', '/api/v1/servers/timed/metrics?period=hour');
    expect(r.status).toBe(200);
    expectExact(r.body);
    expect(r.body.bucket).toBe('minute');
    expect(r.body.series).toHaveLength(60);
    expect(r.body.series.reduce((n, b) => n + b.calls, 0)).toBe(N);
    expect(r.body.series.filter((b) => b.calls === 0).every((b) => b.p50 === null)).toBe(true);
    // Two revisions served (the template, then the nap tool), each on a new instance.
    expect(r.body.totals.deploys).toBe(2);
    expect(r.body.totals.coldStarts).toBe(2);

    const nap = await stack.api<MetricsAnswer>('GET', '/api/v1/servers/timed/metrics?period=day&tool=nap');
    expect(nap.body.bucket).toBe('hour');
    expect(nap.body.series).toHaveLength(24);
    expect(nap.body.totals).toMatchObject({ calls: N_NAPS + N_FAILING, errors: N_FAILING });
    expect(nap.body.tools.map((t) => t.tool)).toEqual(['nap']);

    const list = await stack.api<{ servers: { name: string; calls24h: number }[] }>('GET', '/api/v1/servers');
    expect(list.body.servers.find((s) => s.name === 'timed')?.calls24h).toBe(N);
    const one = await stack.api<{ calls24h: number }>('GET', '/api/v1/servers/timed');
    expect(one.body.calls24h).toBe(N);
  }, 300_000);

  /** The figures of the calls above, whatever the period. */
  function expectExact(body: MetricsAnswer): void {
    expect(body.totals.calls).toBe(N);
    expect(body.totals.errors).toBe(N_FAILING + N_UNKNOWN);
    const byTool = Object.fromEntries(body.tools.map((t) => [t.tool, t]));
    expect(byTool.nap).toMatchObject({ calls: N_NAPS + N_FAILING, errors: N_FAILING });
    expect(byTool.no_such_tool).toMatchObject({ calls: N_UNKNOWN, errors: N_UNKNOWN });
    for (const [q, key] of [
      [0.5, 'p50'],
      [0.95, 'p95'],
    ] as const) {
      const client = quantile(latencies, q);
      const server = body.totals[key] as number;
      expect(Math.abs(server - client) / client, `${key}: server ${server} ms, client ${client} ms`).toBeLessThan(0.1);
    }
    expect(body.totals.p99).toBeGreaterThanOrEqual(body.totals.p95 as number);
  }

  it('serves Prometheus metrics to the token holder only (token mode)', { timeout: 60_000 }, async () => {
    const none = await fetch(`${stack.url}/metrics`);
    expect(none.status).toBe(401);
    const wrong = await fetch(`${stack.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}x` } });
    expect(wrong.status).toBe(401);
    const res = await fetch(`${stack.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    const samples = parseExposition(text);
    const value = (name: string, labels: string) =>
      samples.filter((s) => s.name === name && labels.split(',').every((l) => s.labels.includes(l)));
    expect(value('bmms_gateway_calls_total', 'method="tools/call",outcome="error"')[0]?.value).toBe(
      N_FAILING + N_UNKNOWN,
    );
    expect(value('bmms_gateway_calls_total', 'method="tools/call",outcome="ok"')[0]?.value).toBe(N_NAPS);
    expect(value('bmms_instances', 'state="serving"')[0]?.value).toBe(1);
    expect(value('bmms_reconcile_queue', 'state="waiting"')).toHaveLength(1);
    // A single process leads (runs the reconciler).
    expect(value('bmms_reconciler_leading', '')[0]?.value).toBe(1);
    expect(
      value('bmms_check_duration_seconds_count', 'check="typecheck",conclusion="success"')[0]?.value,
    ).toBeGreaterThanOrEqual(1);
    expect(
      value('bmms_http_request_duration_seconds_count', 'route="/api/v1/servers/:name/metrics",status="200"')[0]?.value,
    ).toBeGreaterThanOrEqual(2);
    expect(samples.some((s) => s.name === 'bmms_nodejs_eventloop_lag_seconds')).toBe(true);
    // Route templates and fixed words only: no server name, no key, no token.
    expect(text).not.toContain('timed');
    expect(text).not.toContain(stack.key);
    expect(text).not.toContain(TOKEN);
  });

  it('keeps the numbers across a restart, counted once (flushed at close), and serves /metrics on its own port in open mode', async () => {
    await stack.stop();
    await stack.boot({ prometheus: { mode: 'open', port: 0, host: '127.0.0.1' } });
    for (const period of ['hour', 'day', 'week', 'month']) {
      const r = await stack.api<MetricsAnswer>('GET', `/api/v1/servers/timed/metrics?period=${period}`);
      expect(r.status).toBe(200);
      expectExact(r.body);
    }
    // A second flush adds nothing twice.
    await stack.platform.ctx.metrics.flush();
    const again = await stack.api<MetricsAnswer>('GET', '/api/v1/servers/timed/metrics?period=month');
    expect(again.body.bucket).toBe('day');
    expect(again.body.series).toHaveLength(30);
    expectExact(again.body);

    const metricsUrl = stack.platform.metricsUrl as string;
    expect(metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const open = await fetch(metricsUrl);
    expect(open.status).toBe(200);
    expect(parseExposition(await open.text()).length).toBeGreaterThan(10);
    expect((await fetch(metricsUrl.replace('/metrics', '/other'))).status).toBe(404);
    // Not on the main port in open mode.
    expect((await fetch(`${stack.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(404);
  }, 300_000);

  it('has no /metrics when off, and answers 400 to an unknown period and 404 to another org', async () => {
    await stack.stop();
    await stack.boot({ prometheus: { mode: 'off' } });
    expect(stack.platform.metricsUrl).toBeUndefined();
    expect((await fetch(`${stack.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(404);
    const bad = await stack.api<{ error: { code: string } }>('GET', '/api/v1/servers/timed/metrics?period=year');
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('invalid_request');
    const missing = await stack.api<{ error: { code: string } }>('GET', '/api/v1/servers/nope/metrics');
    expect(missing.status).toBe(404);
  }, 300_000);
});
