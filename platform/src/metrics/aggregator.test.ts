import { type Database, openDatabase } from '@bmms/prisma';
import { createTestDatabase, type TestDatabase } from '@bmms/prisma/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CallRecord } from '../gateway/calls.ts';
import { silentLogger } from '../logger.ts';
import { CallMetrics, OTHER_TOOL } from './aggregator.ts';
import { LatencyHistogram } from './histogram.ts';
import { callsLast24h, serverMetrics } from './query.ts';

let t: TestDatabase;
let database: Database;
let orgId: string;

beforeAll(async () => {
  t = await createTestDatabase();
  database = await openDatabase({ dataDir: t.dataDir, databaseUrl: t.url });
  orgId = (await database.db.org.create({ data: { slug: 'acme', name: 'Acme' } })).id;
}, 300_000);
afterAll(async () => {
  await database?.close();
  await t?.drop();
});

const newServer = async (name: string) => (await database.db.server.create({ data: { name, orgId } })).id;

/** A gateway call record of `tools/call` (only the fields metrics read matter). */
function call(serverId: string, tool: string, latencyMs: number, failed: boolean, at: number): CallRecord {
  return {
    at,
    server: 'x',
    serverId,
    orgId,
    preview: undefined,
    revision: undefined,
    method: 'tools/call',
    tool,
    status: 200,
    rpcErrorCode: undefined,
    failed,
    latencyMs,
    requestBytes: 0,
    responseBytes: 0,
    clientName: undefined,
    clientId: 'c',
    userId: 'u',
    requestId: 'r',
    traceId: undefined,
  };
}

/** The exact nearest-rank quantile. */
const exact = (values: number[], q: number) =>
  [...values].sort((a, b) => a - b)[Math.max(1, Math.ceil(q * values.length)) - 1] as number;

describe('LatencyHistogram', () => {
  it('reads every quantile within 1 % of the exact one, and merges like one histogram of both', () => {
    let seed = 7;
    const random = () => {
      seed = (seed * 48271) % 2147483647;
      return seed / 2147483647;
    };
    const values = Array.from({ length: 5000 }, () => Math.exp(random() * 9 - 2)); // 0.14 ms to 1100 ms
    const a = new LatencyHistogram();
    const b = new LatencyHistogram();
    for (const [i, v] of values.entries()) (i % 2 ? a : b).add(v);
    a.merge(LatencyHistogram.from(b.toJSON()));
    for (const q of [0.01, 0.5, 0.9, 0.95, 0.99, 1]) {
      const got = a.quantile(q) as number;
      expect(Math.abs(got - exact(values, q)) / exact(values, q), `q=${q}`).toBeLessThan(0.01);
    }
    expect(new LatencyHistogram().quantile(0.5)).toBeNull();
  });
});

describe('CallMetrics', () => {
  it('adds up the minutes of several processes in the database, at minute, hour and day, counted once', async () => {
    const serverId = await newServer('shared');
    const now = Date.now();
    const processes = [1, 2, 3].map(() => new CallMetrics({ db: database.db, log: silentLogger }));
    const latencies: number[] = [];
    processes.forEach((p, i) => {
      for (let n = 0; n < 40; n++) {
        const ms = 5 + n * (i + 1);
        latencies.push(ms);
        p.observe(call(serverId, n % 4 === 0 ? 'slow' : 'fast', ms, n % 10 === 0, now));
      }
    });
    // Not written yet: only the process that saw them counts them.
    expect(
      (await callsLast24h({ db: database.db, metrics: processes[0] as CallMetrics }, [serverId])).get(serverId),
    ).toBe(40);
    await Promise.all(processes.map((p) => p.flush()));
    await Promise.all(processes.map((p) => p.flush()));

    const reader = { db: database.db, metrics: new CallMetrics({ db: database.db, log: silentLogger }) };
    for (const period of ['hour', 'day', 'month'] as const) {
      const m = await serverMetrics(reader, serverId, period, undefined, now);
      expect(m.totals).toMatchObject({ calls: 120, errors: 12 });
      expect(Math.abs((m.totals.p50 as number) - exact(latencies, 0.5)) / exact(latencies, 0.5)).toBeLessThan(0.02);
      expect(Math.abs((m.totals.p95 as number) - exact(latencies, 0.95)) / exact(latencies, 0.95)).toBeLessThan(0.02);
      expect(m.tools.map((x) => [x.tool, x.calls])).toEqual([
        ['fast', 90],
        ['slow', 30],
      ]);
      expect(m.series.reduce((n, b) => n + b.calls, 0)).toBe(120);
    }
    const slow = await serverMetrics(reader, serverId, 'week', 'slow', now);
    expect(slow.totals.calls).toBe(30);
    expect(slow.series).toHaveLength(168);
    expect((await callsLast24h(reader, [serverId])).get(serverId)).toBe(120);
  });

  it('bounds the tool names one server adds per minute, skips previews and other methods', async () => {
    const serverId = await newServer('many-tools');
    const metrics = new CallMetrics({ db: database.db, log: silentLogger });
    const now = Date.now();
    for (let i = 0; i < 150; i++) metrics.observe(call(serverId, `tool_${i}`, 1, false, now));
    metrics.observe({ ...call(serverId, 'tool_1', 1, false, now), preview: 3 });
    metrics.observe({ ...call(serverId, 'tool_1', 1, false, now), method: 'tools/list', tool: undefined });
    await metrics.close();
    const m = await serverMetrics({ db: database.db, metrics }, serverId, 'hour', undefined, now);
    expect(m.totals.calls).toBe(150);
    expect(m.tools).toHaveLength(101);
    expect(m.tools.find((x) => x.tool === OTHER_TOOL)?.calls).toBe(50);
  });

  it('drops the metrics of a server deleted meanwhile, and prunes minutes past their retention', async () => {
    const gone = await newServer('gone');
    const kept = await newServer('kept');
    const metrics = new CallMetrics({ db: database.db, log: silentLogger });
    const threeDaysAgo = Date.now() - 3 * 86_400_000;
    metrics.observe(call(gone, 'a', 1, false, Date.now()));
    metrics.observe(call(kept, 'a', 1, false, threeDaysAgo));
    await database.db.server.delete({ where: { id: gone } });
    await metrics.flush();
    expect(await database.db.serverMetric.count({ where: { serverId: gone } })).toBe(0);
    // Written, then pruned by the same flush: minutes are kept 2 days, hours 35.
    const left = await database.db.serverMetric.findMany({ where: { serverId: kept }, select: { resolution: true } });
    expect(left.map((r) => r.resolution).sort()).toEqual(['day', 'hour']);
  });
});
