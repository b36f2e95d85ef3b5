import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildSite, HAS_CHROMIUM, screenshot, signedInPage } from './browser.ts';
import { TestStack } from './harness.ts';

const FILES = 200;
const LOG_LINES = 20_000;
/** The longest main-thread task the review page may take while rendering (a frozen page takes seconds). */
const MAX_LONG_TASK_MS = 300;

/** A 200-file change and a 20,000-line check log render without freezing the page. */
describe.skipIf(!HAS_CHROMIUM)('the change review at scale', () => {
  let stack: TestStack;
  let site: { dir: string; remove: () => Promise<void> };
  let close: () => Promise<void>;
  let page: Page;
  let number = 0;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    site = await buildSite();
    stack = await TestStack.start({}, { siteDir: site.dir });
    await stack.createAndDeploy('big');
    const wd = await stack.clone('big');
    await mkdir(path.join(wd.dir, 'data'), { recursive: true });
    for (let i = 0; i < FILES; i++) {
      const lines = Array.from({ length: 40 }, (_, j) => `  "entry ${i}.${j}": ${i * j},`).join('\n');
      await writeFile(
        path.join(wd.dir, 'data', `table-${String(i).padStart(3, '0')}.json`),
        `{\n${lines}\n  "end": true\n}\n`,
      );
    }
    await wd.commitAndPush('Add 200 data tables', 'refs/heads/tables');
    number = await stack.openChange('big', 'tables', 'Add 200 data tables');
    const change = await stack.waitChecks('big', number, 300_000);
    // A check log as long as a verbose build's: the page must show it without freezing.
    const log = Array.from({ length: LOG_LINES }, (_, i) => `line ${i + 1}: compiled module ${i} in ${i % 97} ms`).join(
      '\n',
    );
    const suite = await stack.platform.ctx.db.checkSuite.findFirstOrThrow({
      where: { treeSha: change.checkSuite?.tree ?? '' },
    });
    await stack.platform.ctx.db.checkRun.update({
      where: { suiteId_name: { suiteId: suite.id, name: 'manifest' } },
      data: { log },
    });

    ({ page, close } = await signedInPage(stack, pageErrors, () => {
      const w = window as unknown as { __long: number[] };
      w.__long = [];
      new PerformanceObserver((list) => {
        for (const e of list.getEntries()) w.__long.push(e.duration);
      }).observe({ type: 'longtask', buffered: true });
    }));
  }, 600_000);
  afterAll(async () => {
    await close?.();
    await stack?.destroy();
    await site?.remove();
  });

  it('renders every file of a 200-file change and a 20,000-line log with no long main-thread task', async () => {
    await page.goto(`/servers/big/changes/${number}/`);
    await expect.poll(() => page.locator('.diff-file').count(), { timeout: 60_000 }).toBe(FILES);
    await page.locator('.diff-file[open] .d2h-file-wrapper').first().waitFor();
    await page.click('details.check[data-check="manifest"] summary');
    await expect
      .poll(() => page.locator('details.check[data-check="manifest"] pre.log').textContent(), { timeout: 30_000 })
      .toContain(`line ${LOG_LINES}:`);
    // Opening a closed file draws it on demand.
    const last = page.locator('.diff-file').last();
    await last.locator('summary').click();
    await last.locator('.d2h-file-wrapper').waitFor();
    await page.waitForTimeout(500);
    await screenshot(page, 's01-200-files');
    const long = await page.evaluate(() => (window as unknown as { __long: number[] }).__long);
    expect(Math.max(0, ...long)).toBeLessThan(MAX_LONG_TASK_MS);
    expect(pageErrors).toEqual([]);
  }, 180_000);
});
