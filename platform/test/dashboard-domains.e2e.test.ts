import type { Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { axeScan, buildSite, cspViolations, HAS_CHROMIUM, screenshot, signedInPage } from './browser.ts';
import { type DnsStandIn, startDnsServer } from './dns.ts';
import { TestStack } from './harness.ts';

const HOST = 'mcp.shop.test';

interface DomainBody {
  hostname: string;
  status: string;
  verification: { name: string; value: string };
}

/**
 * The server page's Domains tab in a real Chromium, against a DNS server on 127.0.0.1: a hostname added from the
 * form shows the two records to publish (each copyable), Verify says what DNS showed until the TXT record is
 * published, then the domain is verified with its MCP URL; Remove asks first and takes it away. On the Hobby plan
 * the form shows the plan's refusal with a link to the billing settings.
 */
describe.skipIf(!HAS_CHROMIUM)('the Domains tab of the dashboard', () => {
  let stack: TestStack;
  let dns: DnsStandIn;
  let site: { dir: string; remove: () => Promise<void> };
  let closeBrowser: () => Promise<void>;
  let page: Page;
  let orgId = '';
  const pageErrors: string[] = [];
  const dialogs: string[] = [];
  const row = (hostname = HOST): Locator => page.locator(`#domain-list .domain[data-domain="${hostname}"]`);
  const listed = async () =>
    (await stack.api<{ domains: DomainBody[] }>('GET', '/api/v1/servers/shop/domains')).body.domains;

  beforeAll(async () => {
    site = await buildSite();
    dns = await startDnsServer();
    // A self-hosted platform's default plan includes custom domains; `.test` names may be claimed here.
    stack = await TestStack.start({ dnsServers: [dns.address], testDomainSuffixes: ['test'] }, { siteDir: site.dir });
    orgId = (await stack.platform.ctx.db.org.findFirstOrThrow({ orderBy: { createdAt: 'asc' } })).id;
    await stack.createAndDeploy('shop');
    ({ page, close: closeBrowser } = await signedInPage(stack, pageErrors));
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.accept();
    });
  }, 600_000);
  afterAll(async () => {
    await closeBrowser?.();
    await stack?.destroy();
    await dns?.close();
    await site?.remove();
  });

  it('refuses a hostname that is not a bare name, beside the form', async () => {
    await page.goto('/servers/shop/?tab=domains');
    await expect.poll(() => page.textContent('#domain-list')).toContain('No custom domains yet');
    expect(await page.getAttribute('#domains a[href="/docs/custom-domains/"]', 'href')).toBe('/docs/custom-domains/');
    await page.fill('#domain-hostname', `https://${HOST}/mcp`);
    await page.press('#domain-hostname', 'Enter');
    await expect.poll(() => page.textContent('#domain-form-error')).toContain('is not a bare hostname');
    expect(await page.getAttribute('#domain-hostname', 'aria-invalid')).toBe('true');
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('domain-hostname');
  });

  it('adds a hostname and shows the TXT and CNAME records to publish, each copyable', async () => {
    await page.fill('#domain-hostname', HOST);
    await page.press('#domain-hostname', 'Enter');
    await row().waitFor();
    const [claim] = await listed();
    expect(claim).toMatchObject({ hostname: HOST, status: 'pending' });
    expect(await row().getAttribute('data-status')).toBe('pending');
    expect(await row().locator('.pill').textContent()).toBe('pending');
    expect(await row().locator('tr[data-record="TXT"] td').allTextContents()).toEqual([
      'TXT',
      expect.stringContaining(`_bmms-challenge.${HOST}`),
      expect.stringContaining(claim?.verification.value ?? '-'),
    ]);
    expect(await row().locator('tr[data-record="CNAME"] td').nth(1).textContent()).toContain(HOST);
    // The keyboard lands on the new domain, whose records come next.
    expect(await page.evaluate(() => document.activeElement?.closest('.domain')?.getAttribute('data-domain'))).toBe(
      HOST,
    );
    expect(await page.inputValue('#domain-hostname')).toBe('');
    await row().locator('tr[data-record="TXT"] td').nth(2).locator('button.copy').click();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(claim?.verification.value);
    await screenshot(page, 'domains-01-pending');
    expect(await axeScan(page)).toEqual([]);
  });

  it('says what DNS showed when Verify finds no TXT record, then verifies once it is published', async () => {
    const [claim] = await listed();
    const verify = row().getByRole('button', { name: 'Verify' });
    await verify.focus();
    await page.keyboard.press('Enter');
    await expect
      .poll(() => row().locator('.field-error').textContent())
      .toContain(`there is no TXT record at _bmms-challenge.${HOST}`);
    expect(await row().getAttribute('data-status')).toBe('pending');
    await screenshot(page, 'domains-02-not-verified');

    dns.setTxt(claim?.verification.name ?? '', [claim?.verification.value ?? '']);
    // Pressed within the platform's few seconds between lookups, the tab looks up again once they are over.
    await verify.click();
    await expect.poll(() => row().getAttribute('data-status'), { timeout: 30_000 }).toBe('verified');
    expect(await row().locator('.pill').textContent()).toBe('verified');
    expect(await row().locator('.code-block pre').first().textContent()).toBe(`http://${HOST}/mcp`);
    expect(await row().locator('.field-error').textContent()).toBe('');
    expect(await row().getByRole('button', { name: 'Verify' }).count()).toBe(0);
    await row().locator('.code-block').first().locator('button.copy').click();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(`http://${HOST}/mcp`);
    expect((await listed())[0]?.status).toBe('verified');
    await screenshot(page, 'domains-03-verified');
    expect(await axeScan(page)).toEqual([]);
  }, 60_000);

  it('removes a verified domain after a confirmation saying what stops', async () => {
    await row().getByRole('button', { name: 'Remove' }).click();
    await expect.poll(() => page.textContent('#domain-list')).toContain('No custom domains yet');
    expect(dialogs.at(-1)).toContain(`Remove ${HOST}? Calls to it stop at once`);
    expect(dialogs.at(-1)).toContain('OAuth grants');
    expect(await listed()).toEqual([]);
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('domains-heading');
  });

  it('shows the Hobby plan’s refusal beside the form, with a link to the billing settings', async () => {
    await stack.platform.ctx.plans.set(orgId, 'hobby');
    try {
      await page.goto('/servers/shop/?tab=domains');
      await page.locator('#domain-hostname').waitFor();
      await page.fill('#domain-hostname', HOST);
      await page.click('#domain-form button[type=submit]');
      const error = page.locator('#domain-form-error');
      await expect.poll(() => error.textContent()).toContain('the Hobby plan does not include custom domains');
      expect(await error.locator('a').getAttribute('href')).toBe('/settings/#billing');
      expect(await listed()).toEqual([]);
      await screenshot(page, 'domains-04-hobby');
      expect(await axeScan(page)).toEqual([]);
    } finally {
      await stack.platform.ctx.plans.set(orgId, null);
    }
    expect(await cspViolations(page)).toEqual([]);
    expect(pageErrors).toEqual([]);
  });
});
