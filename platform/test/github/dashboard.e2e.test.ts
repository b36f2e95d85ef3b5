import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { axeScan, buildSite, cspViolations, HAS_CHROMIUM, launch, screenshot } from '../browser.ts';
import { TestStack } from '../harness.ts';
import { GitHubStandIn } from './standin.ts';

// The dashboard's GitHub parts in a real Chromium: Settings → GitHub connects a token and shows only "connected as",
// the server page links its repository on GitHub, the change page its pull request; disconnecting goes back to the
// form. Every page is scanned with axe-core and may report no CSP violation.
const TOKEN = 'github_pat_dashboard_0123456789ab';

describe.skipIf(!HAS_CHROMIUM)('GitHub on the dashboard', () => {
  let github: GitHubStandIn;
  let stack: TestStack;
  let site: { dir: string; remove: () => Promise<void> };
  let closeBrowser: () => Promise<void>;
  let page: Page;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    github = await new GitHubStandIn({ tokens: { [TOKEN]: 'acme-dev' } }).start();
    site = await buildSite();
    stack = await TestStack.start({ githubApiUrl: github.url }, { siteDir: site.dir });
    const browser = await launch(stack.url);
    closeBrowser = browser.close;
    page = browser.context.pages()[0] ?? (await browser.context.newPage());
    page.on('dialog', (d) => void d.accept());
    page.on('pageerror', (err) => pageErrors.push(`${page.url()}: ${err.message}`));
    await page.goto('/signin/');
    const setup = await page.request.post('/auth/setup', {
      data: { token: stack.platform.setupToken, password: 'a long enough password' },
    });
    expect(setup.status()).toBe(200);
  }, 600_000);
  afterAll(async () => {
    await closeBrowser?.();
    await stack?.destroy();
    await site?.remove();
    await github?.stop();
  });

  it('connects GitHub in the settings and shows only who it is connected as', async () => {
    await page.goto('/settings/#github');
    await page.locator('#github-form').waitFor();
    await page.fill('#github-token', TOKEN);
    await page.click('#github-form button[type="submit"]');
    await page.locator('#github-login').waitFor();
    expect(await page.locator('#github-login').textContent()).toBe('acme-dev');
    const status = (await page.locator('#github-status').textContent()) ?? '';
    expect(status).toContain('/github/webhooks/');
    expect(status).toContain('shown once');
    expect(status).not.toContain(TOKEN);
    await screenshot(page, 'github-01-connected');
    expect(await axeScan(page)).toEqual([]);
    // Reloaded, the secret is gone: only "connected as" and where webhooks go.
    await page.reload();
    await page.locator('#github-login').waitFor();
    expect(await page.locator('#github-status').textContent()).not.toContain('shown once');
  }, 120_000);

  it('links a server to its repository and a change to its pull request on GitHub', async () => {
    const created = await stack.api('POST', '/api/v1/servers', {
      name: 'linked',
      template: 'echo',
      github: { owner: 'acme' },
    });
    expect(created.status).toBe(201);
    await page.goto('/servers/linked/');
    await page.locator('#github-link').waitFor();
    expect(await page.locator('#github-link').getAttribute('href')).toBe('https://github.com/acme/linked');
    expect(await page.locator('#github-link').textContent()).toBe('acme/linked');
    await page.goto('/servers/linked/changes/1/');
    await page.locator('#pull-link').waitFor();
    expect(await page.locator('#pull-link').getAttribute('href')).toBe('https://github.com/acme/linked/pull/1');
    await screenshot(page, 'github-02-change');
    expect(await axeScan(page)).toEqual([]);
  }, 120_000);

  it('disconnects from the settings', async () => {
    await page.goto('/settings/#github');
    await page.locator('#github-disconnect').click();
    await page.locator('#github-form').waitFor();
    expect((await stack.api('GET', '/api/v1/github/connection')).body).toMatchObject({ connected: false });
    expect(await cspViolations(page)).toEqual([]);
    expect(pageErrors).toEqual([]);
  }, 60_000);
});
