import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { axeScan, buildSite, cspViolations, HAS_CHROMIUM, screenshot, signedInPage } from './browser.ts';
import { TestStack } from './harness.ts';

/**
 * The server page's Views tab in a real Chromium: the nine patterns and the server's tools to pick from, and
 * "Open a change" ending on a link to the change the pattern opened, whose checks then pass.
 */
describe.skipIf(!HAS_CHROMIUM)('the Views tab of the dashboard', () => {
  let stack: TestStack;
  let site: { dir: string; remove: () => Promise<void> };
  let closeBrowser: () => Promise<void>;
  let page: Page;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    site = await buildSite();
    stack = await TestStack.start({}, { siteDir: site.dir });
    await stack.createAndDeploy('grid-tab', 'data-grid');
    ({ page, close: closeBrowser } = await signedInPage(stack, pageErrors));
  }, 600_000);
  afterAll(async () => {
    await closeBrowser?.();
    await stack?.destroy();
    await site?.remove();
  });

  it('designs a kanban view of list_rows into a change whose checks pass', async () => {
    await page.goto('/servers/grid-tab/?tab=views');
    await page.locator('#views-form input[name="pattern"]').nth(8).waitFor({ state: 'attached' });
    expect(await page.locator('#views-form input[name="pattern"]').count()).toBe(9);
    expect(await page.locator('#view-tool option').allTextContents()).toEqual(['list_rows']);
    await page.locator('label[for="pattern-kanban"]').click();
    await screenshot(page, 'views-01-pick');
    expect(await axeScan(page)).toEqual([]);
    await page.click('#views-form button[type="submit"]');
    const link = page.locator('#views-form a.button', { hasText: 'Review change #2' });
    await link.waitFor({ timeout: 30_000 });
    expect(await link.getAttribute('href')).toBe('/servers/grid-tab/changes/2/');
    const change = await stack.waitChecks('grid-tab', 2, 300_000);
    expect(change.checkSuite.conclusion).toBe('success');
    expect(await cspViolations(page)).toEqual([]);
    expect(pageErrors).toEqual([]);
  }, 400_000);
});
