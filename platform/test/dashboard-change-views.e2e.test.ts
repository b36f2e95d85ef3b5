import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { axeScan, buildSite, cspViolations, HAS_CHROMIUM, screenshot, signedInPage } from './browser.ts';
import { type ChangeBody, TestStack } from './harness.ts';

/**
 * The change review page plays MCP Apps host for the views of a change's preview: a detail view of the echo tool,
 * designed from its pattern into change #2, opens in a sandboxed iframe loaded from the API (the preview's
 * resources/read, under the host's CSP) and shows a real result of echo called on the preview. The change's
 * `views` check opened the same view in headless Chromium first.
 */
describe.skipIf(!HAS_CHROMIUM)('the views of a change on its review page', () => {
  let stack: TestStack;
  let site: { dir: string; remove: () => Promise<void> };
  let closeBrowser: () => Promise<void>;
  let page: Page;
  let change: ChangeBody;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    site = await buildSite();
    stack = await TestStack.start({}, { siteDir: site.dir });
    await stack.createAndDeploy('echo-views', 'echo');
    const opened = await stack.api('POST', '/api/v1/servers/echo-views/views', { pattern: 'detail', tool: 'echo' });
    expect(opened.status, JSON.stringify(opened.body)).toBe(201);
    change = await stack.waitChecks('echo-views', 2, 300_000);
    ({ page, close: closeBrowser } = await signedInPage(stack, pageErrors));
  }, 600_000);
  afterAll(async () => {
    await closeBrowser?.();
    await stack?.destroy();
    await site?.remove();
  });

  it("checks the view in Chromium, and types the view's scripts", () => {
    const views = change.checks.find((c) => c.name === 'views');
    expect(views?.conclusion, views?.summary ?? '').toBe('success');
    expect(views?.summary).toBe(
      '1 view(s) opened in headless Chromium under their CSP: no script error, no CSP violation',
    );
    expect(change.checks.find((c) => c.name === 'typecheck')?.conclusion).toBe('success');
    expect(change.checkSuite.conclusion).toBe('success');
  });

  it('opens the view with a real result of its tool from the preview, in a sandboxed frame', async () => {
    await page.goto('/servers/echo-views/changes/2/');
    const panel = page.locator('.view-panel[data-view="detail"]');
    await panel.waitFor({ timeout: 60_000 });
    expect(await panel.locator('code').first().textContent()).toBe('ui://echo-views/detail');
    await panel.locator('input[name="text"]').fill(JSON.stringify({ name: 'Ada Lovelace', born: 1815 }));
    await panel.locator('button[type="submit"]').click();
    const frame = page.frameLocator('.view-panel[data-view="detail"] iframe');
    await frame.locator('dd', { hasText: 'Ada Lovelace' }).waitFor({ timeout: 60_000 });
    expect(await frame.locator('dt').allTextContents()).toEqual(['name', 'born']);
    expect(await frame.locator('dd').allTextContents()).toEqual(['Ada Lovelace', '1815']);
    const iframe = panel.locator('iframe');
    expect(await iframe.getAttribute('sandbox')).toBe('allow-scripts');
    expect(await iframe.getAttribute('src')).toBe('/api/v1/servers/echo-views/changes/2/views/detail');
    expect(await panel.locator('[role="status"]').textContent()).toBe('The view shows the preview’s result.');
    await screenshot(page, 'change-views-01-detail');
    expect(await axeScan(page)).toEqual([]);
    expect(await cspViolations(page)).toEqual([]);
    expect(pageErrors).toEqual([]);
  }, 180_000);

  it("serves the preview's view under the host's CSP, sandboxed, and only a declared one", async () => {
    const res = await stack.api<string>('GET', '/api/v1/servers/echo-views/changes/2/views/detail');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("connect-src 'none'");
    expect(csp).toContain('sandbox allow-scripts');
    expect(csp).toContain("frame-ancestors 'self'");
    // Built into one file by the preview's bundle: the script inlined, not a reference.
    expect(res.body).toContain('<h1 id="title">Echo</h1>');
    expect(res.body).toContain('<script type="module">');
    expect(res.body).not.toContain('src="./view.ts"');

    const missing = await stack.api('GET', '/api/v1/servers/echo-views/changes/2/views/grid');
    expect(missing.status).toBe(404);
    expect((missing.body as { error: { message: string } }).error.message).toBe(
      'view ui://echo-views/grid not found: change #2 declares ui://echo-views/detail',
    );
    const tools = await stack.api<{ views: { uri: string }[] }>('GET', '/api/v1/servers/echo-views/tools?change=2');
    expect(tools.body.views.map((v) => v.uri)).toEqual(['ui://echo-views/detail']);
  });
});
