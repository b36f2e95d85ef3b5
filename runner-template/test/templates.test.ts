import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import {
  parseManifest,
  renderTemplate,
  TEMPLATE_FILES_ROOT,
  TemplateOptionsError,
  templates,
  UnknownTemplateError,
} from '../src/index.ts';
import { NODE, removeTempDirs, writeRepo } from './helpers.ts';

const run = promisify(execFile);
afterAll(removeTempDirs);

/** Runs `npm test` of a rendered repo the way its package.json says (`node --test`); returns the TAP summary. */
async function runRenderedTests(
  files: Record<string, string>,
): Promise<{ pass: number; fail: number; output: string }> {
  const dir = writeRepo(files);
  const pkg = JSON.parse(files['package.json'] ?? '{}') as { scripts?: Record<string, string> };
  expect(pkg.scripts?.test).toBe('node --test');
  let output: string;
  try {
    const { stdout, stderr } = await run(NODE, ['--test', '--test-reporter=tap'], { cwd: dir, timeout: 60_000 });
    output = stdout + stderr;
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string };
    output = `${e.stdout ?? ''}${e.stderr ?? ''}`;
  }
  const count = (key: string) => Number(new RegExp(`^# ${key} (\\d+)$`, 'm').exec(output)?.[1] ?? -1);
  return { pass: count('pass'), fail: count('fail'), output };
}

describe('the template catalog', () => {
  it('holds echo, the eight catalog templates and the data grid', () => {
    expect(Object.keys(templates)).toEqual([
      'echo',
      'http-json',
      'github-issues',
      'postgres-readonly',
      'rss-reader',
      'web-page',
      'date-math',
      'csv-json',
      'webhook',
      'data-grid',
    ]);
  });

  for (const name of Object.keys(templates)) {
    it(`${name}: renders with its defaults and its own tests pass in the rendered repo`, async () => {
      const files = renderTemplate(name, `${name}-demo`);
      expect(Object.keys(files).some((f) => f.startsWith('test/') && f.endsWith('.test.ts'))).toBe(true);
      expect(files['test/fake-ctx.ts']).toBeDefined();
      const result = await runRenderedTests(files);
      expect(result.fail, result.output).toBe(0);
      expect(result.pass, result.output).toBeGreaterThan(0);
    });
  }

  it('keeps each template folder’s src/config.ts equal to what the default options render', () => {
    for (const name of Object.keys(templates)) {
      const rendered = renderTemplate(name, `${name}-demo`)['src/config.ts'];
      if (rendered === undefined) continue;
      expect(readFileSync(join(TEMPLATE_FILES_ROOT, name, 'src/config.ts'), 'utf8'), name).toBe(rendered);
    }
  });

  it('options change the manifest, the config and the tests still pass', async () => {
    const files = renderTemplate('rss-reader', 'news', {
      feeds: ['https://blog.example.org/feed.xml', 'https://news.example.com/rss'],
    });
    expect(parseManifest(files['mcp.json'] ?? '').egress).toEqual(['blog.example.org', 'news.example.com']);
    expect(files['src/config.ts']).toContain("'https://blog.example.org/feed.xml'");
    const result = await runRenderedTests(files);
    expect(result.fail, result.output).toBe(0);

    const hook = renderTemplate('webhook', 'hooks', {
      url: 'https://ci.example.com/hooks/bmms',
      secretName: 'HOOK_KEY',
    });
    expect(parseManifest(hook['mcp.json'] ?? '')).toMatchObject({ egress: ['ci.example.com'], secrets: ['HOOK_KEY'] });
    expect((await runRenderedTests(hook)).fail).toBe(0);
  });

  it('names an unknown option, a bad option value and an unknown template', () => {
    expect(() => renderTemplate('date-math', 'dates', { timezone: 'UTC' })).toThrow(TemplateOptionsError);
    expect(() => renderTemplate('date-math', 'dates', { timezone: 'UTC' })).toThrow(/Unrecognized key: "timezone"/);
    expect(() => renderTemplate('echo', 'e-demo', { extra: true })).toThrow(/Unrecognized key: "extra"/);
    try {
      renderTemplate('postgres-readonly', 'pg', { endpoint: 'http://db.example.com/sql', maxRows: 0 });
      throw new Error('expected TemplateOptionsError');
    } catch (error) {
      expect(error).toBeInstanceOf(TemplateOptionsError);
      expect((error as TemplateOptionsError).issues.map((i) => i.path)).toEqual(['endpoint', 'maxRows']);
    }
    expect(() => renderTemplate('webhook', 'hooks', { url: 'https://ci.example.com:8443/x' })).toThrow(
      /url: must use port 80 or 443/,
    );
    expect(() => renderTemplate('web-page', 'pages', { hosts: ['docs.example.com:8080'] })).toThrow(/without a port/);
    expect(() => renderTemplate('github', 'gh')).toThrow(UnknownTemplateError);
  });

  it('github-issues with readOnly leaves the write tools and their tests out, and its tests pass', async () => {
    const files = renderTemplate('github-issues', 'gh-read', { readOnly: true });
    expect(parseManifest(files['mcp.json'] ?? '').tools.map((t) => t.name)).toEqual(['list_issues', 'get_issue']);
    expect(Object.keys(files).filter((f) => f.includes('create_issue') || f.includes('-write'))).toEqual([]);
    const result = await runRenderedTests(files);
    expect(result.fail, result.output).toBe(0);
    expect(result.pass).toBeGreaterThan(0);
  });

  it('github-issues pins @octokit/rest in package.json', () => {
    const pkg = JSON.parse(renderTemplate('github-issues', 'gh-demo')['package.json'] ?? '{}') as {
      dependencies: Record<string, string>;
    };
    expect(pkg.dependencies['@octokit/rest']).toMatch(/^\d+\.\d+\.\d+$/);
  });
});
