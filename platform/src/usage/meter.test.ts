import { type Database, openDatabase } from '@bmms/prisma';
import { createTestDatabase, type TestDatabase } from '@bmms/prisma/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OrgPlans } from '../billing/org-plans.ts';
import { silentLogger } from '../logger.ts';
import { OTHER_METHOD, UsageMeter } from './meter.ts';
import { orgUsage } from './query.ts';

let t: TestDatabase;
let database: Database;

beforeAll(async () => {
  t = await createTestDatabase();
  database = await openDatabase({ dataDir: t.dataDir, databaseUrl: t.url });
}, 300_000);
afterAll(async () => {
  await database?.close();
  await t?.drop();
});

let orgs = 0;
async function newOrg(plan: string | null = null): Promise<{ orgId: string; serverId: string }> {
  const n = ++orgs;
  const org = await database.db.org.create({ data: { slug: `org-${n}`, name: `Org ${n}`, plan } });
  const server = await database.db.server.create({ data: { name: `usage-${n}`, orgId: org.id } });
  return { orgId: org.id, serverId: server.id };
}

const reader = (usage: UsageMeter) => ({ db: database.db, usage, plans: new OrgPlans({ db: database.db }) });

describe('usage metering', () => {
  it('counts per server, tool and status; only successful production tool calls count against the quota', async () => {
    const { orgId, serverId } = await newOrg('hobby');
    const meter = new UsageMeter({ db: database.db, log: silentLogger });
    for (let i = 0; i < 5; i++) meter.record(orgId, serverId, false, 'tools/call', 'add', 200);
    meter.record(orgId, serverId, false, 'tools/call', 'add', 403);
    meter.record(orgId, serverId, false, 'tools/list', undefined, 200);
    meter.record(orgId, serverId, false, 'made/up', undefined, 200);
    meter.record(orgId, serverId, true, 'tools/call', 'add', 200);
    // Back to a cell counted before others: the same cell, not a new one.
    meter.record(orgId, serverId, false, 'tools/call', 'add', 200);
    // Visible before any flush.
    const before = await orgUsage(reader(meter), orgId);
    expect(before.calls).toBe(6);
    expect(before.quota).toBe(100_000);
    expect(before.plan).toMatchObject({ id: 'hobby', servers: 1, monthlyCalls: 100_000 });
    expect(before.byServer).toEqual([
      {
        server: 'usage-1',
        serverId,
        calls: 6,
        requests: 9,
        errors: 1,
        previewRequests: 1,
        tools: [{ tool: 'add', calls: 6 }],
      },
    ]);
    await meter.close();
    const rows = await database.db.usageCount.findMany({ where: { orgId }, orderBy: [{ method: 'asc' }] });
    expect(rows.map((r) => [r.method, r.tool, r.status, r.preview, r.calls]).sort()).toEqual(
      [
        [OTHER_METHOD, '', 200, false, 1],
        ['tools/call', 'add', 200, false, 6],
        ['tools/call', 'add', 200, true, 1],
        ['tools/call', 'add', 403, false, 1],
        ['tools/list', '', 200, false, 1],
      ].sort(),
    );
    // Read from another process: the same figures, from the database alone.
    expect((await orgUsage(reader(new UsageMeter({ db: database.db, log: silentLogger })), orgId)).calls).toBe(6);
  });

  it('never counts twice: processes add up, a repeated flush adds nothing, a read mid-flush sees each call once', async () => {
    const { orgId, serverId } = await newOrg();
    const processes = [1, 2, 3].map(() => new UsageMeter({ db: database.db, log: silentLogger }));
    let total = 0;
    for (let round = 0; round < 4; round++) {
      const flushes: Promise<void>[] = [];
      for (const [i, p] of processes.entries()) {
        for (let k = 0; k <= i + round; k++) {
          p.record(orgId, serverId, false, 'tools/call', `t${k % 2}`, 200);
          total++;
        }
        flushes.push(p.flush());
        // Reading while the flush runs: this process's counts come from memory, the others' from their rows.
        const seen = (await orgUsage(reader(p), orgId)).calls;
        expect(seen).toBeGreaterThanOrEqual(p.ownBillable(orgId));
        expect(seen).toBeLessThanOrEqual(total);
      }
      await Promise.all(flushes);
      // A flush repeated (its answer lost): the same running totals again.
      await Promise.all(processes.map((p) => p.flush()));
      for (const p of processes) expect((await orgUsage(reader(p), orgId)).calls).toBe(total);
    }
    const sum = await database.db.usageCount.aggregate({ where: { orgId }, _sum: { calls: true } });
    expect(sum._sum.calls).toBe(total);
    expect(await database.db.usageCount.groupBy({ by: ['processId'], where: { orgId } })).toHaveLength(3);
  });

  it('starts again at zero when the month rolls over, keeping the old month written', async () => {
    const { orgId, serverId } = await newOrg();
    let now = Date.UTC(2026, 0, 31, 23, 59, 59);
    const meter = new UsageMeter({ db: database.db, log: silentLogger, now: () => now });
    meter.record(orgId, serverId, false, 'tools/call', 'add', 200);
    meter.record(orgId, serverId, false, 'tools/call', 'add', 200);
    expect(meter.ownBillable(orgId)).toBe(2);
    now = Date.UTC(2026, 1, 1, 0, 0, 1);
    expect(meter.ownBillable(orgId)).toBe(0);
    expect(meter.month()).toMatchObject({ key: '2026-02-01', end: Date.UTC(2026, 2, 1) });
    meter.record(orgId, serverId, false, 'tools/call', 'add', 200);
    await meter.close();
    const rows = await database.db.usageCount.findMany({ where: { orgId }, orderBy: { month: 'asc' } });
    expect(rows.map((r) => [r.month.toISOString().slice(0, 10), r.calls])).toEqual([
      ['2026-01-01', 2],
      ['2026-02-01', 1],
    ]);
    const usage = await orgUsage(reader(new UsageMeter({ db: database.db, log: silentLogger, now: () => now })), orgId);
    expect(usage.calls).toBe(1);
    expect(usage.period).toEqual({ from: '2026-02-01T00:00:00.000Z', to: '2026-03-01T00:00:00.000Z' });
    // The self-hosted default: no limit.
    expect(usage.plan).toMatchObject({ id: 'self-hosted', monthlyCalls: null, servers: null });
  });

  it("counts a deleted server's calls towards its org", async () => {
    const { orgId, serverId } = await newOrg();
    const meter = new UsageMeter({ db: database.db, log: silentLogger });
    meter.record(orgId, serverId, false, 'tools/call', 'add', 200);
    await database.db.server.delete({ where: { id: serverId } });
    meter.record(orgId, serverId, false, 'tools/call', 'add', 200);
    await meter.flush();
    const usage = await orgUsage(reader(new UsageMeter({ db: database.db, log: silentLogger })), orgId);
    expect(usage.calls).toBe(2);
    expect(usage.byServer).toMatchObject([{ server: null, serverId, calls: 2 }]);
  });
});
