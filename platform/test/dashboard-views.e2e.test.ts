import { parseManifest } from '@bmms/runner-template';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { axeScan, buildSite, cspViolations, HAS_CHROMIUM, screenshot, signedInPage } from './browser.ts';
import { TestStack } from './harness.ts';
import { addRowTools } from './row-tools.ts';

/**
 * The server page's Views tab in a real Chromium: the nine patterns, the tool that feeds the view and the others that
 * feed it too (checkboxes, by keyboard), the API's refusal of a tool that does not return the records shown, and
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
    // recent_rows and count_rows on main, deployed: the tab lists the tools the server serves.
    await stack.waitReady('grid-tab', await addRowTools(stack, 'grid-tab'), 300_000);
    ({ page, close: closeBrowser } = await signedInPage(stack, pageErrors));
  }, 900_000);
  afterAll(async () => {
    await closeBrowser?.();
    await stack?.destroy();
    await site?.remove();
  });

  it('designs a kanban view fed by list_rows and recent_rows into a change whose checks pass', async () => {
    await page.goto('/servers/grid-tab/?tab=views');
    await page.locator('#views-form input[name="pattern"]').nth(8).waitFor({ state: 'attached' });
    expect(await page.locator('#views-form input[name="pattern"]').count()).toBe(9);
    expect(await page.locator('#view-tool option').allTextContents()).toEqual([
      'list_rows',
      'recent_rows',
      'count_rows',
    ]);
    // The others that may feed it too: the one picked first is not among them.
    expect(await page.locator('#view-also label').allTextContents()).toEqual([
      'list_rows',
      'recent_rows',
      'count_rows',
    ]);
    expect(await page.locator('#view-also-list_rows').isDisabled()).toBe(true);
    await page.selectOption('#view-tool', 'recent_rows');
    expect(await page.locator('#view-also-recent_rows').isDisabled()).toBe(true);
    expect(await page.locator('#view-also-list_rows').isDisabled()).toBe(false);
    await page.selectOption('#view-tool', 'list_rows');
    await page.locator('label[for="pattern-kanban"]').click();

    // count_rows, checked by keyboard, returns no rows: the API's refusal shows in the tab.
    await page.focus('#view-also-count_rows');
    await page.keyboard.press('Space');
    expect(await page.locator('#view-also-count_rows').isChecked()).toBe(true);
    await page.click('#views-form button[type="submit"]');
    const refusal = page.locator('#views-form [role="alert"]');
    await refusal.waitFor({ timeout: 30_000 });
    expect(await refusal.textContent()).toContain(
      'count_rows: rows not declared; the view reads the records there (list_rows declares it as array)',
    );

    await page.focus('#view-also-count_rows');
    await page.keyboard.press('Space');
    await page.locator('label[for="view-also-recent_rows"]').click();
    await screenshot(page, 'views-01-pick');
    expect(await axeScan(page)).toEqual([]);
    await page.click('#views-form button[type="submit"]');
    const link = page.locator('#views-form a.button', { hasText: 'Review change #2' });
    await link.waitFor({ timeout: 30_000 });
    expect(await link.getAttribute('href')).toBe('/servers/grid-tab/changes/2/');
    const change = await stack.waitChecks('grid-tab', 2, 300_000);
    const manifest = parseManifest((await stack.platform.ctx.git.readFile('grid-tab', change.head, 'mcp.json')) ?? '');
    expect(manifest.tools.filter((t) => t._meta?.ui.resourceUri === 'ui://grid-tab/kanban').map((t) => t.name)).toEqual(
      ['list_rows', 'recent_rows'],
    );
    expect(change.checkSuite.conclusion).toBe('success');
    expect(await cspViolations(page)).toEqual([]);
    expect(pageErrors).toEqual([]);
  }, 400_000);
});
