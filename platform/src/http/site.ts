import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { NextFunction, Request, RequestHandler, Response } from 'express';

/** Pages of the dashboard: a signed-out visit goes to the sign-in page and comes back after it. */
export const DASHBOARD_PREFIXES = ['/dashboard', '/servers', '/settings'];

/**
 * Dashboard pages whose path carries a name: the site builds one shell per shape (the `-` segments, never a valid name) and
 * its script reads the names from the address bar. Static files win over these shapes (`/servers/new/`).
 */
const SHELLS: { pattern: RegExp; file: string }[] = [
  { pattern: /^\/servers\/[^/]+\/changes\/[^/]+\/$/, file: 'servers/-/changes/-/index.html' },
  { pattern: /^\/servers\/[^/]+\/$/, file: 'servers/-/index.html' },
];

/** Headers every response carries (API, Git, MCP and pages alike): no sniffing, no leaking paths, HSTS on https. */
export function baseSecurityHeaders(): RequestHandler {
  return (req, res, next) => {
    res.setHeader('X-Content-Type-Options', 'nosniff');
    if (!res.hasHeader('Referrer-Policy')) res.setHeader('Referrer-Policy', 'strict-origin-when-cross-origin');
    if (req.secure) res.setHeader('Strict-Transport-Security', 'max-age=63072000; includeSubDomains');
    next();
  };
}

/** A built HTML page with the content-security policy that allows exactly its own inline scripts and styles. */
interface Page {
  html: Buffer;
  csp: string;
  mtimeMs: number;
}

const INLINE_SCRIPT = /<script\b(?![^>]*\bsrc=)[^>]*>([\s\S]*?)<\/script>/gi;
const INLINE_STYLE = /<style\b[^>]*>([\s\S]*?)<\/style>/gi;
const sha256 = (text: string) => `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;

/** What a page's policy allows beyond the common one. */
export interface PolicyOptions {
  /**
   * 'wasm-unsafe-eval': the page may compile WebAssembly. The docs pages need it for their search: Pagefind reads its
   * index with a WebAssembly module from /pagefind/. It does so in a web worker where it can (no page policy applies
   * there), and on the page itself where a worker cannot start — only that fallback needs this, and without it the
   * search is dead and the browser reports a violation. It allows WebAssembly compilation only: eval() and
   * new Function() stay blocked ('unsafe-eval' is never sent), and the module still comes from 'self'.
   */
  wasm?: boolean;
  /**
   * Stripe's Embedded Checkout: Stripe.js from js.stripe.com (Stripe requires it be loaded from there, never bundled),
   * its checkout frames, and its calls to Stripe's API. Only the organization settings, where checkout opens, get it.
   */
  stripe?: boolean;
}

/** The sources Embedded Checkout needs, per directive (Stripe's published policy for it). */
const STRIPE_SOURCES = {
  script: 'https://js.stripe.com',
  frame: 'https://js.stripe.com https://*.js.stripe.com https://checkout.stripe.com',
  connect: 'https://api.stripe.com https://checkout.stripe.com',
  img: 'https://*.stripe.com',
};

/** The docs pages (`/docs/…`): the only ones with the search box, so the only ones whose policy allows WebAssembly. */
const DOCS_DIR = 'docs';
/** The organization settings (`/settings/`): the only pages that open Stripe's Embedded Checkout. */
const CHECKOUT_DIR = 'settings';

/**
 * The policy of one page: scripts and style elements from the site itself or inline with a listed hash
 * (no 'unsafe-inline' for scripts, no 'unsafe-eval'), no framing, no plugins, forms and fetches to the
 * platform only. Style attributes stay allowed: highlighted code carries its colours in them.
 */
export function contentSecurityPolicy(html: string, options: PolicyOptions = {}): string {
  const hashes = (re: RegExp) =>
    [...html.matchAll(re)]
      .map((m) => m[1] ?? '')
      .filter((body) => body.trim() !== '')
      .map(sha256);
  const scripts = [...new Set(hashes(INLINE_SCRIPT))];
  const styles = [...new Set(hashes(INLINE_STYLE))];
  const stripe = (directive: keyof typeof STRIPE_SOURCES) => (options.stripe ? ` ${STRIPE_SOURCES[directive]}` : '');
  return [
    "default-src 'self'",
    `script-src 'self'${options.wasm ? " 'wasm-unsafe-eval'" : ''}${stripe('script')} ${scripts.join(' ')}`.trim(),
    `style-src-elem 'self' ${styles.join(' ')}`.trim(),
    "style-src-attr 'unsafe-inline'",
    `img-src 'self' data:${stripe('img')}`,
    "font-src 'self'",
    `connect-src 'self'${stripe('connect')}`,
    ...(options.stripe ? [`frame-src ${STRIPE_SOURCES.frame}`] : []),
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
}

export interface SitePagesDeps {
  /** The built site (Astro's dist folder). */
  siteDir: string;
  /** Whether the request carries a live browser session. */
  signedIn: (req: Request) => Promise<boolean>;
}

/**
 * Serves the site's HTML pages with their security headers: directory pages (`/docs/` → docs/index.html),
 * the dashboard's shells for named paths, a redirect to sign-in for signed-out dashboard visits, and the
 * 404 page. Everything that is not an HTML page (assets) falls through to the static file handler.
 */
export function sitePages(deps: SitePagesDeps): RequestHandler {
  const cache = new Map<string, Page>();
  const root = path.resolve(deps.siteDir);
  const load = async (file: string): Promise<Page | null> => {
    const info = await stat(file).catch(() => null);
    if (!info?.isFile()) return null;
    const cached = cache.get(file);
    if (cached && cached.mtimeMs === info.mtimeMs) return cached;
    const html = await readFile(file);
    const dir = path.relative(root, file).split(path.sep)[0];
    const policy = { wasm: dir === DOCS_DIR, stripe: dir === CHECKOUT_DIR };
    const page = { html, csp: contentSecurityPolicy(html.toString('utf8'), policy), mtimeMs: info.mtimeMs };
    cache.set(file, page);
    return page;
  };
  const inside = (rel: string) => {
    const file = path.resolve(root, `.${rel}`);
    return file === root || file.startsWith(`${root}${path.sep}`) ? file : null;
  };

  return async (req, res, next) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return next();
    let pathname: string;
    try {
      pathname = decodeURIComponent(req.path);
    } catch {
      return next();
    }
    const last = pathname.split('/').at(-1) ?? '';
    if (last.includes('.') && !last.endsWith('.html')) {
      const asset = inside(pathname);
      if (asset && (await stat(asset).catch(() => null))?.isFile()) return next();
      return sendPage(req, res, await load(path.join(root, '404.html')), 404, next);
    }
    const query = req.originalUrl.slice(req.path.length);
    if (!pathname.endsWith('/') && !last.endsWith('.html')) {
      const dir = inside(pathname);
      const isPage =
        (dir && (await stat(path.join(dir, 'index.html')).catch(() => null))) ||
        SHELLS.some((s) => s.pattern.test(`${pathname}/`));
      if (isPage) return res.redirect(301, `${req.path}/${query}`);
      return sendPage(req, res, await load(path.join(root, '404.html')), 404, next);
    }
    if (DASHBOARD_PREFIXES.some((p) => pathname === `${p}/` || pathname.startsWith(`${p}/`))) {
      if (!(await deps.signedIn(req))) {
        return res.redirect(302, `/signin/?next=${encodeURIComponent(req.originalUrl)}`);
      }
    }
    const direct = inside(pathname.endsWith('/') ? `${pathname}index.html` : pathname);
    let page = direct ? await load(direct) : null;
    if (!page) {
      const shell = SHELLS.find((s) => s.pattern.test(pathname));
      if (shell) page = await load(path.join(root, shell.file));
    }
    if (page) return sendPage(req, res, page, 200, next);
    return sendPage(req, res, await load(path.join(root, '404.html')), 404, next);
  };
}

/** Writes a page with its policy and the headers every page carries. */
function sendPage(req: Request, res: Response, page: Page | null, status: number, next: NextFunction): void {
  if (!page) {
    next();
    return;
  }
  res.status(status);
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.setHeader('Content-Security-Policy', page.csp);
  res.setHeader('X-Frame-Options', 'DENY');
  // Dashboard shells hold no data (the API does) but must never show a stale build after an upgrade.
  res.setHeader('Cache-Control', 'no-cache');
  res.setHeader('Content-Length', String(page.html.length));
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  res.end(page.html);
}
