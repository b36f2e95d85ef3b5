/**
 * Benchmark: a push to main received → its deploy started, for a server whose repository is on GitHub (the push
 * arrives as GitHub's webhook, from the local OpenAPI-validated stand-in) next to a server in the internal Git store
 * (the push arrives the way the store's receive hook hands it over), on the same stack in the same run. Every push
 * reverts main's head, so its tree was checked before and its deploy starts without new checks: what is measured
 * is receiving the push, reading the repository and starting the deploy. Target: GitHub ≤ 1.2× internal.
 *
 *   node bench/github.ts     (BENCH_RUNS=15 to change the number of runs; at least 10)
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Octokit } from '@octokit/rest';
import { startPlatform } from '../platform/src/boot.ts';
import { createLogger, silentLogger } from '../platform/src/logger.ts';
import { handlePush } from '../platform/src/services/changes.ts';
import { GitHubStandIn } from '../platform/test/github/standin.ts';
import { benchConfig, sleep, until } from './common.ts';

const RUNS = Math.max(10, Number(process.env.BENCH_RUNS ?? 11));
const TOKEN = 'github_pat_bench_0123456789abcdef';
const author = { name: 'bench', email: 'bench@example.com' };

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

const scratch = await mkdtemp(path.join(os.tmpdir(), 'bmms-bench-github-'));
const github = await new GitHubStandIn({ tokens: { [TOKEN]: 'acme-dev' } }).start();
const person = new Octokit({ auth: TOKEN, baseUrl: github.url });
const platform = await startPlatform(
  benchConfig(scratch, { githubApiUrl: github.url, githubPollMs: 0 }),
  process.env.BENCH_LOG ? createLogger({}) : silentLogger,
);
const { ctx } = platform;
const key = (await readFile(path.join(scratch, 'owner-api-key'), 'utf8')).trim();

async function api<T>(method: string, pathname: string, body?: unknown): Promise<{ status: number; body: T }> {
  const res = await fetch(`${platform.url}/api/v1${pathname}`, {
    method,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as T };
}

type ServerBody = { observedRevision: string | null; conditions: { type: string; status: string }[] };
const serving = (name: string, sha: string) =>
  until(
    `${name} serving ${sha}`,
    async () => {
      const r = await api<ServerBody>('GET', `/servers/${name}`);
      const ready = r.body.conditions.some((c) => c.type === 'Ready' && c.status === 'True');
      return r.body.observedRevision === sha && ready ? true : undefined;
    },
    300_000,
  );
const checksDone = (name: string, n: number) =>
  until(
    `checks of ${name} #${n}`,
    async () => {
      const r = await api<{ checks: { status: string; conclusion: string }[] }>('GET', `/servers/${name}/changes/${n}`);
      if (r.body.checks.length === 0 || !r.body.checks.every((c) => c.status === 'completed')) return undefined;
      if (!r.body.checks.every((c) => c.conclusion === 'success')) throw new Error(`checks of ${name} #${n} failed`);
      return true;
    },
    300_000,
  );
/** When the deploy of `sha` started (the reconciler's deployment record). */
const deployStarted = (name: string, sha: string) =>
  until(
    `deploy of ${sha}`,
    async () => {
      const server = await ctx.db.server.findUniqueOrThrow({ where: { name } });
      const row = await ctx.db.deployment.findFirst({ where: { serverId: server.id, revision: sha } });
      return row?.startedAt.getTime();
    },
    120_000,
  );

/** A server with two checked trees on main (the template's, then one with a note), serving the second. */
async function prepare(name: string, onGitHub: boolean): Promise<void> {
  const created = await api('POST', '/servers', {
    name,
    template: 'echo',
    ...(onGitHub ? { github: { owner: 'acme' } } : {}),
  });
  if (created.status !== 201) throw new Error(`create ${name}: ${JSON.stringify(created.body)}`);
  await checksDone(name, 1);
  const first = await api<{ sha: string }>('POST', `/servers/${name}/changes/1/merge`);
  await serving(name, first.body.sha);
  const main = (await ctx.git.resolveRef(name, 'main')) as string;
  await ctx.git.commitFiles(name, {
    branch: 'notes',
    parent: main,
    files: { 'NOTES.md': 'a note\n' },
    message: 'Add a note',
    author,
  });
  const opened = await api<{ number: number }>('POST', `/servers/${name}/changes`, { branch: 'notes', title: 'note' });
  await checksDone(name, opened.body.number);
  const merged = await api<{ sha: string }>('POST', `/servers/${name}/changes/${opened.body.number}/merge`);
  await serving(name, merged.body.sha);
}

/** GitHub: a person reverts main's head on GitHub; from the push webhook's delivery to the deploy's start. */
async function pushOnGitHub(name: string): Promise<number> {
  const at = { owner: 'acme', repo: name };
  const head = (await person.git.getRef({ ...at, ref: 'heads/main' })).data.object.sha;
  const [parent] = (await person.git.getCommit({ ...at, commit_sha: head })).data.parents;
  const tree = (await person.git.getCommit({ ...at, commit_sha: parent?.sha ?? '' })).data.tree.sha;
  const revert = await person.git.createCommit({ ...at, message: `Revert ${head}`, tree, parents: [head] });
  await person.git.updateRef({ ...at, ref: 'heads/main', sha: revert.data.sha });
  const sha = revert.data.sha;
  const started = await deployStarted(name, sha);
  await github.settled();
  const delivery = github.deliveries.find((d) => d.event === 'push' && JSON.parse(d.body).after === sha);
  if (delivery?.status !== 202) throw new Error(`the push of ${sha} was not delivered`);
  await serving(name, sha);
  return started - delivery.sentAt;
}

/** Internal: main's head reverted in the Git store; from the push handed over to the deploy's start. */
async function pushInternally(name: string): Promise<number> {
  const head = (await ctx.git.resolveRef(name, 'main')) as string;
  const revert = await ctx.git.revert(name, { author });
  const sentAt = Date.now();
  await handlePush(ctx, undefined, name, [{ ref: 'refs/heads/main', oldSha: head, newSha: revert.sha }]);
  const started = await deployStarted(name, revert.sha);
  await serving(name, revert.sha);
  return started - sentAt;
}

const githubMs: number[] = [];
const internalMs: number[] = [];
try {
  const connected = await api<{ webhookUrl: string; webhookSecret: string }>('PUT', '/github/connection', {
    token: TOKEN,
  });
  if (connected.status !== 200) throw new Error(`connect: ${JSON.stringify(connected.body)}`);
  github.webhook = { url: connected.body.webhookUrl, secret: connected.body.webhookSecret };
  await prepare('bench-internal', false);
  await prepare('bench-github', true);
  for (let i = 0; i < RUNS; i++) {
    // Alternating which goes first, so neither always follows the other's deploy.
    if (i % 2 === 0) {
      internalMs.push(await pushInternally('bench-internal'));
      githubMs.push(await pushOnGitHub('bench-github'));
    } else {
      githubMs.push(await pushOnGitHub('bench-github'));
      internalMs.push(await pushInternally('bench-internal'));
    }
    await sleep(200);
  }
  if (github.violations.length > 0) throw new Error(`the stand-in broke GitHub's schemas: ${github.violations[0]}`);
} finally {
  await platform.close();
  await github.stop();
  await rm(scratch, { recursive: true, force: true });
}

const fmt = (x: number) => `${x.toFixed(0)} ms`;
const samples = (xs: number[]) => xs.map((x) => x.toFixed(0)).join(' ');
const ratio = median(githubMs) / Math.max(1, median(internalMs));
console.log(`runs: ${RUNS} (medians)`);
console.log(`internal push received  → deploy started: ${fmt(median(internalMs))}   samples ${samples(internalMs)}`);
console.log(
  `GitHub webhook received → deploy started: ${fmt(median(githubMs))}  ratio ${ratio.toFixed(2)}× (target ≤ 1.2×)   samples ${samples(githubMs)}`,
);
process.exit(0);
