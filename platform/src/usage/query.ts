import type { PrismaClient } from '@bmms/prisma';
import type { OrgPlans } from '../billing/org-plans.ts';
import { isBillable, type UsageMeter } from './meter.ts';
import { readUsageRows, type UsageRow } from './store.ts';

/** What reading an org's usage needs. */
export interface UsageReaderDeps {
  db: PrismaClient;
  usage: UsageMeter;
  plans: OrgPlans;
}

/** One server's figures for the month. */
export interface ServerUsage {
  server: string | null;
  serverId: string;
  calls: number;
  requests: number;
  errors: number;
  previewRequests: number;
  tools: Array<{ tool: string; calls: number }>;
}

/**
 * An org's usage of the current month against its plan: every process's written rows plus this process's counts not
 * yet written (its own rows are left out of the read: its running totals replace them), so a call is visible at once.
 */
export async function orgUsage(ctx: UsageReaderDeps, orgId: string) {
  const month = ctx.usage.month();
  const [plan, stored, servers] = await Promise.all([
    ctx.plans.of(orgId),
    readUsageRows(ctx.db, orgId, month.key, ctx.usage.processId),
    ctx.db.server.findMany({ where: { orgId }, select: { id: true, name: true }, orderBy: { createdAt: 'asc' } }),
  ]);
  const rows: UsageRow[] = [...stored, ...ctx.usage.ownCells(orgId)];
  const names = new Map(servers.map((s) => [s.id, s.name]));
  const byServer = new Map<string, ServerUsage & { toolCalls: Map<string, number> }>();
  const entry = (serverId: string) => {
    let e = byServer.get(serverId);
    if (!e) {
      e = {
        server: names.get(serverId) ?? null,
        serverId,
        calls: 0,
        requests: 0,
        errors: 0,
        previewRequests: 0,
        tools: [],
        toolCalls: new Map(),
      };
      byServer.set(serverId, e);
    }
    return e;
  };
  for (const s of servers) entry(s.id);
  let calls = 0;
  for (const r of rows) {
    const e = entry(r.serverId);
    if (r.preview) {
      e.previewRequests += r.calls;
      continue;
    }
    e.requests += r.calls;
    if (r.status >= 400) e.errors += r.calls;
    if (isBillable(r)) {
      e.calls += r.calls;
      calls += r.calls;
      e.toolCalls.set(r.tool, (e.toolCalls.get(r.tool) ?? 0) + r.calls);
    }
  }
  return {
    plan: { id: plan.id, name: plan.name, servers: plan.servers, monthlyCalls: plan.monthlyCalls },
    period: { from: new Date(month.start).toISOString(), to: new Date(month.end).toISOString() },
    calls,
    quota: plan.monthlyCalls,
    servers: { count: servers.length, limit: plan.servers },
    byServer: [...byServer.values()].map(({ toolCalls, ...e }) => ({
      ...e,
      tools: [...toolCalls].map(([tool, n]) => ({ tool, calls: n })).sort((a, b) => b.calls - a.calls),
    })),
  };
}
