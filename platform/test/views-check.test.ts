import { manifestText, parseManifest, renderTemplate, renderView, VIEW_PATTERNS } from '@bmms/runner-template';
import { afterAll, describe, expect, it } from 'vitest';
import { viewsCheck } from '../src/checks/view-browser.ts';
import { sampleResult } from '../src/views/sample.ts';
import { CHROMIUM, HAS_CHROMIUM } from './browser.ts';
import { checkout, cleanup, editManifest } from './check-helpers.ts';

// The `views` check opens each view of a tree in headless Chromium, the platform playing host (sandboxed iframe, the
// view's CSP, the official AppBridge, a result made up from the tool's outputSchema), and fails on a script error or
// a CSP violation, naming the view. What a static rule cannot see — a URL put together at run time, a script that
// throws on the data — the browser does.

const GATE = ['manifest', 'security'];
const grid = () => renderTemplate('data-grid', 'grid-demo', { url: 'https://api.example.com/items', title: 'People' });

afterAll(cleanup);

describe('the views check', () => {
  it('passes with nothing to open when the tree has no view; is skipped, saying why, without Chromium', async () => {
    const plain = renderTemplate('echo', 'plain-demo');
    const none = await viewsCheck(GATE, CHROMIUM).run(await checkout(plain, { serverName: 'plain-demo' }));
    expect(none.conclusion).toBe('success');
    expect(none.summary).toBe('mcp.json declares no views (ui:// resources): nothing to open');

    const absent = await viewsCheck(GATE, '/nonexistent/chromium').run(
      await checkout(grid(), { serverName: 'grid-demo' }),
    );
    expect(absent.conclusion).toBe('skipped');
    expect(absent.summary).toBe(
      'views not opened in a browser: Chromium is not installed at /nonexistent/chromium (install it, or point BMMS_CHROMIUM at one)',
    );
  });

  it('makes up a result of the declared shape from the outputSchema', () => {
    const result = sampleResult({
      type: 'object',
      properties: {
        rows: {
          type: 'array',
          items: {
            type: 'object',
            properties: {
              id: { type: 'integer' },
              status: { type: 'string' },
              due: { type: 'string', format: 'date' },
            },
          },
        },
        kind: { type: 'string', enum: ['a', 'b'] },
      },
    });
    expect(result.structuredContent).toEqual({
      rows: [
        { id: 3, status: 'open', due: '2026-12-03' },
        { id: 6, status: 'in progress', due: '2026-12-10' },
        { id: 9, status: 'done', due: '2026-12-17' },
      ],
      kind: 'a',
    });
    expect(JSON.parse((result.content as { text: string }[])[0]?.text ?? '')).toEqual(result.structuredContent);
  });

  describe.skipIf(!HAS_CHROMIUM)('in Chromium', () => {
    it('passes the data-grid view, which renders the sample result without an error or a violation', async () => {
      const outcome = await viewsCheck(GATE, CHROMIUM).run(await checkout(grid(), { serverName: 'grid-demo' }));
      expect(outcome.summary).toBe(
        '1 view(s) opened in headless Chromium under their CSP: no script error, no CSP violation',
      );
      expect(outcome.conclusion).toBe('success');
      expect(outcome.log).toContain(
        'ui://grid-demo/grid (ui/grid.html): opened with a sample result of list_rows: 0 script error(s), 0 CSP violation(s)',
      );
    }, 60_000);

    it("passes each of the nine patterns, fed a sample of the tool's output schema", async () => {
      const files = grid();
      let manifest = parseManifest(files['mcp.json'] ?? '');
      for (const pattern of VIEW_PATTERNS) {
        // Each pattern a view of its own tool: one tool opens one view.
        const tool = {
          ...(manifest.tools[0] as (typeof manifest.tools)[0]),
          name: `rows_${pattern.replace('-', '_')}`,
        };
        const rendered = renderView({ ...manifest, tools: [...manifest.tools, tool] }, { pattern, tools: [tool.name] });
        Object.assign(files, rendered.files);
        manifest = rendered.manifest;
      }
      files['mcp.json'] = manifestText(manifest);
      const outcome = await viewsCheck(GATE, CHROMIUM).run(await checkout(files, { serverName: 'grid-demo' }));
      expect(outcome.summary).toBe(
        '10 view(s) opened in headless Chromium under their CSP: no script error, no CSP violation',
      );
      for (const pattern of VIEW_PATTERNS)
        expect(outcome.log).toContain(
          `ui://grid-demo/${pattern} (ui/${pattern}/index.html): opened with a sample result of rows_`,
        );
    }, 120_000);

    it('fails a view that throws on its data, and one whose script reaches an origin its CSP does not declare', async () => {
      const files = grid();
      // Throws once the result arrives (a bug the data brings out), and fetches a URL assembled at run time (no
      // literal for the manifest check to find).
      files['ui/grid.ts'] = (files['ui/grid.ts'] as string).replace(
        'function render(): void {',
        "function render(): void {\n  if (data.rows.length > 0) throw new Error('rows are not what the view expects');",
      );
      files['ui/grid.ts'] +=
        "\nvoid fetch(['https:', '', ['collect', 'example', 'org'].join('.'), 'rows'].join('/')).catch(() => {});\n";
      const outcome = await viewsCheck(GATE, CHROMIUM).run(await checkout(files, { serverName: 'grid-demo' }));
      expect(outcome.conclusion).toBe('failure');
      expect(outcome.summary).toContain(
        'ui/grid.html: [view-script-error] ui://grid-demo/grid threw in the browser: rows are not what the view expects',
      );
      expect(outcome.summary).toContain(
        'ui/grid.html: [view-csp-violation] ui://grid-demo/grid: the browser blocked https://collect.example.org/rows (connect-src)',
      );
    }, 60_000);

    it("opens a view fed by several tools with each one's result, naming the tool whose result breaks it", async () => {
      let files = grid();
      files['ui/grid.ts'] = (files['ui/grid.ts'] as string).replace(
        'function render(): void {',
        "function render(): void {\n  if (data.title === 'Archived') throw new Error('archived rows have no columns');",
      );
      files = editManifest(files, (m) => {
        const tools = m.tools as Record<string, unknown>[];
        const first = tools.find((t) => (t._meta as { ui?: unknown } | undefined)?.ui) as Record<string, unknown>;
        const output = structuredClone(first.outputSchema) as { properties: Record<string, unknown> };
        output.properties.title = { type: 'string', enum: ['Archived'] };
        tools.push({ ...structuredClone(first), name: 'list_archived', outputSchema: output });
      });
      const outcome = await viewsCheck(GATE, CHROMIUM).run(await checkout(files, { serverName: 'grid-demo' }));
      expect(outcome.conclusion, outcome.log).toBe('failure');
      expect(outcome.summary).toContain(
        'ui/grid.html: [view-script-error] ui://grid-demo/grid threw in the browser (handed a result of list_archived): archived rows have no columns',
      );
      expect(outcome.summary).not.toMatch(/handed a result of (?!list_archived)/);
      expect(outcome.log).toMatch(/opened with a sample result of \w+: 0 script error/);
      expect(outcome.log).toContain('opened with a sample result of list_archived: 1 script error');
    }, 60_000);

    it('fails a view that eats memory without end, and one that loops for ever, each in bounded time', async () => {
      const files = grid();
      files['ui/grid.ts'] = (files['ui/grid.ts'] as string).replace(
        'function render(): void {',
        'function render(): void {\n  const hoard: number[][] = [];\n  for (;;) hoard.push(new Array(1_000_000).fill(hoard.length));',
      );
      const started = Date.now();
      const outcome = await viewsCheck(GATE, CHROMIUM).run(await checkout(files, { serverName: 'grid-demo' }));
      expect(outcome.conclusion, outcome.log).toBe('failure');
      expect(outcome.summary).toMatch(
        /ui\/grid\.html: \[view-unresponsive\] ui:\/\/grid-demo\/grid stopped answering in the browser: its page (crashed|did not answer)/,
      );
      expect(Date.now() - started).toBeLessThan(60_000);
      // A loop that never yields, without memory: the page stops answering.
      files['ui/grid.ts'] = (files['ui/grid.ts'] as string).replace(
        'for (;;) hoard.push(new Array(1_000_000).fill(hoard.length));',
        'for (;;) hoard.length = 0;',
      );
      const spun = await viewsCheck(GATE, CHROMIUM).run(await checkout(files, { serverName: 'grid-demo' }));
      expect(spun.conclusion, spun.log).toBe('failure');
      expect(spun.summary).toContain(
        'ui/grid.html: [view-unresponsive] ui://grid-demo/grid stopped answering in the browser: its page did not answer for 3 s',
      );
    }, 120_000);

    it('passes a view whose CSP declares the origin it fetches (answered by the check, which reaches no network)', async () => {
      const files = editManifest(grid(), (m) => {
        const [resource] = m.resources as { _meta: { ui: { csp: Record<string, string[]> } } }[];
        if (resource) resource._meta.ui.csp.connectDomains = ['https://api.example.com'];
      });
      files['ui/grid.ts'] += "\nvoid fetch('https://api.example.com/items').then((r) => r.status);\n";
      const outcome = await viewsCheck(GATE, CHROMIUM).run(await checkout(files, { serverName: 'grid-demo' }));
      expect(outcome.summary).toContain('no script error, no CSP violation');
      expect(outcome.conclusion).toBe('success');
    }, 60_000);
  });
});
