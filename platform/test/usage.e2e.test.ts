// Metering through the real stack: every MCP request through the gateway that got an answer is counted per server,
// tool and status; GET /api/v1/usage shows the month at once, and the same figures after a clean restart (flushed at
// shutdown, never counted twice). Self-hosted installs are on the unlimited default plan.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { orgUsage } from '../src/usage/query.ts';
import { TestStack } from './harness.ts';

type UsageView = Awaited<ReturnType<typeof orgUsage>>;

describe('usage', () => {
  let stack: TestStack;

  beforeAll(async () => {
    stack = await TestStack.start();
  }, 300_000);
  afterAll(async () => {
    await stack?.destroy();
  });

  it('counts every call per server, tool and status, shows it at once and keeps it across a clean restart', async () => {
    await stack.createAndDeploy('metered');
    const client = await stack.mcpClient(`${stack.url}/s/metered/mcp`);
    const N = 12;
    for (let i = 0; i < N; i++) await client.callTool({ name: 'add', arguments: { a: i, b: 1 } });
    await client.callTool({ name: 'echo', arguments: { text: 'hi' } });
    await client.listTools();
    await client.close();
    // Refused before the gateway knew whose call it was: not metered.
    const anonymous = await fetch(`${stack.url}/s/metered/mcp`, { method: 'POST', body: '{}' });
    expect(anonymous.status).toBe(401);

    const first = await stack.api<UsageView>('GET', '/api/v1/usage');
    expect(first.status).toBe(200);
    expect(first.body.plan).toEqual({ id: 'self-hosted', name: 'Self-hosted', servers: null, monthlyCalls: null });
    expect(first.body.quota).toBeNull();
    expect(first.body.calls).toBe(N + 1);
    expect(first.body.servers).toEqual({ count: 1, limit: null });
    const [metered] = first.body.byServer;
    expect(metered).toMatchObject({ server: 'metered', calls: N + 1, previewRequests: 0 });
    // initialize, notifications/initialized, the tool calls and tools/list (and the SDK's session DELETE, if any).
    expect(metered?.requests).toBeGreaterThanOrEqual(N + 4);
    // No Stripe configured: billing says so, and the org is on the operator's default plan.
    const billing = await stack.api<{ configured: boolean; message: string; plan: { id: string } }>(
      'GET',
      '/api/v1/billing',
    );
    expect(billing.body).toMatchObject({ configured: false, plan: { id: 'self-hosted' }, defaultPlan: 'self-hosted' });
    expect(billing.body.message).toMatch(/^Billing is not configured on this platform/);
    expect(billing.body).toMatchObject({ subscription: null, checkout: null, notice: null });
    for (const [method, route] of [
      ['POST', '/api/v1/billing/checkout'],
      ['POST', '/api/v1/billing/portal'],
      ['GET', '/api/v1/billing/invoices'],
      ['POST', '/api/v1/billing/webhook'],
    ] as const) {
      const body = route.endsWith('checkout') ? { plan: 'pro' } : method === 'POST' ? {} : undefined;
      const refused = await stack.api<{ error: { code: string } }>(method, route, body);
      expect([route, refused.status, refused.body.error.code]).toEqual([route, 409, 'billing_not_configured']);
    }
    const rows = await stack.platform.ctx.db.usageCount.findMany();
    expect(rows).toEqual([]);

    await stack.stop();
    // The clean shutdown wrote everything.
    const written = await countsIn(stack);
    expect(written.get('tools/call 200 add')).toBe(N);
    expect(written.get('tools/call 200 echo')).toBe(1);
    expect(written.get('tools/list 200 ')).toBe(1);
    // What the SDK's client did besides (its GET for a stream the stateless server refuses: 405) is counted as such.
    const refused = [...written].filter(([key]) => Number(key.split(' ')[1]) >= 400).reduce((n, [, c]) => n + c, 0);
    expect(metered?.errors).toBe(refused);
    expect([...written.values()].reduce((a, b) => a + b, 0)).toBe(metered?.requests);
    await stack.boot();
    const again = await stack.api<UsageView>('GET', '/api/v1/usage');
    expect(again.body.calls).toBe(N + 1);
    expect(again.body.byServer).toEqual(first.body.byServer);
  });
});

/** The usage rows in the database, summed per `method status tool`. */
async function countsIn(stack: TestStack): Promise<Map<string, number>> {
  const { openDatabase } = await import('@bmms/prisma');
  const database = await openDatabase({ dataDir: stack.dataDir, databaseUrl: stack.db.url });
  try {
    const rows = await database.db.usageCount.findMany();
    const out = new Map<string, number>();
    for (const r of rows) {
      const key = `${r.method} ${r.status} ${r.tool}`;
      out.set(key, (out.get(key) ?? 0) + r.calls);
    }
    return out;
  } finally {
    await database.close();
  }
}
