/**
 * Benchmark: OpenAPI import of GitHub's full published document (parse + validate/dereference + convert every
 * operation + render), and render of a 50-tool server, each next to a plain JSON.parse of the same document
 * in the same run.
 *
 * Then, unless BENCH_OPENAPI_LOAD=0: one MCP client's latency (`tools/call add` on the echo template through the
 * gateway, 1 connection, from its own process) without and with large documents being imported at the same time
 * (a generated document of BENCH_OPENAPI_MB, default 12 MB, sent to POST /openapi/operations back to back). Target:
 * the client's p95 during the imports within 2× of its p95 without them.
 *
 *   node bench/openapi.ts        (BENCH_RUNS=5 to change the number of runs, BENCH_SECONDS=10 per latency measurement)
 */
import { execFile } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { render } from '@bmms/runner-template';
import { startPlatform } from '../platform/src/boot.ts';
import { convertDocument } from '../platform/src/generation/openapi/convert.ts';
import { parseText, validateDocument } from '../platform/src/generation/openapi/document.ts';
import { listOperations } from '../platform/src/generation/openapi/operations.ts';
import { batchedSink, createLogger } from '../platform/src/logger.ts';
import { PLANS, type Plan } from '../platform/src/plans.ts';
import { largeDocument } from '../platform/test/large-document.ts';
import { benchConfig, until } from './common.ts';

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

if (process.env.BENCH_OPENAPI_LOAD !== '0') await latencyDuringImports();

/** Percentiles of one client's calls without and with large documents being imported (see the header). */
async function latencyDuringImports(): Promise<void> {
  const seconds = Math.max(2, Number(process.env.BENCH_SECONDS ?? 10));
  const megabytes = Math.max(10, Number(process.env.BENCH_OPENAPI_MB ?? 12));
  const scratch = await mkdtemp(path.join(os.tmpdir(), 'bmms-bench-openapi-'));
  const devnull = createWriteStream('/dev/null');
  const platform = await startPlatform(
    benchConfig(path.join(scratch, 'data')),
    createLogger(
      { svc: 'platform' },
      batchedSink((chunk) => devnull.write(chunk)),
    ),
  );
  try {
    const key = (await readFile(path.join(scratch, 'data', 'owner-api-key'), 'utf8')).trim();
    const api = (method: string, p: string, body?: string | Uint8Array<ArrayBuffer>) =>
      fetch(`${platform.url}/api/v1${p}`, {
        method,
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body }),
      });
    const created = await api('POST', '/servers', JSON.stringify({ name: 'bench', template: 'echo' }));
    if (created.status !== 201) throw new Error(`create: ${await created.text()}`);
    await until('checks', async () => {
      const c = (await (await api('GET', '/servers/bench/changes/1')).json()) as {
        checkSuite?: { conclusion: string | null };
      };
      return c.checkSuite?.conclusion ? true : undefined;
    });
    await api('POST', '/servers/bench/changes/1/merge');
    await until('serving', async () => {
      const s = (await (await api('GET', '/servers/bench')).json()) as {
        conditions: { type: string; status: string }[];
      };
      return s.conditions.some((c) => c.type === 'Ready' && c.status === 'True') ? true : undefined;
    });

    // Built before measuring: the document's JSON is the request body, sent as it is.
    const large = largeDocument(megabytes * 1024 * 1024);
    const body = new TextEncoder().encode(JSON.stringify({ openapi: large.doc }));
    const load = async (secs: number) => {
      const spec = JSON.stringify({
        url: `${platform.url}/s/bench/mcp`,
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          'mcp-protocol-version': '2025-06-18',
          authorization: `Bearer ${key}`,
        },
        body: JSON.stringify({
          jsonrpc: '2.0',
          id: 1,
          method: 'tools/call',
          params: { name: 'add', arguments: { a: 2, b: 3 } },
        }),
        connections: 1,
        seconds: secs,
      });
      const { stdout } = await promisify(execFile)(process.execPath, [path.join(import.meta.dirname, 'load.ts'), spec]);
      return JSON.parse(stdout) as { requests: number; errors: number; p50Ms: number; p95Ms: number; p99Ms: number };
    };

    await load(2);
    const without = await load(seconds);
    let stop = false;
    const imports: number[] = [];
    const importing = (async () => {
      while (!stop) {
        const t0 = performance.now();
        const res = await api('POST', '/openapi/operations', body);
        const answer = (await res.json()) as { count?: number };
        if (res.status !== 200 || answer.count !== large.operations) {
          throw new Error(`import: ${res.status} ${JSON.stringify(answer).slice(0, 300)}`);
        }
        imports.push(performance.now() - t0);
      }
    })();
    // Let the first import start reading before the client measures.
    await new Promise((r) => setTimeout(r, 200));
    const during = await load(seconds);
    stop = true;
    await importing;

    const row = (what: string, r: typeof without) =>
      `${what.padEnd(34)} p50 ${r.p50Ms.toFixed(1).padStart(6)} ms  p95 ${r.p95Ms.toFixed(1).padStart(6)} ms  p99 ${r.p99Ms.toFixed(1).padStart(6)} ms  calls ${r.requests}  errors ${r.errors}`;
    console.log(
      `\nclient latency during imports: document ${(large.bytes / 1e6).toFixed(1)} MB, ${large.operations} operations; ${seconds} s per measurement`,
    );
    console.log(row('without imports:', without));
    console.log(row(`during ${imports.length} import(s):`, during));
    console.log(
      `p95 ratio ${(during.p95Ms / without.p95Ms).toFixed(2)}× (target ≤ 2×); one import took ${median(imports).toFixed(0)} ms (median)`,
    );
  } finally {
    await platform.close();
    devnull.end();
    await rm(scratch, { recursive: true, force: true });
  }
}
