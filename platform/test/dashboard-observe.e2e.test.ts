import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { axeScan, buildSite, cspViolations, HAS_CHROMIUM, screenshot, signedInPage } from './browser.ts';
import { type ServerBody, TestStack, textOf } from './harness.ts';

type Client = Awaited<ReturnType<TestStack['mcpClient']>>;

/**
 * What a server did, in a real Chromium against the real embedded stack: a tool call shows up live in the Logs tab
 * (filters and pause included), the Metrics tab counts it, the servers list shows the calls of the last 24 hours,
 * and the org settings list the audit log with filters (owners and admins only). Every view is scanned with axe-core
 * and may report no CSP violation.
 */
describe.skipIf(!HAS_CHROMIUM)('logs, metrics and the audit log in the dashboard', () => {
  let stack: TestStack;
  let site: { dir: string; remove: () => Promise<void> };
  let context: BrowserContext;
  let closeBrowser: () => Promise<void>;
  let page: Page;
  let server: ServerBody;
  let client: Client;
  let calls = 0;
  const pageErrors: string[] = [];

  /** Screenshot of the view; it must pass axe-core and report no CSP violation and no script error. */
  const step = async (name: string) => {
    await screenshot(page, name);
    expect(await axeScan(page)).toEqual([]);
    expect(await cspViolations(page)).toEqual([]);
    expect(pageErrors).toEqual([]);
  };
  const echo = async (text: string) => {
    expect(textOf(await client.callTool({ name: 'echo', arguments: { text } }))).toBe(text);
    calls++;
  };
  const callLines = () => page.locator('#log-lines li[data-kind="call"][data-tool="echo"]');

  beforeAll(async () => {
    site = await buildSite();
    stack = await TestStack.start({}, { siteDir: site.dir });
    server = await stack.createAndDeploy('demo');
    client = await stack.mcpClient(server.url);
    ({ context, page, close: closeBrowser } = await signedInPage(stack, pageErrors));
  }, 600_000);
  afterAll(async () => {
    await client?.close();
    await closeBrowser?.();
    await stack?.destroy();
    await site?.remove();
  });

  it('shows a tool call in the Logs tab as it happens, with its tool, status and latency', async () => {
    await page.goto('/servers/demo/?tab=logs');
    await expect.poll(() => page.getAttribute('#log-state', 'data-live'), { timeout: 30_000 }).toBe('true');
    const before = await callLines().count();
    await echo('hello logs');
    await expect.poll(() => callLines().count(), { timeout: 15_000 }).toBeGreaterThan(before);
    const line = callLines().last();
    expect(await line.locator('.log-msg').textContent()).toMatch(/^echo · 200 · \d+ ms$/);
    await line.locator('summary').click();
    expect(await line.locator('.log-facts').textContent()).toContain('tools/call');
    expect(await page.textContent('#log-lines')).not.toContain(stack.key);
    await step('obs-01-logs-live');
  }, 60_000);

  it('filters the tail by kind and tool, and holds new lines while paused', async () => {
    await page.selectOption('#log-kind', 'call');
    await page.fill('#log-tool', 'echo');
    await page.click('#log-filters button[type=submit]');
    expect(page.url()).toContain('kind=call');
    await expect.poll(() => page.getAttribute('#log-state', 'data-live'), { timeout: 30_000 }).toBe('true');
    await expect.poll(() => callLines().count(), { timeout: 15_000 }).toBeGreaterThan(0);
    // Only calls to echo are left.
    expect(await page.locator('#log-lines li:not([data-kind="call"][data-tool="echo"])').count()).toBe(0);

    await page.click('#log-pause');
    const shown = await callLines().count();
    await echo('while paused');
    await expect
      .poll(() => page.textContent('#log-state'), { timeout: 15_000 })
      .toContain('Paused: 1 new line waiting');
    expect(await callLines().count()).toBe(shown);
    await step('obs-02-logs-paused');
    await page.click('#log-pause');
    await expect.poll(() => callLines().count()).toBe(shown + 1);
    expect(await page.textContent('#log-pause')).toBe('Pause');
  }, 60_000);

  it('counts the calls in the Metrics tab, per tool, with charts and their tables', async () => {
    await echo('one more');
    await page.goto('/servers/demo/?tab=metrics&period=hour');
    const total = page.locator('#metrics-totals [data-stat="Calls"] dd');
    await expect
      .poll(
        async () => {
          await page.click('#metrics-period input[value="hour"]');
          return Number(((await total.textContent()) ?? '').replace(/\D/g, ''));
        },
        { timeout: 30_000, interval: 1000 },
      )
      .toBeGreaterThanOrEqual(calls);
    await page.locator('#chart-calls canvas').first().waitFor();
    await page.locator('#chart-latency canvas').first().waitFor();
    const echoRow = page.locator('#metrics-tools tbody tr', { has: page.locator('[data-tool="echo"]') });
    expect(Number((await echoRow.locator('td').first().textContent())?.replace(/\D/g, ''))).toBeGreaterThanOrEqual(
      calls,
    );
    expect(await page.textContent('#metrics-totals [data-stat="p50"] dd')).toMatch(/\d+ ms|\d\.\d+ s/);
    await page.click('.metrics-data summary');
    expect(await page.locator('#metrics-series tbody tr').count()).toBeGreaterThan(0);
    await step('obs-03-metrics');
    // A tool's own view: picking it in the table filters the charts.
    await echoRow.locator('button').click();
    await expect.poll(() => page.inputValue('#metrics-tool')).toBe('echo');
    expect(page.url()).toContain('tool=echo');
  }, 60_000);

  it('shows the calls of the last 24 hours in the servers list', async () => {
    const cell = page
      .locator('#servers tr', { has: page.locator('a[href="/servers/demo/"]') })
      .locator('td[data-calls]');
    await expect
      .poll(
        async () => {
          await page.goto('/servers/');
          return Number(await cell.getAttribute('data-calls', { timeout: 10_000 }));
        },
        { timeout: 30_000, interval: 1000 },
      )
      .toBeGreaterThanOrEqual(calls);
    await step('obs-04-servers-calls');
  }, 60_000);

  it('lists the audit log in the org settings, filters it and exports it as JSON lines', async () => {
    await page.goto('/settings/');
    const rows = page.locator('#audit-table tbody tr');
    await rows.first().waitFor();
    expect(await page.locator('#audit-table tbody tr[data-action="server.create"]').count()).toBe(1);
    await page.fill('#audit-action', 'change.merge');
    await page.click('#audit-filters button[type=submit]');
    await expect.poll(() => page.textContent('#audit-status')).toMatch(/event/);
    const actions = await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-action')));
    expect(actions.length).toBeGreaterThan(0);
    expect(new Set(actions)).toEqual(new Set(['change.merge']));
    await step('obs-05-audit');
    const href = (await page.getAttribute('#audit-export', 'href')) ?? '';
    expect(href).toContain('format=jsonl');
    const exported = await page.request.get(href);
    expect(exported.status()).toBe(200);
    const lines = (await exported.text())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { action: string });
    expect(lines.map((l) => l.action)).toEqual(actions);
  }, 60_000);

  it('tells a member who is not an admin why they see no audit log', async () => {
    const invited = await stack.api<{ token: string }>('POST', '/api/v1/org/invitations', {
      email: 'dev@example.com',
      role: 'developer',
    });
    expect(invited.status).toBe(201);
    await context.clearCookies();
    const signup = await page.request.post('/auth/signup', {
      data: { email: 'dev@example.com', password: 'another long password', invitation: invited.body.token },
    });
    expect(signup.status()).toBeLessThan(300);
    await page.goto('/settings/');
    await expect.poll(() => page.textContent('#audit-panel'), { timeout: 15_000 }).toContain('Only owners and admins');
    await step('obs-06-audit-forbidden');
  }, 60_000);
});
