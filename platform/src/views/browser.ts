import { existsSync } from 'node:fs';
import path from 'node:path';
import { build } from 'esbuild';
import { type Browser, chromium, type Page } from 'playwright-core';
import { CSP_MARKER, type PlayHostOptions, type ViewCsp } from './host-csp.ts';

/**
 * Opens MCP Apps views in headless Chromium with the platform playing host (./host-page.ts): each view in a
 * sandboxed iframe under its declared CSP, handed a tool input and result through the official AppBridge. What the
 * browser reports — a script error, a CSP violation — is collected per view. The browser reaches no network: a
 * request to an origin the view declared is answered 503 here (an undeclared one never leaves the CSP).
 *
 * A view is a customer's code and Chromium runs without its own sandbox here, so the browser itself runs inside
 * bubblewrap (./chromium-sandbox.sh): its own empty network namespace, nothing of the host but /usr and fonts, as
 * nobody, with an environment of three variables (never the platform's keys).
 */

/** Debian's Chromium (`apt-get install -y chromium`), or BMMS_CHROMIUM. */
export const CHROMIUM_PATH = process.env.BMMS_CHROMIUM ?? '/usr/bin/chromium';

/** bubblewrap, which the browser runs in (where the process runtime finds it too). */
export const BWRAP_PATH = '/usr/bin/bwrap';

/** Starts the browser inside bubblewrap (BMMS_CHROMIUM_REAL is the browser, BMMS_BWRAP bubblewrap). */
const SANDBOXED_CHROMIUM = path.join(import.meta.dirname, 'chromium-sandbox.sh');

/** Why views cannot be opened in a browser here, or null when they can. */
export function browserUnavailable(executable = CHROMIUM_PATH, bwrap = BWRAP_PATH): string | null {
  if (!existsSync(executable)) {
    return `Chromium is not installed at ${executable} (install it, or point BMMS_CHROMIUM at one)`;
  }
  if (!existsSync(bwrap)) {
    return `bubblewrap is not installed at ${bwrap}: a view is untrusted code, opened only inside it (Debian: apt-get install -y bubblewrap)`;
  }
  return null;
}

/** One view to open: its built HTML, its CSP, and the tool input and result it is shown. */
export interface ViewToOpen {
  uri: string;
  html: string;
  csp?: ViewCsp;
  input?: Record<string, unknown>;
  result?: Record<string, unknown>;
}

/** What the browser saw of one view. */
export interface ViewReport {
  uri: string;
  /** Whether it completed the ui/initialize handshake (else it was handed nothing). */
  initialized: boolean;
  /** Uncaught exceptions and unhandled rejections in the view. */
  errors: string[];
  /** `<directive> <blocked URL or inline>` per CSP violation. */
  violations: string[];
  /** Why the view stopped answering (its page crashed, or an endless loop holds it), when it did. */
  unresponsive?: string;
}

/** How long a view's page has to answer a trivial script once it settled: longer is a loop that never yields. */
const RESPONSIVE_MS = 3_000;
/** The V8 heap of the browser's page (the view runs in it): a view that hoards memory crashes its page there. */
const VIEW_HEAP_MB = 256;

let hostScript: Promise<string> | undefined;

/** The host page's script, bundled once per process. */
function hostPageScript(): Promise<string> {
  hostScript ??= build({
    entryPoints: [path.join(import.meta.dirname, 'host-page.ts')],
    bundle: true,
    write: false,
    platform: 'browser',
    format: 'iife',
    target: 'es2022',
    minify: true,
    legalComments: 'none',
    logLevel: 'silent',
  }).then((out) => out.outputFiles[0]?.text ?? '');
  return hostScript;
}

/** All of the browser's environment: the platform's own (keys, database URL) never reaches it. */
export function browserEnvironment(executable: string, bwrap: string): Record<string, string> {
  return { PATH: '/usr/bin:/bin', BMMS_CHROMIUM_REAL: executable, BMMS_BWRAP: bwrap };
}

export interface OpenViewsOptions {
  executable?: string;
  /** bubblewrap (default BWRAP_PATH). */
  bwrap?: string;
  /** How long a view may take to complete the handshake. */
  handshakeMs?: number;
  /** How long a view is watched after its result arrived. */
  settleMs?: number;
  signal?: AbortSignal;
}

/** Opens each view in one headless Chromium, one page per view; a report per view, in order. */
export async function openViews(views: ViewToOpen[], options: OpenViewsOptions = {}): Promise<ViewReport[]> {
  const script = await hostPageScript();
  const browser = await chromium.launch({
    executablePath: SANDBOXED_CHROMIUM,
    env: browserEnvironment(options.executable ?? CHROMIUM_PATH, options.bwrap ?? BWRAP_PATH),
    headless: true,
    args: [
      ...['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-sync'],
      // The sandboxed view stays in the page's process, where the check's routing answers its requests…
      '--disable-features=IsolateSandboxedIframes',
      // …and no name resolves, should one slip past it.
      '--host-resolver-rules=MAP * ~NOTFOUND',
      `--js-flags=--max-old-space-size=${VIEW_HEAP_MB}`,
    ],
  });
  const stop = () => void browser.close().catch(() => {});
  options.signal?.addEventListener('abort', stop, { once: true });
  try {
    const reports: ViewReport[] = [];
    for (const view of views) {
      options.signal?.throwIfAborted();
      reports.push(await openView(browser, script, view, options));
    }
    return reports;
  } finally {
    options.signal?.removeEventListener('abort', stop);
    await browser.close().catch(() => {});
  }
}

async function openView(browser: Browser, script: string, view: ViewToOpen, options: OpenViewsOptions) {
  const context = await browser.newContext({ viewport: { width: 900, height: 700 } });
  await context.route('**/*', (route) =>
    route.fulfill({
      status: 503,
      headers: { 'access-control-allow-origin': '*', 'content-type': 'application/json' },
      body: '{"error":"the views check reaches no network"}',
    }),
  );
  const page = await context.newPage();
  const report: ViewReport = { uri: view.uri, initialized: false, errors: [], violations: [] };
  watch(page, report);
  try {
    await page.setContent('<!doctype html><html><head><title>host</title></head><body></body></html>');
    await page.addScriptTag({ content: script });
    const handshakeMs = options.handshakeMs ?? 10_000;
    // The host's own timer cannot fire while the view holds the page's thread: the wait is bounded from here too.
    const played = await within(
      page.evaluate(
        (args) =>
          (window as unknown as { playHost(a: PlayHostOptions): Promise<{ initialized: boolean }> }).playHost(args),
        {
          html: view.html,
          ...(view.csp ? { csp: view.csp } : {}),
          ...(view.input ? { input: view.input } : {}),
          ...(view.result ? { result: view.result } : {}),
          timeoutMs: handshakeMs,
        } satisfies PlayHostOptions,
      ),
      handshakeMs + RESPONSIVE_MS,
    );
    report.initialized = played?.initialized ?? false;
    // A page that crashes meanwhile (a view out of memory) rejects the wait; the crash is in the report already.
    if (played) await page.waitForTimeout(options.settleMs ?? 1_000).catch(() => {});
    if (
      !report.unresponsive &&
      !(await within(
        page.evaluate(() => true),
        RESPONSIVE_MS,
      ))
    ) {
      report.unresponsive = `its page did not answer for ${RESPONSIVE_MS / 1000} s (a loop that never yields, or one that ran it out of its ${VIEW_HEAP_MB} MiB of memory)`;
    }
    return report;
  } finally {
    await context.close().catch(() => {});
  }
}

/** Collects the page's (and its frames') uncaught errors and the view's CSP violations into `report`. */
function watch(page: Page, report: ViewReport): void {
  page.on('pageerror', (error) => report.errors.push(error.message));
  page.on('crash', () => {
    report.unresponsive ??= `its page crashed (most likely out of its ${VIEW_HEAP_MB} MiB of memory)`;
  });
  page.on('console', (message) => {
    const text = message.text();
    if (text.startsWith(CSP_MARKER)) report.violations.push(text.slice(CSP_MARKER.length).trim());
  });
}

/** `promise`'s value, or undefined when it has not settled within `ms` (or failed: a crashed page, say). */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(resolve, ms, undefined);
  });
  try {
    return await Promise.race([promise.catch(() => undefined), late]);
  } finally {
    clearTimeout(timer);
  }
}
