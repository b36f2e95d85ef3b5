import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { type BrowserContext, chromium, type Page } from 'playwright-core';

const run = promisify(execFile);
const require = createRequire(import.meta.url);
const ROOT = path.resolve(import.meta.dirname, '../..');

/** Debian's Chromium (`apt-get install -y chromium`); browser tests skip only when it is not installed. */
export const CHROMIUM = process.env.BMMS_CHROMIUM ?? '/usr/bin/chromium';
export const HAS_CHROMIUM = existsSync(CHROMIUM);

/** Where each step's screenshot goes (CI keeps this folder). */
export const SCREENSHOTS = process.env.BMMS_SCREENSHOTS_DIR ?? path.join(ROOT, '.artifacts', 'screenshots');

/** Builds the site into a fresh folder (the platform under test serves it), so a stale site/dist never counts. */
export async function buildSite(): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bmms-site-e2e-'));
  const astro = path.join(path.dirname(require.resolve('astro/package.json')), 'bin/astro.mjs');
  await run(process.execPath, [astro, 'build', '--outDir', dir], {
    cwd: path.join(ROOT, 'site'),
    env: { ...process.env, ASTRO_TELEMETRY_DISABLED: '1' },
    maxBuffer: 32 * 1024 * 1024,
  });
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/**
 * Launches headless Chromium with a fresh profile (Playwright passes it as --user-data-dir) for `baseUrl`,
 * allowed to use the clipboard, recording every CSP violation: the listener is installed through the protocol
 * before any page script, so the policy under test does not block it.
 */
export async function launch(baseUrl: string): Promise<{ context: BrowserContext; close: () => Promise<void> }> {
  const profile = await mkdtemp(path.join(os.tmpdir(), 'bmms-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    baseURL: baseUrl,
    viewport: { width: 1280, height: 900 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: baseUrl });
  await context.addInitScript(() => {
    const w = window as unknown as { __csp: { directive: string; blocked: string }[] };
    w.__csp = [];
    document.addEventListener('securitypolicyviolation', (e) => {
      w.__csp.push({ directive: e.effectiveDirective, blocked: e.blockedURI });
    });
  });
  return {
    context,
    close: async () => {
      await context.close().catch(() => {});
      await rm(profile, { recursive: true, force: true });
    },
  };
}

/** A CSP violation the page reported. */
/**
 * Chromium on the platform at `stack`, signed in as its first user (the setup link's password), on a page whose
 * uncaught errors go to `pageErrors`; `init` runs in every page before its scripts (an observer to install, say).
 */
export async function signedInPage(
  stack: { url: string; platform: { setupToken?: string } },
  pageErrors: string[],
  init?: () => void,
): Promise<{ context: BrowserContext; page: Page; close: () => Promise<void> }> {
  const { context, close } = await launch(stack.url);
  try {
    if (init) await context.addInitScript(init);
    const page = context.pages()[0] ?? (await context.newPage());
    page.on('pageerror', (err) => pageErrors.push(`${page.url()}: ${err.message}`));
    await page.goto('/signin/');
    const setup = await page.request.post('/auth/setup', {
      data: { token: stack.platform.setupToken, password: 'a long enough password' },
    });
    if (setup.status() !== 200)
      throw new Error(`signing in through /auth/setup: ${setup.status()} ${await setup.text()}`);
    return { context, page, close };
  } catch (err) {
    await close();
    throw err;
  }
}

export interface CspViolation {
  page: string;
  directive: string;
  blocked: string;
}

/** The CSP violations the page reported so far. */
export async function cspViolations(page: Page): Promise<CspViolation[]> {
  const found = await page.evaluate(
    () => (window as unknown as { __csp?: { directive: string; blocked: string }[] }).__csp ?? [],
  );
  return found.map((v) => ({ page: page.url(), ...v }));
}

let axeSource: string | undefined;

/** An axe-core violation of impact serious or critical. */
export interface AxeFinding {
  page: string;
  id: string;
  impact: string;
  help: string;
  nodes: string[];
}

/** Runs axe-core in the page; returns its serious and critical violations. */
export async function axeScan(page: Page): Promise<AxeFinding[]> {
  axeSource ??= await readFile(require.resolve('axe-core/axe.min.js'), 'utf8');
  // Evaluated through the protocol (not a <script> tag), so the page's CSP stays as strict as served.
  await page.evaluate(axeSource);
  const result = (await page.evaluate(() =>
    (
      window as unknown as {
        axe: {
          run: (
            ctx: Document,
            opts: unknown,
          ) => Promise<{ violations: { id: string; impact: string; help: string; nodes: { target: string[] }[] }[] }>;
        };
      }
    ).axe.run(document, { resultTypes: ['violations'] }),
  )) as { violations: { id: string; impact: string; help: string; nodes: { target: string[] }[] }[] };
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => ({
      page: page.url(),
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.map((n) => n.target.join(' ')),
    }));
}

/** Saves a full-page screenshot named after the step. */
export async function screenshot(page: Page, step: string): Promise<void> {
  await mkdir(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOTS, `${step}.png`), fullPage: true });
}

/** Lighthouse's four category scores of one page, 0–100. */
export interface LighthouseScores {
  url: string;
  performance: number;
  accessibility: number;
  bestPractices: number;
  seo: number;
  /** How many runs the scores are the median of (1, or LIGHTHOUSE_RUNS_ON_DOUBT when the first fell short). */
  runs: number;
}

/** A page whose first run falls short is measured again: the median of this many runs counts. */
export const LIGHTHOUSE_RUNS_ON_DOUBT = 3;

/** The median of each category over several runs of one page. */
function medianScores(runs: LighthouseScores[]): LighthouseScores {
  const median = (k: keyof Omit<LighthouseScores, 'url' | 'runs'>) => {
    const sorted = runs.map((r) => r[k]).sort((a, b) => a - b);
    return sorted[Math.floor(sorted.length / 2)] ?? 0;
  };
  return {
    url: runs[0]?.url ?? '',
    performance: median('performance'),
    accessibility: median('accessibility'),
    bestPractices: median('bestPractices'),
    seo: median('seo'),
    runs: runs.length,
  };
}

/**
 * Runs Lighthouse (desktop) on each URL in Debian's Chromium; `cookie` signs the dashboard pages in.
 * One Chromium for all pages, with a fresh profile. A page for which `doubtful` says yes after one run is run
 * again, and the median of its LIGHTHOUSE_RUNS_ON_DOUBT runs counts, as Lighthouse CI does: one run on a shared
 * machine can catch a neighbour's burst of CPU, a median of three does not hide a slow page.
 */
export async function lighthouseScores(
  urls: string[],
  cookie?: string,
  doubtful: (s: LighthouseScores, index: number) => boolean = () => false,
): Promise<LighthouseScores[]> {
  const { launch: launchChrome } = await import('chrome-launcher');
  const { default: lighthouse } = await import('lighthouse');
  const profile = await mkdtemp(path.join(os.tmpdir(), 'bmms-lighthouse-'));
  const chrome = await launchChrome({
    chromePath: CHROMIUM,
    userDataDir: profile,
    chromeFlags: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  const once = async (url: string): Promise<LighthouseScores> => {
    const result = await lighthouse(
      url,
      {
        port: chrome.port,
        output: 'json',
        logLevel: 'error',
        onlyCategories: ['performance', 'accessibility', 'best-practices', 'seo'],
        ...(cookie ? { extraHeaders: { Cookie: cookie } } : {}),
      },
      {
        extends: 'lighthouse:default',
        settings: {
          formFactor: 'desktop',
          screenEmulation: { mobile: false, width: 1350, height: 940, deviceScaleFactor: 1, disabled: false },
          // Measured on the machine as it is (a shared CI box): no simulated slow network or CPU on top.
          throttlingMethod: 'provided',
        },
      },
    );
    const c = result?.lhr.categories;
    const score = (k: string) => Math.round((c?.[k]?.score ?? 0) * 100);
    return {
      url,
      performance: score('performance'),
      accessibility: score('accessibility'),
      bestPractices: score('best-practices'),
      seo: score('seo'),
      runs: 1,
    };
  };
  try {
    const out: LighthouseScores[] = [];
    for (const [i, url] of urls.entries()) {
      const runs = [await once(url)];
      if (doubtful(runs[0] as LighthouseScores, i)) {
        while (runs.length < LIGHTHOUSE_RUNS_ON_DOUBT) runs.push(await once(url));
      }
      out.push(medianScores(runs));
    }
    return out;
  } finally {
    chrome.kill();
    await rm(profile, { recursive: true, force: true });
  }
}

/** The thresholds of the issue: performance, accessibility and best practices ≥ 95 everywhere, SEO ≥ 90 on public pages. */
export function belowThreshold(s: LighthouseScores, isPublic: boolean): string[] {
  const low: string[] = [];
  for (const k of ['performance', 'accessibility', 'bestPractices'] as const)
    if (s[k] < 95) low.push(`${k} ${s[k]} < 95`);
  if (isPublic && s.seo < 90) low.push(`seo ${s.seo} < 90`);
  return low;
}
