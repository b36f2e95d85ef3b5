import { createHash } from 'node:crypto';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AxeFinding,
  axeScan,
  buildSite,
  type CspViolation,
  cspViolations,
  HAS_CHROMIUM,
  launch,
  screenshot,
} from './browser.ts';
import { addMultiplyTool, poll, type ServerBody, TestStack, textOf } from './harness.ts';
import { registerPublicClient } from './oauth-helpers.ts';

const EMAIL = 'ada@example.com';
const PASSWORD = 'correct horse battery';

/**
 * The whole loop in a real Chromium against the real embedded stack: sign up, create from a template,
 * review, try a tool on the preview, merge, copy an install snippet, call with the SDK, push a change
 * with git, review and merge it in the browser, roll back from the history and see the earlier behaviour.
 * Every page is scanned with axe-core, and no page may report a CSP violation.
 */
describe.skipIf(!HAS_CHROMIUM)('the dashboard in a browser', () => {
  let stack: TestStack;
  let site: { dir: string; remove: () => Promise<void> };
  let closeBrowser: () => Promise<void>;
  let page: Page;
  let key = '';
  const a11y: AxeFinding[] = [];
  const pageErrors: string[] = [];
  const csp: CspViolation[] = [];

  /** Screenshot, accessibility scan and CSP record of the page as it is now. */
  const step = async (name: string) => {
    await screenshot(page, name);
    a11y.push(...(await axeScan(page)));
    csp.push(...(await cspViolations(page)));
  };
  const serverApi = (name: string) => stack.api<ServerBody>('GET', `/api/v1/servers/${name}`, undefined, { key });

  beforeAll(async () => {
    site = await buildSite();
    stack = await TestStack.start({ signup: 'open' }, { siteDir: site.dir });
    const browser = await launch(stack.url);
    closeBrowser = browser.close;
    page = browser.context.pages()[0] ?? (await browser.context.newPage());
    page.on('dialog', (d) => void d.accept());
    page.on('pageerror', (err) => pageErrors.push(`${page.url()}: ${err.message}`));
  }, 240_000);
  afterAll(async () => {
    await closeBrowser?.();
    await stack?.destroy();
    await site?.remove();
  });

  it('sends a signed-out visit to sign-in, signs up and comes back', async () => {
    await page.goto('/servers/');
    await page.waitForURL(/\/signin\/\?next=/);
    await page.goto(`/signin/?mode=signup&next=${encodeURIComponent('/servers/')}`);
    await step('01-sign-up');
    await page.fill('#name', 'Ada');
    await page.fill('#email', EMAIL);
    await page.fill('#password', 'short');
    await page.click('#auth-submit');
    await expect.poll(() => page.textContent('#password-error')).toContain('at least 10 characters');
    await page.fill('#password', PASSWORD);
    await page.click('#auth-submit');
    await page.waitForURL(/\/servers\/$/);
    await expect.poll(() => page.textContent('#user-email')).toBe(EMAIL);
    await step('02-servers-empty');
  });

  it('creates an API key in the settings (shown once)', async () => {
    await page.goto('/settings/');
    await page.fill('#key-name', 'e2e');
    await page.click('#key-form button[type=submit]');
    const code = page.locator('#key-created pre code');
    await code.waitFor();
    key = (await code.textContent()) ?? '';
    expect(key).toMatch(/^bmms_/);
    await step('03-api-key');
    const me = await stack.api<{ user: { email: string } }>('GET', '/api/v1/me', undefined, { key });
    expect(me.body.user.email).toBe(EMAIL);
  });

  it('invites a member, whose link opens the sign-up with the invitation', async () => {
    await page.fill('#invite-email', 'grace@example.com');
    await page.click('#invite-form button[type=submit]');
    const link = (await page.locator('#invite-result pre code').textContent()) ?? '';
    expect(link).toContain('/signin/?invitation=bmms_inv_');
    await step('04-invitation');
    const invited = await stack.api<{ invitations: { email: string }[] }>('GET', '/api/v1/org/invitations', undefined, {
      key,
    });
    expect(invited.body.invitations.map((i) => i.email)).toContain('grace@example.com');
  });

  it('creates a server from a template and lands on its change, with the diff and the checks', async () => {
    await page.goto('/servers/new/');
    await page.locator('#template-form').waitFor();
    await step('05-new-server');
    await page.fill('#server-name', 'Bad Name');
    await page.click('#template-form button[type=submit]');
    await expect.poll(() => page.textContent('#server-name-error')).toContain('not a valid server name');
    await page.fill('#server-name', 'demo');
    await page.check('input[name=template][value=echo]');
    await page.click('#template-form button[type=submit]');
    await page.waitForURL(/\/servers\/demo\/changes\/1\/$/);
    await page.locator('details.check').first().waitFor();
    // While the checks run, Merge is disabled and says why.
    expect(await page.isDisabled('#merge-change')).toBe(true);
    expect(await page.textContent('#merge-reason')).toBe('Waiting for the checks to pass.');
    // The checks run in the platform's process: on a busy machine the first diff waits for them.
    await page.locator('.diff-file').first().waitFor({ timeout: 180_000 });
    await screenshot(page, '06-change-review-loading');
    expect(pageErrors).toEqual([]);
    // The first few files open by themselves; mcp.json may come after them (.github/, README.md): open it.
    const manifestDiff = page.locator('.diff-file[data-path="mcp.json"]');
    await manifestDiff.waitFor({ timeout: 60_000 });
    if (!(await manifestDiff.evaluate((d) => (d as HTMLDetailsElement).open)))
      await manifestDiff.locator('summary').click();
    await manifestDiff.locator('.d2h-file-wrapper').waitFor({ timeout: 60_000 });
    await step('06-change-review');
  }, 300_000);

  it('shows a check’s log, waits for green checks and tries a tool on the preview', async () => {
    await page.click('details.check[data-check="manifest"] summary');
    await expect.poll(() => page.textContent('details.check[data-check="manifest"] pre.log')).not.toBe('');
    await page.waitForFunction(() => !(document.getElementById('merge-change') as HTMLButtonElement).disabled, null, {
      timeout: 180_000,
    });
    const form = page.locator('form.try-form[data-tool="echo"]');
    await page.selectOption('#tool-pick-1', 'echo');
    await form.locator('input[name="text"]').fill('hello from the browser');
    await form.locator('button[type=submit]').click();
    await expect
      .poll(() => form.locator('.result').textContent(), { timeout: 30_000 })
      .toContain('hello from the browser');
    await step('07-try-on-preview');
  }, 240_000);

  it('merges, shows the server Ready and copies an install snippet that the SDK client uses', async () => {
    await page.click('#merge-change');
    await page.waitForURL(/\/servers\/demo\/$/);
    await expect.poll(() => page.textContent('#server-status'), { timeout: 120_000 }).toContain('live');
    await step('08-server-live');
    const claudeCode = page.locator('.install').filter({ hasText: 'Claude Code' });
    await claudeCode.locator('button.copy').click();
    const copied = await page.evaluate(() => navigator.clipboard.readText());
    const server = await serverApi('demo');
    expect(copied).toBe(`claude mcp add --transport http demo ${server.body.url}`);
    const client = await stack.mcpClient(copied.split(' ').at(-1) ?? '', key);
    expect(textOf(await client.callTool({ name: 'echo', arguments: { text: 'sdk' } }))).toBe('sdk');
    await client.close();
  }, 180_000);

  it('shows the month’s tool calls against the plan on the dashboard', async () => {
    await page.goto('/dashboard/');
    await expect.poll(() => page.textContent('#usage-card')).toContain('Self-hosted plan · 1 tool call');
    expect(await page.textContent('#usage-card')).toContain('no monthly limit');
    expect(await page.locator('#usage-card tbody tr').first().textContent()).toMatch(/^demo1\d+\d+$/);
    // On a plan with a quota: a bar against it.
    const user = await stack.platform.ctx.db.user.findUniqueOrThrow({
      where: { email: EMAIL },
      include: { memberships: true },
    });
    const orgId = user.memberships[0]?.orgId as string;
    await stack.platform.ctx.plans.set(orgId, 'hobby');
    await page.reload();
    await expect.poll(() => page.textContent('#usage-card')).toContain('Hobby plan · 1 tool call');
    expect(await page.getAttribute('#usage-bar', 'max')).toBe('100000');
    expect(await page.getAttribute('#usage-bar', 'value')).toBe('1');
    expect(await page.textContent('#usage-card')).toContain('Servers: 1 of 1');
    await step('08b-dashboard-usage');
    await stack.platform.ctx.plans.set(orgId, null);
  }, 60_000);

  it('shows the OAuth sign-in and consent pages in the site’s look and sends the client back with a code', async () => {
    const redirect = 'http://127.0.0.1:9/callback';
    const clientId = await registerPublicClient(stack.url, redirect, 'Inspector');
    const server = await serverApi('demo');
    const auth = new URL(`${stack.url}/oauth/auth`);
    for (const [k, v] of Object.entries({
      client_id: clientId,
      response_type: 'code',
      redirect_uri: redirect,
      scope: 'mcp:tools',
      resource: server.body.url,
      state: 'st',
      code_challenge: createHash('sha256')
        .update('a-verifier-long-enough-for-pkce-0123456789abcdef')
        .digest('base64url'),
      code_challenge_method: 'S256',
    })) {
      auth.searchParams.set(k, v);
    }
    await page.goto(auth.toString());
    await step('oauth-1-sign-in');
    await page.click('button:has-text("Continue as")');
    await page.locator('h1', { hasText: 'Allow Inspector' }).waitFor();
    await step('oauth-2-consent');
    const back = page.waitForRequest((r) => r.url().startsWith(redirect));
    await page.click('button:has-text("Allow")');
    const code = new URL((await back).url()).searchParams.get('code');
    expect(code).toBeTruthy();
  }, 120_000);

  it('reviews and merges a change pushed with git, then rolls back from the history', async () => {
    const before = await serverApi('demo');
    const first = before.body.observedRevision;
    stack.key = key;
    const wd = await stack.clone('demo');
    await addMultiplyTool(wd);
    await wd.commitAndPush('Add multiply', 'refs/heads/multiply');
    const n = await stack.openChange('demo', 'multiply', 'Add a multiply tool');
    await page.goto(`/servers/demo/changes/${n}/`);
    await page.locator('#surface-list').waitFor();
    expect(await page.textContent('#surface-list')).toContain('multiply');
    await page.waitForFunction(() => !(document.getElementById('merge-change') as HTMLButtonElement).disabled, null, {
      timeout: 180_000,
    });
    await step('09-pushed-change');
    await page.click('#merge-change');
    await page.waitForURL(/\/servers\/demo\/$/);
    const merged = await poll(
      async () => {
        const s = await serverApi('demo');
        return s.body.observedRevision !== first &&
          s.body.conditions.some((c) => c.type === 'Ready' && c.status === 'True')
          ? s.body
          : undefined;
      },
      120_000,
      'the merged change to serve',
    );
    const client = await stack.mcpClient(merged.url, key);
    expect(textOf(await client.callTool({ name: 'multiply', arguments: { a: 6, b: 7 } }))).toBe('42');
    await client.close();

    await page.reload();
    const row = page.locator(`#history tr[data-revision="${first}"]`);
    await row.locator('button', { hasText: 'Roll back to this' }).click({ timeout: 60_000 });
    await step('10-rolling-back');
    const rolled = await poll(
      async () => {
        const s = await serverApi('demo');
        const ready = s.body.conditions.some((c) => c.type === 'Ready' && c.status === 'True');
        return s.body.observedRevision !== merged.observedRevision &&
          s.body.observedRevision === s.body.desiredRevision &&
          ready
          ? s.body
          : undefined;
      },
      120_000,
      'the rollback to serve',
    );
    const after = await stack.mcpClient(rolled.url, key);
    const tools = (await after.listTools()).tools.map((t) => t.name).sort();
    expect(tools).toEqual(['add', 'echo']);
    await after.close();
    await page.reload();
    await expect.poll(() => page.locator('#history tbody tr').count()).toBeGreaterThanOrEqual(3);
    await step('11-rolled-back');
  }, 480_000);

  it('sets a missing secret, and shows no value back', async () => {
    const wd = await stack.clone('demo');
    const manifest = JSON.parse(await wd.git('show', 'HEAD:mcp.json'));
    expect(manifest.tools.length).toBeGreaterThan(0);
    await page.goto('/servers/demo/?tab=secrets');
    await page.locator('#panel').waitFor();
    // The echo template declares no secret: the page offers to add one by name, as missing.
    await page.fill('#new-secret-name', 'API_TOKEN');
    await page.click('#panel form.row button[type=submit]');
    const form = page.locator('form.secret[data-secret="API_TOKEN"]');
    await form.locator('input').fill('s3cret-value-123');
    await form.locator('button[type=submit]').click();
    await expect
      .poll(() => page.locator('form.secret[data-secret="API_TOKEN"]').textContent())
      .toContain('set (value hidden)');
    expect(await page.content()).not.toContain('s3cret-value-123');
    await step('12-secret-set');
  });

  it('shows every public and dashboard page without serious accessibility violations or CSP reports', async () => {
    for (const [name, p] of [
      ['13-landing', '/'],
      ['14-docs', '/docs/'],
      ['15-docs-dashboard', '/docs/dashboard/'],
      ['16-pricing', '/pricing/'],
      ['16-templates', '/templates/'],
      ['17-dashboard', '/dashboard/'],
      ['18-server-tools', '/servers/demo/?tab=tools'],
      ['19-server-changes', '/servers/demo/?tab=changes'],
      ['20-server-iterate', '/servers/demo/?tab=iterate'],
      ['21-server-settings', '/servers/demo/?tab=settings'],
      ['22-settings', '/settings/'],
    ] as const) {
      await page.goto(p);
      await page.waitForLoadState('networkidle');
      await step(name);
    }
    await page.setViewportSize({ width: 360, height: 800 });
    await page.goto('/servers/');
    await page.waitForLoadState('networkidle');
    await step('23-servers-phone');
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    await page.setViewportSize({ width: 1280, height: 900 });
    expect(a11y).toEqual([]);
    expect(csp).toEqual([]);
    expect(pageErrors).toEqual([]);
    expect(overflow).toBeLessThanOrEqual(0);
  }, 180_000);
});
