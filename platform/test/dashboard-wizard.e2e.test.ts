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
import { FakeAnthropic } from './fake-anthropic.ts';
import { TestStack } from './harness.ts';

const SPEC = {
  name: 'units',
  description: 'Converts temperatures.',
  tools: [
    {
      name: 'convert_temperature',
      description: 'Converts degrees Celsius to degrees Fahrenheit.',
      inputSchema: { type: 'object', properties: { celsius: { type: 'number' } }, required: ['celsius'] },
    },
  ],
  secrets: [],
  egress: [],
};
const SOURCE = `import { defineTool } from '@bmms/runner-template/runtime';
import { z } from 'zod';

export default defineTool({
  name: 'convert_temperature',
  input: { celsius: z.number() },
  handler: ({ celsius }) => String((celsius * 9) / 5 + 32),
});
`;

/** An OpenAPI document with more operations than a server may have tools, so the picker is needed. */
function bigDocument(n: number) {
  const paths: Record<string, unknown> = {};
  for (let i = 0; i < n; i++) {
    paths[`/items/${i}`] = {
      get: { operationId: `getItem${i}`, summary: `Get item ${i}`, responses: { '200': { description: 'ok' } } },
    };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Items', version: '1.0.0' },
    servers: [{ url: 'https://api.example.com' }],
    paths,
  };
}

const EMAIL = 'lin@example.com';
const PASSWORD = 'a long enough password';

/**
 * The other ways into a new server, in a real Chromium: a prompt (local Messages API fake), an OpenAPI upload, and the
 * public template gallery's "Use this template"; and the docs' full-text search.
 */
describe.skipIf(!HAS_CHROMIUM)('the new-server wizard, the template gallery and the docs search in a browser', () => {
  let stack: TestStack;
  let fake: FakeAnthropic;
  let site: { dir: string; remove: () => Promise<void> };
  let close: () => Promise<void>;
  let page: Page;
  const a11y: AxeFinding[] = [];
  const csp: CspViolation[] = [];
  const step = async (name: string) => {
    await screenshot(page, name);
    a11y.push(...(await axeScan(page)));
    csp.push(...(await cspViolations(page)));
  };

  beforeAll(async () => {
    fake = await new FakeAnthropic().start();
    site = await buildSite();
    stack = await TestStack.start(
      {
        signup: 'open',
        generation: fake.generationConfig({ maxRetries: 2, maxRepairs: 2 }),
      },
      { siteDir: site.dir },
    );
    const browser = await launch(stack.url);
    close = browser.close;
    page = browser.context.pages()[0] ?? (await browser.context.newPage());
    await page.goto('/signin/');
    const signup = await page.request.post('/auth/signup', {
      data: { email: EMAIL, password: PASSWORD, name: 'Lin' },
    });
    expect(signup.status()).toBe(201);
  }, 240_000);
  afterAll(async () => {
    await close?.();
    await stack?.destroy();
    await site?.remove();
    await fake?.close();
  });

  it('finds docs pages by full-text search, by keyboard alone, with no CSP report', async () => {
    await page.goto('/docs/getting-started/');
    await page.keyboard.press('/');
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('docs-search-input');
    await page.keyboard.type('secretlint');
    await page.locator('#docs-search-results a').first().waitFor({ timeout: 30_000 });
    const found = await page
      .locator('#docs-search-results a')
      .evaluateAll((links) => links.map((a) => new URL((a as HTMLAnchorElement).href).pathname));
    // Exactly the two pages that mention it: the checks (the secrets check runs it) and Git (push protection).
    expect([...new Set(found)].sort()).toEqual(['/docs/checks/', '/docs/git/']);
    expect(await page.textContent('#docs-search-status')).toBe(`${found.length} result${found.length > 1 ? 's' : ''}`);
    await step('w00-docs-search');
    await page.keyboard.press('ArrowDown');
    const href = await page.evaluate(() => (document.activeElement as HTMLAnchorElement | null)?.href ?? '');
    expect(new URL(href).pathname).toBe(found[0]);
    await page.keyboard.press('Enter');
    await page.waitForURL(href);
  });

  it('shows the template gallery to anyone; "Use this template" signs in and opens the wizard with it chosen', async () => {
    // Two published templates, as publishing stores them: only the public one may reach the gallery.
    const { db } = stack.platform.ctx;
    const org = await db.org.findFirstOrThrow();
    for (const visibility of ['public', 'org']) {
      await db.publishedTemplate.create({
        data: {
          name: `${visibility}-dates`,
          orgId: org.id,
          commitSha: 'a'.repeat(40),
          treeSha: 'b'.repeat(40),
          visibility,
          description: `Dates, shared with ${visibility === 'public' ? 'everyone' : 'the org only'}`,
          files: {},
        },
      });
    }
    await page.context().clearCookies();
    await page.goto('/');
    await page.click('header a[href="/templates/"]');
    await page.waitForURL(/\/templates\/$/);
    await page.locator('#gallery .card[data-template="public-dates"]').waitFor();
    const names = await page
      .locator('#gallery .card')
      .evaluateAll((cards) => cards.map((c) => c.getAttribute('data-template')));
    expect(names).toEqual(expect.arrayContaining(['echo', 'date-math', 'webhook', 'public-dates']));
    expect(names).not.toContain('org-dates');
    expect(await page.getAttribute('#gallery', 'aria-busy')).toBeNull();
    await step('w00-template-gallery');

    await page.click('#gallery .card[data-template="date-math"] a');
    await page.waitForURL(/\/signin\/\?next=/);
    await page.fill('#email', EMAIL);
    await page.fill('#password', PASSWORD);
    await page.click('#auth-submit');
    await page.waitForURL(/\/servers\/new\/\?from=template&template=date-math$/);
    await page.locator('#template-form').waitFor();
    expect(await page.isChecked('#template-form input[name="template"][value="date-math"]')).toBe(true);
    await step('w00-wizard-from-gallery');
  });

  it('streams a generation, takes the edited confirmation and opens the change', async () => {
    fake.script(
      { tool: 'propose_server', input: SPEC },
      { tool: 'write_handlers', input: { tools: [{ name: 'convert_temperature', source: SOURCE }] } },
    );
    await page.goto('/servers/new/?from=prompt');
    await page.locator('.chips button').first().click();
    expect(await page.inputValue('#prompt')).toContain('weather');
    await page.fill('#prompt', 'A server that converts Celsius to Fahrenheit.');
    await step('w01-prompt');
    await page.click('#prompt-form button[type=submit]');
    await page.locator('#confirm-form').waitFor({ timeout: 60_000 });
    expect(await page.locator('#events li').allTextContents()).toEqual(
      expect.arrayContaining(['Planning the server', 'Draft ready: check it below']),
    );
    expect(await page.inputValue('#spec-name')).toBe('units');
    await page.fill('#spec-description', 'Converts temperatures between scales.');
    await page.fill('#spec-egress', '');
    await step('w02-confirm');
    await page.click('#confirm-form button[type=submit]');
    await page.waitForURL(/\/servers\/units\/changes\/1\/$/, { timeout: 60_000 });
    const change = await page.request.get('/api/v1/servers/units/changes/1');
    expect(change.status()).toBe(200);
    const manifest = await stack.platform.ctx.git.readFile('units', (await change.json()).head, 'mcp.json');
    expect(JSON.parse(manifest ?? '{}').description).toBe('Converts temperatures between scales.');
    await page.locator('#surface-list').waitFor({ timeout: 60_000 });
    await step('w03-generated-change');
  }, 240_000);

  it('reads an uploaded OpenAPI document, picks operations from a large one and opens the change', async () => {
    await page.goto('/servers/new/?from=openapi');
    await page.fill('#oa-name', 'items');
    await page.setInputFiles('#oa-file', {
      name: 'broken.json',
      mimeType: 'application/json',
      buffer: Buffer.from('{"openapi":"3.1.0","info":{},"paths":{}}'),
    });
    await page.click('#oa-load');
    await expect.poll(() => page.textContent('#oa-error'), { timeout: 15_000 }).toMatch(/#\/paths.*no operation/);
    // A document whose only operation cannot be read: the problem is shown with the JSON path it is at.
    await page.setInputFiles('#oa-file', {
      name: 'broken.json',
      mimeType: 'application/json',
      buffer: Buffer.from(
        JSON.stringify({
          openapi: '3.1.0',
          info: { title: 't', version: '1' },
          paths: {
            '/items': {
              get: { parameters: [{ name: 'q', in: 'nowhere' }], responses: { 200: { description: 'ok' } } },
            },
          },
        }),
      ),
    });
    await page.click('#oa-load');
    await expect
      .poll(() => page.textContent('#oa-error'), { timeout: 15_000 })
      .toMatch(/#\/paths\/~1items\/get\/parameters\/0\/in/);
    await step('w04-openapi-error');
    await page.setInputFiles('#oa-file', {
      name: 'items.json',
      mimeType: 'application/json',
      buffer: Buffer.from(JSON.stringify(bigDocument(60))),
    });
    await page.click('#oa-load');
    await page.locator('#oa-ops').waitFor();
    await page.fill('#oa-search', 'item 4');
    await expect.poll(() => page.locator('#oa-ops li').count()).toBeLessThan(60);
    for (const id of ['getItem4', 'getItem40', 'getItem41']) await page.check(`#op-${id}`);
    await step('w05-operation-picker');
    await page.click('#openapi-form button[type=submit]');
    await page.waitForURL(/\/servers\/items\/changes\/1\/$/, { timeout: 60_000 });
    await page.locator('#surface-list').waitFor({ timeout: 60_000 });
    const tools = (await page.locator('#surface-list code').allTextContents()).sort();
    expect(tools).toHaveLength(3);
    await step('w06-openapi-change');
    expect(a11y).toEqual([]);
    expect(csp).toEqual([]);
  }, 240_000);
});
