import { mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import type { GitProvider } from '@bmms/gitserver';
import type { CheckRun, CheckSuite, PrismaClient } from '@bmms/prisma';
import type { GateVerdict, RevisionGate } from '@bmms/reconciler';
import { ROOT_CONTEXT, SpanStatusCode, trace } from '@opentelemetry/api';
import type { Logger } from '../logger.ts';
import { Limiter } from './limiter.ts';
import { type Check, type CheckOutcome, PASSING_CONCLUSIONS } from './types.ts';

export interface CheckServiceDeps {
  db: PrismaClient;
  git: GitProvider;
  log: Logger;
  checks: Check[];
  /** Scratch space for checkouts. */
  workDir: string;
  /** Suites run at once (each spawns a compiler). */
  concurrency?: number;
  /**
   * Whether `server`'s suites go ahead of others waiting for a slot (its org's plan has priority checks); unset or
   * failing: arrival order.
   */
  priorityOf?: (server: ServerRef) => Promise<boolean>;
  /** Upper bound for a check that sets no timeout of its own. */
  defaultTimeoutMs?: number;
  /** Called when a suite completed (wake the reconciler, prebuild the bundle). */
  onCompleted?: (server: { id: string; name: string }, suite: CheckSuite) => void;
  /** Called when one check completed (the platform's /metrics times them). */
  onCheckRun?: (check: string, conclusion: string, durationMs: number) => void;
  /** Called when a check of a suite starts (no outcome) and when it completed (reported on GitHub). */
  onRunChanged?: (server: ServerRef, suite: CheckSuite, check: string, outcome?: CheckOutcome) => void;
}

export type SuiteWithRuns = CheckSuite & { runs: CheckRun[] };

type ServerRef = { id: string; name: string };

/**
 * Check suites keyed by (server, tree SHA): the same tree is never checked twice. A suite is
 * created with all its runs queued, then run in the background under a concurrency limit; its
 * checks run side by side, each bounded in time, and a check that crashes or times out is a
 * `failure` with the reason — it never holds up the suite.
 */
export class CheckService implements RevisionGate {
  readonly #deps: CheckServiceDeps;
  readonly #limiter: Limiter;
  readonly #running = new Map<string, Promise<void>>();
  readonly #abort = new AbortController();
  /** Each running suite's server, its own abort (a deleted server's suites stop) and its checks' runs still going. */
  readonly #suites = new Map<string, { serverId: string; abort: AbortController; runs: Set<Promise<unknown>> }>();

  constructor(deps: CheckServiceDeps) {
    this.#deps = deps;
    this.#limiter = new Limiter(deps.concurrency ?? 2);
  }

  /** The names of the checks every suite runs, in order. */
  get checkNames(): string[] {
    return this.#deps.checks.map((c) => c.name);
  }

  /**
   * The suite for `commitSha`'s tree, created (and started) when this tree was never checked.
   * `baseSha` is what the change is compared with (default: main's head, unless that is the commit).
   */
  async ensureSuite(
    server: ServerRef,
    commitSha: string,
    treeSha?: string,
    baseSha?: string | null,
  ): Promise<SuiteWithRuns> {
    const { db, git } = this.#deps;
    const tree = treeSha ?? (await git.treeOf(server.name, commitSha));
    const existing = await this.suiteForTree(server.id, tree);
    if (existing) return existing;
    let base = baseSha === undefined ? await git.resolveRef(server.name, 'refs/heads/main') : baseSha;
    // A commit on main itself (a merge, a revert, a direct push) is compared with its first parent.
    if (base === commitSha) base = (await git.parentsOf(server.name, commitSha))[0] ?? null;
    try {
      await db.checkSuite.create({
        data: {
          serverId: server.id,
          treeSha: tree,
          commitSha,
          baseSha: base,
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
    this.#start(server, suite, this.#deps.checks);
    return suite;
  }

  /** The suite of a tree, with its runs in check order, or null when it was never checked. */
  async suiteForTree(serverId: string, treeSha: string): Promise<SuiteWithRuns | null> {
    const suite = await this.#deps.db.checkSuite.findUnique({
      where: { serverId_treeSha: { serverId, treeSha } },
      include: { runs: true },
    });
    if (!suite) return null;
    const order = this.checkNames;
    suite.runs.sort((a, b) => order.indexOf(a.name) - order.indexOf(b.name));
    return suite;
  }

  /** RevisionGate: success only when every check of the tree succeeded; starts the suite when missing. */
  async verdict(server: ServerRef, commitSha: string, treeSha: string): Promise<GateVerdict> {
    const suite = await this.ensureSuite(server, commitSha, treeSha);
    return suiteVerdict(suite);
  }

  /** RevisionGate: the checks of a tree that completed without passing. */
  async failures(server: ServerRef, treeSha: string): Promise<string[]> {
    const suite = await this.suiteForTree(server.id, treeSha);
    return (suite?.runs ?? [])
      .filter((r) => r.status === 'completed' && !PASSING_CONCLUSIONS.has(r.conclusion ?? ''))
      .map((r) => r.name);
  }

  /**
   * Runs one check of a suite again (a flaky or crashed run, or after a platform fix), and the checks
   * that wait for it. Returns the suite with those runs queued; results arrive like any other run's.
   */
  async rerun(server: ServerRef, suiteId: string, checkName: string): Promise<SuiteWithRuns> {
    const check = this.#deps.checks.find((c) => c.name === checkName);
    if (!check) throw new Error(`unknown check ${checkName}`);
    const { db } = this.#deps;
    const suite = await db.checkSuite.findUnique({ where: { id: suiteId }, include: { runs: true } });
    if (!suite) throw new Error(`unknown suite ${suiteId}`);
    if (this.#running.has(suite.id)) return (await this.suiteForTree(suite.serverId, suite.treeSha)) as SuiteWithRuns;
    const reset = {
      status: 'queued',
      conclusion: null,
      summary: '',
      log: '',
      startedAt: null,
      completedAt: null,
      durationMs: null,
    };
    const existing = suite.runs.find((r) => r.name === checkName);
    if (existing) await db.checkRun.update({ where: { id: existing.id }, data: reset });
    else await db.checkRun.create({ data: { suiteId: suite.id, name: checkName, ...reset } });
    await db.checkSuite.update({
      where: { id: suite.id },
      data: { status: 'queued', conclusion: null, completedAt: null },
    });
    // Checks that wait for this one (a preview) run again too: a skip must not outlive its reason.
    const dependents = this.#deps.checks.filter((c) => c !== check && this.#prerequisites(c).includes(check.name));
    for (const d of dependents) {
      const row = suite.runs.find((r) => r.name === d.name);
      if (row) await db.checkRun.update({ where: { id: row.id }, data: reset });
    }
    const fresh = (await this.suiteForTree(suite.serverId, suite.treeSha)) as SuiteWithRuns;
    this.#start(server, fresh, [check, ...dependents]);
    return fresh;
  }

  /** Restarts suites that a previous process left unfinished (crash or restart during a check). */
  async resume(servers: Map<string, ServerRef>): Promise<void> {
    const unfinished = await this.#deps.db.checkSuite.findMany({
      where: { status: { not: 'completed' } },
      include: { runs: true },
    });
    for (const suite of unfinished) {
      const server = servers.get(suite.serverId);
      const pending = this.#deps.checks.filter(
        (c) => suite.runs.find((r) => r.name === c.name)?.status !== 'completed',
      );
      if (server) this.#start(server, suite, pending);
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

  /**
   * Cancels the suites of a server being deleted (running or waiting for a slot) and waits, at most `waitMs`, until
   * they and their checks' own work (a test job's sandbox, a preview being started) have stopped: nothing of the
   * server may be created after its files were removed. Nothing is recorded of what they did.
   */
  async cancelServer(serverId: string, waitMs = 15_000): Promise<void> {
    const pending: Promise<unknown>[] = [];
    for (const [id, suite] of this.#suites) {
      if (suite.serverId !== serverId) continue;
      suite.abort.abort();
      pending.push(this.#running.get(id) ?? Promise.resolve(), ...suite.runs);
    }
    if (pending.length === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled(pending),
      new Promise((resolve) => {
        timer = setTimeout(resolve, waitMs);
      }),
    ]);
    clearTimeout(timer);
  }

  #start(server: ServerRef, suite: SuiteWithRuns, checks: Check[]): void {
    if (this.#running.has(suite.id)) return;
    const entry = { serverId: server.id, abort: new AbortController(), runs: new Set<Promise<unknown>>() };
    const stop = () => entry.abort.abort();
    if (this.#abort.signal.aborted) stop();
    else this.#abort.signal.addEventListener('abort', stop, { once: true });
    this.#suites.set(suite.id, entry);
    const run = this.#priority(server)
      .then((priority) => this.#limiter.run(() => this.#run(server, suite, checks, entry), { priority }))
      .catch((err) => {
        const fields = { server: server.name, suite: suite.id, err };
        // A suite stopped under way (its server deleted, the platform stopping) did not crash: nothing of it counts.
        if (entry.abort.signal.aborted) this.#deps.log.info('check suite stopped', fields);
        else this.#deps.log.error('check suite crashed', fields);
      })
      .finally(() => {
        this.#running.delete(suite.id);
        this.#suites.delete(suite.id);
        this.#abort.signal.removeEventListener('abort', stop);
      });
    this.#running.set(suite.id, run);
  }

  async #priority(server: ServerRef): Promise<boolean> {
    try {
      return (await this.#deps.priorityOf?.(server)) ?? false;
    } catch (err) {
      this.#deps.log.warn('could not tell whether a suite has priority: it waits its turn', {
        server: server.name,
        err,
      });
      return false;
    }
  }

  async #run(
    server: ServerRef,
    suite: SuiteWithRuns,
    checks: Check[],
    entry: { abort: AbortController; runs: Set<Promise<unknown>> },
  ): Promise<void> {
    const { db, git } = this.#deps;
    const { signal } = entry.abort;
    if (signal.aborted) return;
    await db.checkSuite.update({ where: { id: suite.id }, data: { status: 'in_progress' } });
    const workDir = await mkdtemp(path.join(this.#deps.workDir, 'check-'));
    const dir = path.join(workDir, 'repo');
    // One span per suite, one child per check run (no-op spans unless the platform traces).
    const tracer = trace.getTracer('@bmms/platform');
    const attributes = { 'bmms.server': server.name, 'bmms.commit': suite.commitSha, 'bmms.tree': suite.treeSha };
    const suiteSpan = tracer.startSpan('check suite', { attributes });
    const inSuite = trace.setSpan(ROOT_CONTEXT, suiteSpan);
    try {
      let checkoutError: string | undefined;
      try {
        await git.checkout(server.name, suite.commitSha, dir);
      } catch (err) {
        checkoutError = `could not check out ${suite.commitSha.slice(0, 7)}: ${err instanceof Error ? err.message : String(err)}`;
      }
      const input = { dir, workDir, serverName: server.name, commitSha: suite.commitSha, baseSha: suite.baseSha, git };
      const runCheck = async (check: Check, skipReason?: string): Promise<string | null> => {
        const runRow = suite.runs.find((r) => r.name === check.name);
        if (!runRow) return null;
        const started = new Date();
        await db.checkRun.update({ where: { id: runRow.id }, data: { status: 'in_progress', startedAt: started } });
        this.#deps.onRunChanged?.(server, suite, check.name);
        const span = tracer.startSpan(
          `check ${check.name}`,
          { attributes: { ...attributes, 'bmms.check': check.name } },
          inSuite,
        );
        let outcome: CheckOutcome;
        if (checkoutError) outcome = { conclusion: 'failure', summary: checkoutError, log: checkoutError };
        else if (skipReason) outcome = { conclusion: 'skipped', summary: skipReason, log: skipReason };
        else {
          const progress = this.#progress(runRow.id);
          outcome = await this.#runOne(check, { ...input, progress: progress.say }, signal, entry.runs);
          await progress.done();
        }
        span.setAttribute('bmms.check.conclusion', outcome.conclusion);
        if (outcome.conclusion === 'failure') span.setStatus({ code: SpanStatusCode.ERROR });
        span.end();
        if (signal.aborted) return null;
        const completedAt = new Date();
        await db.checkRun.update({
          where: { id: runRow.id },
          data: {
            status: 'completed',
            conclusion: outcome.conclusion,
            summary: outcome.summary.slice(0, 8000),
            log: outcome.log.slice(0, 200_000),
            completedAt,
            durationMs: completedAt.getTime() - started.getTime(),
          },
        });
        this.#deps.onCheckRun?.(check.name, outcome.conclusion, completedAt.getTime() - started.getTime());
        this.#deps.onRunChanged?.(server, suite, check.name, outcome);
        return outcome.conclusion;
      };
      // Checks with prerequisites (a preview runs the code) wait for those to pass, else they are skipped;
      // their preparation (building a bundle, never running it) starts at once, alongside.
      const conclusions = new Map<string, Promise<string | null>>();
      const stored = async (name: string) =>
        (await db.checkRun.findFirst({ where: { suiteId: suite.id, name } }))?.conclusion ?? null;
      for (const check of checks)
        if (this.#prerequisites(check).length === 0) conclusions.set(check.name, runCheck(check));
      for (const check of checks) {
        const needs = this.#prerequisites(check);
        if (needs.length === 0) continue;
        const prepared = checkoutError ? undefined : check.prepare?.({ ...input, signal }).catch(() => {});
        conclusions.set(
          check.name,
          (async () => {
            // Awaited first, so every check of this loop is in `conclusions` before a prerequisite is looked up: a
            // check listed before one it waits for (replay before preview) still waits for it.
            await prepared;
            const got = await Promise.all(needs.map((n) => conclusions.get(n) ?? stored(n)));
            if (signal.aborted) return null;
            const failed = needs.filter((_, i) => !PASSING_CONCLUSIONS.has(got[i] ?? ''));
            return runCheck(check, failed.length > 0 ? `not run: ${failed.join(', ')} must pass first` : undefined);
          })(),
        );
      }
      await Promise.all(conclusions.values());
      if (signal.aborted) return;
      const runs = await db.checkRun.findMany({ where: { suiteId: suite.id } });
      const allPassed = this.checkNames.every((n) =>
        PASSING_CONCLUSIONS.has(runs.find((r) => r.name === n)?.conclusion ?? ''),
      );
      const done = await db.checkSuite.update({
        where: { id: suite.id },
        data: { status: 'completed', conclusion: allPassed ? 'success' : 'failure', completedAt: new Date() },
      });
      this.#deps.log.info('check suite completed', {
        server: server.name,
        tree: suite.treeSha,
        conclusion: done.conclusion,
      });
      suiteSpan.setAttribute('bmms.check.conclusion', done.conclusion ?? 'none');
      this.#deps.onCompleted?.(server, done);
    } finally {
      suiteSpan.end();
      await removeWorkDir(workDir, entry.runs);
    }
  }

  /** The checks `check` waits for: its `after` list, or every check without prerequisites for `'all'`. */
  #prerequisites(check: Check): string[] {
    if (!check.after) return [];
    if (check.after !== 'all') return check.after.filter((n) => n !== check.name);
    return this.#deps.checks.filter((c) => c !== check && !c.after).map((c) => c.name);
  }

  /** Writes a running check's progress into its summary, in order, never after the check ended. */
  #progress(runId: string): { say: (text: string) => void; done: () => Promise<void> } {
    let chain = Promise.resolve();
    let open = true;
    return {
      say: (text) => {
        if (!open) return;
        chain = chain
          .then(async () => {
            if (open) await this.#deps.db.checkRun.update({ where: { id: runId }, data: { summary: `${text} …` } });
          })
          .catch(() => {});
      },
      done: async () => {
        open = false;
        await chain;
      },
    };
  }

  /**
   * One check, bounded in time; a crash or a timeout is a failure that says so. Cancelled (`cancel`), it answers at
   * once; the check's own run, still stopping, stays in `runs` until it settles.
   */
  async #runOne(
    check: Check,
    input: Omit<Parameters<Check['run']>[0], 'signal'>,
    cancel: AbortSignal,
    runs: Set<Promise<unknown>>,
  ): Promise<CheckOutcome> {
    const timeoutMs = check.timeoutMs ?? this.#deps.defaultTimeoutMs ?? 120_000;
    const abort = new AbortController();
    const stop = () => abort.abort();
    cancel.addEventListener('abort', stop);
    let timer: NodeJS.Timeout | undefined;
    const timeout: CheckOutcome = {
      conclusion: 'failure',
      summary: `the ${check.name} check timed out after ${timeoutMs / 1000} s`,
      log: `the ${check.name} check timed out after ${timeoutMs / 1000} s\n`,
    };
    let expired = false;
    const timedOut = new Promise<CheckOutcome>((resolve) => {
      timer = setTimeout(() => {
        expired = true;
        resolve(timeout);
        abort.abort();
      }, timeoutMs);
    });
    // Shutdown does not wait for a check that is slow to notice its signal: its result is not recorded anyway.
    let onCancel = () => {};
    const cancelled = new Promise<CheckOutcome>((resolve) => {
      onCancel = () => resolve({ conclusion: 'failure', summary: 'cancelled', log: 'cancelled\n' });
      if (cancel.aborted) onCancel();
      else cancel.addEventListener('abort', onCancel, { once: true });
    });
    try {
      const running = check.run({ ...input, signal: abort.signal });
      runs.add(running);
      running
        .catch(() => {})
        .finally(() => runs.delete(running))
        .catch(() => {});
      return await Promise.race([running, timedOut, cancelled]);
    } catch (err) {
      // A check that gives up because its time ran out reports the timeout, not its own abort error.
      if (expired) return timeout;
      const summary = `the ${check.name} check crashed: ${err instanceof Error ? err.message : String(err)}`;
      this.#deps.log.error('check crashed', { server: input.serverName, check: check.name, err });
      return { conclusion: 'failure', summary, log: err instanceof Error ? (err.stack ?? summary) : summary };
    } finally {
      clearTimeout(timer);
      cancel.removeEventListener('abort', stop);
      cancel.removeEventListener('abort', onCancel);
    }
  }
}

/** How long a suite's folder waits for checks that were told to stop (cancelled, timed out) before it goes anyway. */
const STOPPING_RUNS_WAIT_MS = 10_000;

/**
 * Removes a suite's scratch folder once the checks still stopping have (a runner killed a moment ago): removed under a
 * process still writing, it would fail (ENOTEMPTY), or be recreated by the next write and stay behind. The removal
 * retries what a last write still in flight makes fail.
 */
async function removeWorkDir(workDir: string, runs: Set<Promise<unknown>>): Promise<void> {
  if (runs.size > 0) {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...runs]),
      new Promise((resolve) => {
        timer = setTimeout(resolve, STOPPING_RUNS_WAIT_MS);
      }),
    ]);
    clearTimeout(timer);
  }
  await rm(workDir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
}

/**
 * A suite's verdict for the merge gate and the reconciler. The suite row is marked completed a few queries after its
 * last run: a suite whose runs have all completed is decided already, so someone who saw every check of a change
 * green and merges at once is not told its checks are still running.
 */
export function suiteVerdict(suite: SuiteWithRuns): GateVerdict {
  const decided =
    suite.status === 'completed' || (suite.runs.length > 0 && suite.runs.every((r) => r.status === 'completed'));
  if (!decided) return 'pending';
  const green =
    (suite.status !== 'completed' || suite.conclusion === 'success') &&
    suite.runs.every((r) => PASSING_CONCLUSIONS.has(r.conclusion ?? ''));
  return green ? 'success' : 'failure';
}
