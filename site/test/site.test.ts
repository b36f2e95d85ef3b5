import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const siteDir = fileURLToPath(new URL('..', import.meta.url));
const astroBin = path.join(path.dirname(createRequire(import.meta.url).resolve('astro/package.json')), 'bin/astro.mjs');

let out = '';
let pages: { route: string; file: string; html: string }[] = [];

/** Every file under dir, as paths relative to it with forward slashes. */
function walk(dir: string, prefix = ''): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(path.join(dir, e.name), `${prefix}${e.name}/`) : [`${prefix}${e.name}`],
  );
}

/** The file a site path is served from by express.static (directory → index.html), or undefined. */
function resolvePath(urlPath: string): string | undefined {
  const rel = decodeURIComponent(urlPath).replace(/^\/+/, '');
  const candidates = urlPath.endsWith('/') ? [path.join(rel, 'index.html')] : [rel, path.join(rel, 'index.html')];
  for (const c of candidates) {
    const file = path.join(out, c);
    if (existsSync(file) && statSync(file).isFile()) return file;
  }
  return undefined;
}

const attr = (html: string, name: string): string[] =>
  [...html.matchAll(new RegExp(`\\s${name}="([^"]*)"`, 'g'))].map((m) => m[1] ?? '');

beforeAll(async () => {
  // Build into a temporary directory so the test never disturbs a dist/ the platform is serving.
  out = await mkdtemp(path.join(tmpdir(), 'bmms-site-'));
  await promisify(execFile)(process.execPath, [astroBin, 'build', '--outDir', out], {
    cwd: siteDir,
    env: { ...process.env, ASTRO_TELEMETRY_DISABLED: '1' },
  });
  pages = walk(out)
    .filter((f) => f.endsWith('.html'))
    .map((f) => ({
      route: `/${f.replace(/index\.html$/, '')}`,
      file: f,
      html: readFileSync(path.join(out, f), 'utf8'),
    }));
});

afterAll(async () => {
  if (out) await rm(out, { recursive: true, force: true });
});

describe('the built site', () => {
  it('has the landing page, the 404 page, the docs index and one page per docs file', () => {
    const docs = readdirSync(path.join(siteDir, 'src/content/docs'))
      .filter((f) => f.endsWith('.md'))
      .map((f) => `/docs/${f.replace(/\.md$/, '')}/`);
    const routes = pages.map((p) => p.route);
    expect(routes).toEqual(expect.arrayContaining(['/', '/404.html', '/docs/', ...docs]));
    expect(docs.length).toBeGreaterThanOrEqual(9);
  });

  it('gives every page a title, exactly one h1, one main landmark and a language', () => {
    for (const { file, html } of pages) {
      const titles = [...html.matchAll(/<title>([^<]*)<\/title>/g)].map((m) => m[1]?.trim());
      expect(titles, file).toHaveLength(1);
      expect(titles[0], file).toMatch(/BuildMyMCPServer/);
      expect(html.match(/<h1[\s>]/g) ?? [], file).toHaveLength(1);
      expect(html.match(/<main[\s>]/g) ?? [], file).toHaveLength(1);
      expect(html, file).toMatch(/<html lang="en"/);
    }
  });

  it('resolves every internal link and asset to a file, and every #fragment to an id on its page', () => {
    const broken: string[] = [];
    for (const { route, file, html } of pages) {
      for (const ref of [...attr(html, 'href'), ...attr(html, 'src')]) {
        if (/^([a-z][a-z0-9+.-]*:|\/\/)/i.test(ref)) continue; // external: https:, mailto:, //host
        const url = new URL(ref, `http://site${route}`);
        // The platform serves the site and, beside it, the API's own description: the one API link the docs make.
        if (url.pathname === '/api/v1/openapi.json') continue;
        const target = resolvePath(url.pathname);
        if (!target) {
          broken.push(`${file}: ${ref}`);
          continue;
        }
        const id = decodeURIComponent(url.hash.slice(1));
        if (id && !attr(readFileSync(target, 'utf8'), 'id').includes(id)) broken.push(`${file}: ${ref} (no such id)`);
      }
    }
    expect(broken).toEqual([]);
  });

  it('ships client JavaScript only to the dashboard, sign-in, gallery and docs (search) pages, and no vendor branding', () => {
    // The dashboard's islands and the template gallery talk to the API; a docs page carries its search box (one
    // script, which loads the index on first use); the landing and pricing stay plain HTML.
    const app = /^\/(dashboard|servers|settings|signin|setup|templates)\//;
    for (const { route, file, html } of pages) {
      const modules = html.match(/<script type="module"/g) ?? [];
      if (route.startsWith('/docs/')) expect(modules, file).toHaveLength(1);
      else if (!app.test(route)) expect(modules, file).toHaveLength(0);
      expect(html, file).not.toMatch(/powered by/i);
    }
    const scripts = walk(out).filter((f) => f.endsWith('.js'));
    expect(scripts.filter((f) => !f.startsWith('_astro/')).sort()).toEqual([
      'pagefind/pagefind-worker.js',
      'pagefind/pagefind.js',
    ]);
  });

  it('builds the docs search index from every docs page and nothing else', () => {
    const docs = readdirSync(path.join(siteDir, 'src/content/docs')).filter((f) => f.endsWith('.md'));
    const entry = JSON.parse(readFileSync(path.join(out, 'pagefind/pagefind-entry.json'), 'utf8')) as {
      languages: Record<string, { page_count: number }>;
    };
    expect(Object.values(entry.languages).reduce((n, l) => n + l.page_count, 0)).toBe(docs.length);
    // Only the docs pages' articles are marked for the index (the docs overview lists every page: it is not).
    const marked = pages.filter((p) => p.html.includes('data-pagefind-body')).map((p) => p.route);
    expect(marked.sort()).toEqual(docs.map((f) => `/docs/${f.replace(/\.md$/, '')}/`).sort());
  });

  it('documents every error code the platform can return, with its status', () => {
    const errorsFile = path.join(siteDir, '../platform/src/errors.ts');
    const source = existsSync(errorsFile) ? readFileSync(errorsFile, 'utf8') : '';
    // The entries of the one error table: `  code: { status: 400, …` (or with `status` on the next line).
    const codes = [...source.matchAll(/^ {2}([a-z_]+): \{\s*status: (\d{3}),/gm)].map((m) => [m[1], m[2]]);
    expect(codes.length).toBeGreaterThan(50);
    const api = pages.find((p) => p.route === '/docs/api/')?.html ?? '';
    const missing = codes.filter(
      ([code, status]) => !new RegExp(`<td><code>${code}</code></td>\\s*<td>${status}</td>`).test(api),
    );
    expect(missing).toEqual([]);
  });
});
