import { mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import type { GitProvider } from '@bmms/gitserver';
import type { CheckRun, CheckSuite, PrismaClient } from '@bmms/prisma';
import type { GateVerdict, RevisionGate } from '@bmms/reconciler';
import type { Logger } from '../logger.ts';
import { Limiter } from './limiter.ts';
import type { Check } from './types.ts';

export interface CheckServiceDeps {
  db: PrismaClient;
  git: GitProvider;
  log: Logger;
  checks: Check[];
  /** Scratch space for checkouts. */
  workDir: string;
  /** Suites run at once (each spawns a compiler). */
  concurrency?: number;
  /** Called when a suite completed (wake the reconciler, prebuild the bundle). */
  onCompleted?: (server: { id: string; name: string }, suite: CheckSuite) => void;
}

export type SuiteWithRuns = CheckSuite & { runs: CheckRun[] };

/**
 * Check suites keyed by (server, tree SHA): the same tree is never checked twice. A suite is
 * created with all its runs queued, then run in the background under a concurrency limit.
 */
export class CheckService implements RevisionGate {
  readonly #deps: CheckServiceDeps;
  readonly #limiter: Limiter;
  readonly #running = new Map<string, Promise<void>>();
  readonly #abort = new AbortController();

  constructor(deps: CheckServiceDeps) {
    this.#deps = deps;
    this.#limiter = new Limiter(deps.concurrency ?? 2);
  }

  /** The suite for `commitSha`'s tree, created (and started) when this tree was never checked. */
  async ensureSuite(server: { id: string; name: string }, commitSha: string, treeSha?: string): Promise<SuiteWithRuns> {
    const { db, git } = this.#deps;
    const tree = treeSha ?? (await git.treeOf(server.name, commitSha));
    const existing = await this.suiteForTree(server.id, tree);
    if (existing) return existing;
    try {
      await db.checkSuite.create({
        data: {
          serverId: server.id,
          treeSha: tree,
          commitSha,
          status: 'queued',
          runs: { create: this.#deps.checks.map((c) => ({ name: c.name, status: 'queued' })) },
        },
      });
    } catch (err) {
      // A concurrent caller created the same suite: (server, tree) is unique. Use theirs.
      const raced = await this.suiteForTree(server.id, tree);
      if (raced) return raced;
      throw err;
    }
    const suite = await this.suiteForTree(server.id, tree);
    if (!suite) throw new Error(`check suite for tree ${tree} vanished`);
    this.#start(server, suite);
    return suite;
  }

  /** The suite of a tree, with its runs in check order, or null when it was never checked. */
  async suiteForTree(serverId: string, treeSha: string): Promise<SuiteWithRuns | null> {
    const suite = await this.#deps.db.checkSuite.findUnique({
      where: { serverId_treeSha: { serverId, treeSha } },
      include: { runs: true },
    });
    if (!suite) return null;
    const order = this.#deps.checks.map((c) => c.name);
    suite.runs.sort((a, b) => order.indexOf(a.name) - order.indexOf(b.name));
    return suite;
  }

  /** RevisionGate: success only when every check of the tree succeeded; starts the suite when missing. */
  async verdict(server: { id: string; name: string }, commitSha: string, treeSha: string): Promise<GateVerdict> {
    const suite = await this.ensureSuite(server, commitSha, treeSha);
    return suiteVerdict(suite);
  }

  /** Restarts suites that a previous process left unfinished (crash or restart during a check). */
  async resume(servers: Map<string, { id: string; name: string }>): Promise<void> {
    const unfinished = await this.#deps.db.checkSuite.findMany({
      where: { status: { not: 'completed' } },
      include: { runs: true },
    });
    for (const suite of unfinished) {
      const server = servers.get(suite.serverId);
      if (server) this.#start(server, suite);
    }
  }

  /** Waits for every suite under way (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.#running.size > 0) await Promise.allSettled([...this.#running.values()]);
  }

  /** Cancels running checks and waits for them to stop. */
  async close(): Promise<void> {
    this.#abort.abort();
    await this.idle();
  }

  #start(server: { id: string; name: string }, suite: SuiteWithRuns): void {
    if (this.#running.has(suite.id)) return;
    const run = this.#limiter
      .run(() => this.#run(server, suite))
      .catch((err) => this.#deps.log.error('check suite crashed', { server: server.name, suite: suite.id, err }))
      .finally(() => this.#running.delete(suite.id));
    this.#running.set(suite.id, run);
  }

  async #run(server: { id: string; name: string }, suite: SuiteWithRuns): Promise<void> {
    const { db, git, log } = this.#deps;
    if (this.#abort.signal.aborted) return;
    await db.checkSuite.update({ where: { id: suite.id }, data: { status: 'in_progress' } });
    const workDir = await mkdtemp(path.join(this.#deps.workDir, 'check-'));
    const dir = path.join(workDir, 'repo');
    let allPassed = true;
    try {
      let checkoutError: string | undefined;
      try {
        await git.checkout(server.name, suite.commitSha, dir);
      } catch (err) {
        checkoutError = `could not check out ${suite.commitSha.slice(0, 7)}: ${err instanceof Error ? err.message : String(err)}`;
      }
      for (const check of this.#deps.checks) {
        const runRow = suite.runs.find((r) => r.name === check.name);
        if (!runRow) continue;
        if (this.#abort.signal.aborted) return;
        const started = new Date();
        await db.checkRun.update({ where: { id: runRow.id }, data: { status: 'in_progress', startedAt: started } });
        let conclusion: 'success' | 'failure';
        let summary: string;
        let output: string;
        try {
          if (checkoutError) throw new Error(checkoutError);
          const outcome = await check.run({ dir, workDir, serverName: server.name, signal: this.#abort.signal });
          ({ conclusion, summary } = outcome);
          output = outcome.log;
        } catch (err) {
          if (this.#abort.signal.aborted) return;
          conclusion = 'failure';
          summary = `the ${check.name} check could not run: ${err instanceof Error ? err.message : String(err)}`;
          output = summary;
          log.error('check errored', { server: server.name, check: check.name, err });
        }
        if (conclusion !== 'success') allPassed = false;
        const completedAt = new Date();
        await db.checkRun.update({
          where: { id: runRow.id },
          data: {
            status: 'completed',
            conclusion,
            summary: summary.slice(0, 8000),
            log: output.slice(0, 200_000),
            completedAt,
            durationMs: completedAt.getTime() - started.getTime(),
          },
        });
      }
      const done = await db.checkSuite.update({
        where: { id: suite.id },
        data: { status: 'completed', conclusion: allPassed ? 'success' : 'failure', completedAt: new Date() },
      });
      log.info('check suite completed', { server: server.name, tree: suite.treeSha, conclusion: done.conclusion });
      this.#deps.onCompleted?.(server, done);
    } finally {
      await rm(workDir, { recursive: true, force: true });
    }
  }
}

/** A suite's verdict for the merge gate and the reconciler. */
export function suiteVerdict(suite: SuiteWithRuns): GateVerdict {
  if (suite.status !== 'completed') return 'pending';
  const green = suite.conclusion === 'success' && suite.runs.every((r) => r.conclusion === 'success');
  return green ? 'success' : 'failure';
}
