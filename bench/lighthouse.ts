/**
 * Benchmark: Lighthouse scores (desktop, Debian's Chromium) of the landing, docs, pricing, the servers list and a
 * change review page on the embedded stack. Exits 1 below the thresholds: performance, accessibility and best
 * practices ≥ 95 on every page, SEO ≥ 90 on the public ones. A page below them after one run is run twice more and
 * the median of the three is printed (`runs`).
 *
 *   node bench/lighthouse.ts
 */
import { belowThreshold, buildSite, HAS_CHROMIUM, lighthouseScores } from '../platform/test/browser.ts';
import { TestStack } from '../platform/test/harness.ts';

if (!HAS_CHROMIUM) {
  process.stderr.write('Chromium is not installed (Debian: apt-get install -y chromium)\n');
  process.exit(2);
}
const site = await buildSite();
const stack = await TestStack.start({}, { siteDir: site.dir });
let failed = false;
try {
  await stack.api('POST', '/api/v1/servers', { name: 'demo', template: 'echo' });
  await stack.waitChecks('demo', 1, 300_000);
  const res = await fetch(`${stack.url}/auth/setup`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token: stack.platform.setupToken, password: 'a long enough password' }),
  });
  const cookie = /bmms_session=[^;]+/.exec(res.headers.get('set-cookie') ?? '')?.[0] ?? '';
  const pages = [
    { path: '/', public: true },
    { path: '/docs/', public: true },
    { path: '/pricing/', public: true },
    { path: '/servers/', public: false },
    { path: '/servers/demo/changes/1/', public: false },
  ];
  const scores = await lighthouseScores(
    pages.map((p) => `${stack.url}${p.path}`),
    cookie,
    (s, i) => belowThreshold(s, pages[i]?.public ?? false).length > 0,
  );
  console.log('page                          perf  a11y  best-practices  seo  runs');
  scores.forEach((s, i) => {
    const page = pages[i] as { path: string; public: boolean };
    const low = belowThreshold(s, page.public);
    failed ||= low.length > 0;
    console.log(
      `${page.path.padEnd(30)}${String(s.performance).padStart(4)}  ${String(s.accessibility).padStart(4)}  ${String(s.bestPractices).padStart(14)}  ${String(s.seo).padStart(3)}  ${String(s.runs).padStart(4)}${low.length ? `  BELOW: ${low.join(', ')}` : ''}`,
    );
  });
} finally {
  await stack.destroy();
  await site.remove();
}
process.exit(failed ? 1 : 0);
