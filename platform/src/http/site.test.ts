import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { baseSecurityHeaders, sitePages } from './site.ts';

const SCRIPT = "document.body.dataset.ready='1'";
const STYLE = 'body{color:red}';
const hash = (s: string) => `'sha256-${createHash('sha256').update(s).digest('base64')}'`;

describe('site pages and their security headers', () => {
  let dir: string;
  let url: string;
  let close: () => void;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'bmms-site-'));
    const page = (title: string) =>
      `<!doctype html><title>${title}</title><style>${STYLE}</style><script type="module" src="/_astro/a.js"></script><script>${SCRIPT}</script>`;
    await mkdir(path.join(dir, 'docs'), { recursive: true });
    await mkdir(path.join(dir, 'servers/-/changes/-'), { recursive: true });
    await mkdir(path.join(dir, 'servers/new'), { recursive: true });
    await mkdir(path.join(dir, 'settings'), { recursive: true });
    await mkdir(path.join(dir, '_astro'), { recursive: true });
    await writeFile(path.join(dir, 'index.html'), page('home'));
    await writeFile(path.join(dir, 'docs/index.html'), page('docs'));
    await writeFile(path.join(dir, '404.html'), page('missing'));
    await writeFile(path.join(dir, 'servers/-/index.html'), page('server shell'));
    await writeFile(path.join(dir, 'servers/-/changes/-/index.html'), page('change shell'));
    await writeFile(path.join(dir, 'servers/new/index.html'), page('wizard'));
    await writeFile(path.join(dir, 'settings/index.html'), page('settings'));
    await writeFile(path.join(dir, '_astro/a.js'), 'export {}');
    const app = express();
    app.set('trust proxy', 'loopback');
    app.use(baseSecurityHeaders());
    app.use(sitePages({ siteDir: dir, signedIn: async (req) => req.get('cookie') === 'bmms_session=ok' }));
    app.use(express.static(dir));
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    close = () => server.close();
  });
  afterAll(async () => {
    close?.();
    await rm(dir, { recursive: true, force: true });
  });

  const get = (p: string, headers: Record<string, string> = {}) => fetch(`${url}${p}`, { redirect: 'manual', headers });

  it('sends a strict policy that allows exactly the page’s own inline script and style', async () => {
    const res = await get('/');
    expect(res.status).toBe(200);
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toContain(`script-src 'self' ${hash(SCRIPT)}`);
    expect(csp).toContain(`style-src-elem 'self' ${hash(STYLE)}`);
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe-eval');
    expect(csp).not.toMatch(/script-src[^;]*unsafe-inline/);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('referrer-policy')).toBe('strict-origin-when-cross-origin');
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect(res.headers.get('strict-transport-security')).toBeNull();
  });

  it('lets only the docs pages compile WebAssembly (their Pagefind search), never eval', async () => {
    const docs = (await get('/docs/')).headers.get('content-security-policy') ?? '';
    expect(docs).toContain(`script-src 'self' 'wasm-unsafe-eval' ${hash(SCRIPT)}`);
    expect(docs).not.toMatch(/'unsafe-eval'/);
    for (const p of ['/', '/docs/nope/', '/servers/new/']) {
      const csp = (await get(p, { cookie: 'bmms_session=ok' })).headers.get('content-security-policy') ?? '';
      expect(csp).toContain("script-src 'self'");
      expect(csp).not.toContain('wasm-unsafe-eval');
    }
  });

  it("lets only the organization settings load Stripe.js and frame Stripe's Embedded Checkout", async () => {
    const settings = (await get('/settings/', { cookie: 'bmms_session=ok' })).headers.get('content-security-policy');
    expect(settings).toContain(`script-src 'self' https://js.stripe.com ${hash(SCRIPT)}`);
    expect(settings).toContain('frame-src https://js.stripe.com https://*.js.stripe.com https://checkout.stripe.com');
    expect(settings).toContain("connect-src 'self' https://api.stripe.com https://checkout.stripe.com");
    expect(settings).toContain("frame-ancestors 'none'");
    for (const p of ['/', '/docs/', '/servers/new/']) {
      const csp = (await get(p, { cookie: 'bmms_session=ok' })).headers.get('content-security-policy') ?? '';
      expect(csp, p).not.toContain('stripe');
      expect(csp, p).not.toContain('frame-src');
    }
  });

  it('adds HSTS only when the request came over https', async () => {
    const res = await get('/docs/', { 'x-forwarded-proto': 'https' });
    expect(res.headers.get('strict-transport-security')).toBe('max-age=63072000; includeSubDomains');
  });

  it('redirects a directory without its slash and answers unknown pages with the 404 page and its headers', async () => {
    const docs = await get('/docs?q=1');
    expect(docs.status).toBe(301);
    expect(docs.headers.get('location')).toBe('/docs/?q=1');
    for (const p of ['/nope/', '/nope.js', '/docs/../../etc/passwd']) {
      const res = await get(p);
      expect(res.status).toBe(404);
      expect(await res.text()).toContain('<title>missing</title>');
      expect(res.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    }
    const asset = await get('/_astro/a.js');
    expect(asset.status).toBe(200);
    expect(asset.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('sends a signed-out dashboard visit to sign-in with the way back, and serves the shells when signed in', async () => {
    const out = await get('/servers/demo/changes/3/?tab=checks');
    expect(out.status).toBe(302);
    expect(out.headers.get('location')).toBe(
      `/signin/?next=${encodeURIComponent('/servers/demo/changes/3/?tab=checks')}`,
    );
    const cookie = { cookie: 'bmms_session=ok' };
    expect(await (await get('/servers/demo/changes/3/', cookie)).text()).toContain('change shell');
    expect(await (await get('/servers/demo/', cookie)).text()).toContain('server shell');
    expect(await (await get('/servers/new/', cookie)).text()).toContain('wizard');
    expect((await get('/servers/demo', cookie)).headers.get('location')).toBe('/servers/demo/');
  });
});
