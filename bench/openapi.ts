/**
 * Benchmark: OpenAPI import of GitHub's full published document (parse + validate/dereference + convert every
 * operation + render), and render of a 50-tool server, each next to a plain JSON.parse of the same document
 * in the same run.
 *
 *   node bench/openapi.ts        (BENCH_RUNS=5 to change the number of runs)
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { render } from '@bmms/runner-template';
import { convertDocument } from '../platform/src/generation/openapi/convert.ts';
import { parseText, validateDocument } from '../platform/src/generation/openapi/document.ts';
import { listOperations } from '../platform/src/generation/openapi/operations.ts';
import { PLANS, type Plan } from '../platform/src/plans.ts';

const RUNS = Math.max(3, Number(process.env.BENCH_RUNS ?? 5));
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};
const time = async <T>(f: () => T | Promise<T>): Promise<[number, T]> => {
  const t0 = performance.now();
  const out = await f();
  return [performance.now() - t0, out];
};

// The whole document as one server: no plan allows 1,000+ tools, so the budget here is unbounded.
const UNBOUNDED: Plan = {
  ...PLANS.pro,
  maxTools: Number.MAX_SAFE_INTEGER,
  descriptionTokens: { perTool: 1500, total: 1e9 },
};
const file = createRequire(import.meta.url).resolve('@octokit/openapi/generated/api.github.com.json');
const text = await readFile(file, 'utf8');

const parse: number[] = [];
const full: number[] = [];
const fifty: number[] = [];
let operations = 0;
let files = 0;
for (let i = 0; i < RUNS; i++) {
  parse.push((await time(() => JSON.parse(text)))[0]);
  const [ms, rendered] = await time(async () => {
    const doc = await validateDocument(parseText(text));
    const ops = listOperations(doc);
    operations = ops.length;
    const { spec } = convertDocument(doc, ops, 'github-full', UNBOUNDED, {
      auth: { type: 'bearer', secret: 'GITHUB_TOKEN' },
    });
    return render(spec);
  });
  full.push(ms);
  files = Object.keys(rendered).length;
  const doc = await validateDocument(parseText(text));
  const { spec } = convertDocument(doc, listOperations(doc).slice(0, 50), 'github-fifty', PLANS.pro, {
    auth: { type: 'bearer', secret: 'GITHUB_TOKEN' },
  });
  fifty.push((await time(() => render(spec)))[0]);
}

const p = median(parse);
const fmt = (xs: number[]) =>
  `${median(xs).toFixed(1)} ms  ratio ${(median(xs) / p).toFixed(2)}× JSON.parse   samples ${xs.map((x) => x.toFixed(1)).join(' ')}`;
console.log(`runs: ${RUNS} (medians); document: ${(text.length / 1e6).toFixed(1)} MB, ${operations} operations`);
console.log(
  `JSON.parse alone:                  ${p.toFixed(1)} ms   samples ${parse.map((x) => x.toFixed(1)).join(' ')}`,
);
console.log(`full import (${operations} tools, ${files} files): ${fmt(full)}`);
console.log(`render of a 50-tool server:        ${fmt(fifty)}`);
