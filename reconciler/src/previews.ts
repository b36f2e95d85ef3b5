import type { GitProvider } from '@bmms/gitserver';
import type { Prisma, PrismaClient } from '@bmms/prisma';
import { type Manifest, parseManifest } from '@bmms/runner-template';
import type { BundleCache } from './bundle.ts';
import { applyConditions, type Condition, type ConditionPatch, readConditions } from './conditions.ts';
import type { DeployEvent, DeployStep, ReconcilerLog } from './deploy-steps.ts';
import { SandboxUnavailableError } from './errors.ts';
import { probeInstance } from './probe.ts';
import type { RouteTable } from './routes.ts';
import type { Instance, Runtime } from './runtimes/types.ts';
import { parsePreviewName, previewName } from './targets.ts';

/** A preview's test beyond the deploy probe (the platform's smoke test); returns what it checked. */
export type PreviewTest = (
  socketPath: string,
  manifest: Manifest,
  headers: Record<string, string>,
) => Promise<string[]>;

export interface PreviewDeps {
  db: PrismaClient;
  git: GitProvider;
  runtime: Runtime;
  bundles: BundleCache;
  routes: RouteTable;
  log: ReconcilerLog;
  /** Environment of every preview instance (the gateway's internal credential…). Never logged. */
  env?: () => Record<string, string>;
  probeHeaders?: (server: string) => Record<string, string>;
  /** Run after the probe, before the preview is routed (default: the probe alone). */
  test?: PreviewTest;
  /** Per-instance setup of previews (default: none). */
  provision?: PreviewProvision;
  onStep?: (step: DeployStep, target: string) => void | Promise<void>;
  /**
   * The reconcile of `server`'s production instance under way, if any. A preview no longer needed is stopped after
   * it: a merge starts the production instance of the tree whose preview it retires, and the preview's exit (its
   * process, unmounts and cleanup) would otherwise compete with that start.
   */
  productionReconcile?: (server: string) => Promise<void> | undefined;
  /** Hears a preview's deploy events (routed, failed); must not throw. */
  onEvent?: (event: DeployEvent) => void;
}

/** What one preview instance gets besides the shared environment (a replaying egress listener…), and its cleanup. */
export interface PreviewSetup {
  env: Record<string, string>;
  binds?: { host: string; sandbox: string }[];
  /** Called once the instance is stopped (or never started). */
  release(): Promise<void>;
}

/** Prepares what a preview instance of `tree` gets (called before each start). */
export type PreviewProvision = (serverName: string, manifest: Manifest, tree: string) => Promise<PreviewSetup>;

/** The outcome of a preview target, as its conditions say it. */
export interface PreviewOutcome {
  conclusion: 'success' | 'failure' | 'skipped';
  /** What was checked (success) or why it failed. */
  detail: string;
}

interface Running {
  instance: Instance;
  report: string;
}

/**
 * Preview targets: each open change that asked for one runs its head tree in a throw-away instance (never the
 * production one), probed and tested, routed at `<server>--pr-<N>`. The desired targets live in the database
 * (`preview_targets`), so a restart or a new leader deploys them again; instances no target needs are stopped.
 */
export class PreviewTargets {
  readonly #deps: PreviewDeps;
  /** Running previews by `<server>\0<tree>`: changes with the same head tree share one. */
  readonly #running = new Map<string, Running>();
  readonly #starting = new Set<string>();
  readonly #stopping = new Set<string>();
  readonly #locks = new Map<string, Promise<unknown>>();
  /** Trial previews kept serving for the checks that call them after `preview`, by `<server>\0<tree>`. */
  readonly #held = new Map<string, { instance: Instance; timer: NodeJS.Timeout }>();
  /** What each preview instance was given, released when it stops. */
  readonly #releases = new Map<string, () => Promise<void>>();
  /** Callers waiting for a target's conditions to change (in this process; others poll). */
  readonly #waiters = new Map<string, Set<() => void>>();

  constructor(deps: PreviewDeps) {
    this.#deps = deps;
  }

  /** Asks for change `number`'s preview at `ref`: stored as desired, Progressing until the reconciler deployed it. */
  async request(server: { id: string; name: string }, number: number, ref: string): Promise<string> {
    const { db, git } = this.#deps;
    const target = previewName(server.name, number);
    const tree = await git.treeOf(server.name, ref);
    const conditions = toJson(
      applyConditions([], {
        Ready: { status: false, reason: 'Deploying', message: `deploying ${ref.slice(0, 7)}` },
        Progressing: { status: true, reason: 'Deploying', message: `deploying ${ref.slice(0, 7)}` },
      }),
    );
    await db.previewTarget.upsert({
      where: { target },
      create: { target, serverId: server.id, changeNumber: number, ref, tree, conditions },
      update: { serverId: server.id, changeNumber: number, ref, tree, conditions, updatedAt: new Date() },
    });
    return target;
  }

  /** The outcome of `target` at `ref` once the reconciler settled it, or undefined while it is not. */
  async outcome(target: string, ref: string): Promise<PreviewOutcome | undefined> {
    const row = await this.#deps.db.previewTarget.findUnique({ where: { target } });
    if (!row) return { conclusion: 'failure', detail: 'the preview was removed (the change closed or moved)' };
    if (row.ref !== ref) return { conclusion: 'failure', detail: 'the change moved on to another commit' };
    const conditions = readConditions(row.conditions);
    if (conditions.find((c) => c.type === 'Progressing')?.status !== 'False') return undefined;
    const ready = conditions.find((c) => c.type === 'Ready');
    if (ready?.status === 'True') return { conclusion: 'success', detail: ready.message };
    if (ready?.reason === 'SandboxUnavailable') return { conclusion: 'skipped', detail: ready.message };
    return { conclusion: 'failure', detail: ready?.message ?? 'the preview did not start' };
  }

  /**
   * Waits until `target` at `ref` settled, or `signal` aborts (undefined then). Wakes when this process settles
   * it, and otherwise looks every `pollMs` (another replica may be the leader that deploys it).
   */
  async settled(target: string, ref: string, signal?: AbortSignal, pollMs = 500): Promise<PreviewOutcome | undefined> {
    for (;;) {
      let wake = () => {};
      const changed = new Promise<void>((resolve) => {
        wake = resolve;
      });
      const waiters = this.#waiters.get(target) ?? new Set();
      this.#waiters.set(target, waiters);
      waiters.add(wake);
      try {
        const outcome = await this.outcome(target, ref);
        if (outcome || signal?.aborted) return outcome;
        let timer: NodeJS.Timeout | undefined;
        const onAbort = () => wake();
        signal?.addEventListener('abort', onAbort, { once: true });
        await Promise.race([changed, new Promise<void>((resolve) => (timer = setTimeout(resolve, pollMs)))]);
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      } finally {
        waiters.delete(wake);
        if (waiters.size === 0 && this.#waiters.get(target) === waiters) this.#waiters.delete(target);
      }
    }
  }

  /** Names of stored preview targets (resync wakes each). */
  async names(): Promise<string[]> {
    const rows = await this.#deps.db.previewTarget.findMany({ select: { target: true } });
    return rows.map((r) => r.target);
  }

  /** Preview targets of `server` that are stored or routed (a change closed, merged or moved: wake them). */
  async namesOf(server: string): Promise<string[]> {
    const rows = await this.#deps.db.previewTarget.findMany({
      where: { server: { name: server } },
      select: { target: true },
    });
    const routed = this.#deps.routes.servers().filter((n) => parsePreviewName(n)?.server === server);
    return [...new Set([...rows.map((r) => r.target), ...routed])];
  }

  /** Whether `instanceId` runs a preview (not a production instance). */
  isPreviewInstance(instanceId: string): boolean {
    if (this.#starting.has(instanceId) || this.#stopping.has(instanceId)) return true;
    for (const held of this.#held.values()) if (held.instance.id === instanceId) return true;
    for (const p of this.#running.values()) if (p.instance.id === instanceId) return true;
    return false;
  }

  /** One level-triggered pass for a preview target: deploy it, point its route, or remove it. */
  reconcile(target: string): Promise<void> {
    const parsed = parsePreviewName(target);
    if (!parsed) return Promise.resolve();
    // One pass per server at a time: two changes with the same tree share (and must not both start) an instance.
    return this.#serialized(parsed.server, () => this.#reconcile(target, parsed.server, parsed.number));
  }

  async #reconcile(target: string, serverName: string, number: number): Promise<void> {
    const { db, routes } = this.#deps;
    const row = await db.previewTarget.findUnique({ where: { target } });
    const change = row
      ? await db.changeRequest.findFirst({ where: { serverId: row.serverId, number, state: 'open' } })
      : null;
    if (!row || !change || change.headSha !== row.ref) {
      // Closed, merged or moved on: the route goes at once, the instance in the background.
      routes.remove(target);
      if (row && !change) await db.previewTarget.deleteMany({ where: { target } });
      this.#stopUnneeded(serverName);
      return;
    }
    const key = `${serverName}\0${row.tree}`;
    let running = this.#running.get(key);
    if (running && !this.#deps.runtime.list().some((i) => i.id === running?.instance.id)) {
      this.#running.delete(key);
      running = undefined;
    }
    const conditions = readConditions(row.conditions);
    const settled = conditions.find((c) => c.type === 'Progressing')?.status === 'False';
    const served = conditions.find((c) => c.type === 'Ready')?.status === 'True';
    if (running) {
      this.#route(target, row.ref, row.tree, running.instance);
      if (!settled) await this.#settle(target, ready(`reused the running preview of this tree; ${running.report}`));
    } else if (!settled || served) {
      // Asked for, or served before a restart (or its instance went): deploy it (again).
      await this.#deploy(target, serverName, row.ref, row.tree, key);
    }
    this.#stopUnneeded(serverName);
  }

  /** Deploys the preview of `ref` for `target`: started, tested, routed, Ready; or not Ready with the reason. */
  async #deploy(target: string, serverName: string, ref: string, tree: string, key: string): Promise<void> {
    const step = async (at: DeployStep) => this.#deps.onStep?.(at, target);
    const preview = parsePreviewName(target)?.number;
    const event = (level: DeployEvent['level'], reason: string, message: string) => {
      try {
        this.#deps.onEvent?.({
          server: serverName,
          ...(preview ? { preview } : {}),
          revision: ref,
          level,
          reason,
          message,
        });
      } catch (err) {
        this.#deps.log.warn('deploy event listener failed', { target, err });
      }
    };
    event('info', 'Deploying', `deploying preview ${ref.slice(0, 7)}`);
    try {
      const { instance, report } = await this.#startAndTest(serverName, ref, tree, step, preview);
      this.#running.set(key, { instance, report });
      this.#route(target, ref, tree, instance);
      event('info', 'Serving', `serving preview ${ref.slice(0, 7)}: ${report}`);
      await step('routed');
      await this.#settle(target, ready(report));
      await step('status');
    } catch (err) {
      this.#deps.routes.remove(target);
      this.#deps.log.warn('preview failed', { target, revision: ref, err });
      const patch = failed(err);
      event('error', patch.Ready?.reason ?? 'PreviewFailed', patch.Ready?.message ?? 'the preview failed');
      await this.#settle(target, patch);
    }
  }

  /**
   * A preview of `ref` no open change asked for (main's own suite): started, tested and stopped again, never
   * routed. Returns its outcome at once.
   */
  async trial(serverName: string, ref: string, holdMs = 0): Promise<PreviewOutcome> {
    try {
      const tree = await this.#deps.git.treeOf(serverName, ref);
      const { instance, report } = await this.#startAndTest(serverName, ref, tree, async () => {});
      if (holdMs > 0) this.#hold(`${serverName}\0${tree}`, instance, holdMs);
      else this.#stop(instance.id);
      return { conclusion: 'success', detail: report };
    } catch (err) {
      const patch = failed(err);
      return {
        conclusion: patch.Ready?.reason === 'SandboxUnavailable' ? 'skipped' : 'failure',
        detail: patch.Ready?.message ?? 'the preview did not start',
      };
    }
  }

  /** The socket of the trial preview of `tree` kept for the checks that call it, while it runs. */
  heldTrial(serverName: string, tree: string): string | undefined {
    const held = this.#held.get(`${serverName}\0${tree}`);
    if (!held || !this.#deps.runtime.list().some((i) => i.id === held.instance.id)) return undefined;
    return held.instance.socketPath;
  }

  /** Stops the trial preview of `tree` kept for the checks (they are done), if any. */
  releaseTrial(serverName: string, tree: string): void {
    const key = `${serverName}\0${tree}`;
    const held = this.#held.get(key);
    if (!held) return;
    this.#held.delete(key);
    clearTimeout(held.timer);
    this.#stop(held.instance.id);
  }

  /** Keeps a trial preview serving for at most `ms` (a new trial of the same tree replaces it). */
  #hold(key: string, instance: Instance, ms: number): void {
    const earlier = this.#held.get(key);
    if (earlier) {
      clearTimeout(earlier.timer);
      this.#stop(earlier.instance.id);
    }
    const timer = setTimeout(() => {
      if (this.#held.get(key)?.instance.id !== instance.id) return;
      this.#held.delete(key);
      this.#stop(instance.id);
    }, ms);
    timer.unref();
    this.#held.set(key, { instance, timer });
  }

  /** Stops an instance no route points at, in the background (once `after` settled, when given). */
  #stop(id: string, after?: Promise<void>): void {
    this.#stopping.add(id);
    void Promise.resolve(after)
      .catch(() => {})
      .then(() => this.#deps.runtime.stop(id, { graceMs: 2000 }))
      .catch(() => {})
      .finally(() => {
        this.#stopping.delete(id);
        this.#release(id);
      });
  }

  /** Releases what instance `id` was given (its egress listener…), once. */
  #release(id: string): void {
    const release = this.#releases.get(id);
    this.#releases.delete(id);
    release?.().catch((err) => this.#deps.log.warn('preview cleanup failed', { instance: id, err }));
  }

  /** Bundles, starts and tests an instance of `ref`; stops it again when that fails. */
  async #startAndTest(
    serverName: string,
    ref: string,
    tree: string,
    step: (at: DeployStep) => Promise<void>,
    preview?: number,
  ): Promise<{ instance: Instance; report: string }> {
    const { git, runtime, bundles } = this.#deps;
    const text = await git.readFile(serverName, ref, 'mcp.json');
    if (text === null) throw new PreviewError('mcp.json is missing: there is nothing to preview');
    const manifest = parseManifest(text);
    await step('recorded');
    const bundle = await bundles.ensure(tree, (dir) => git.checkout(serverName, ref, dir));
    await step('bundled');
    const setup = await this.#deps.provision?.(serverName, manifest, tree);
    const instance = await runtime
      .start({
        serverName,
        revision: ref,
        treeSha: tree,
        bundlePath: bundle.path,
        env: { BMMS_PREVIEW: '1', ...this.#deps.env?.(), ...setup?.env },
        ...(setup?.binds ? { binds: setup.binds } : {}),
        kind: 'preview',
        ...(preview ? { preview } : {}),
        limits: { memoryMb: manifest.limits.memoryMb, cpu: manifest.limits.cpu, timeoutMs: manifest.limits.timeoutMs },
      })
      .catch(async (err: unknown) => {
        await setup?.release().catch(() => {});
        throw err;
      });
    if (setup) this.#releases.set(instance.id, setup.release);
    this.#starting.add(instance.id);
    try {
      await step('started');
      const report = await this.#test(instance.socketPath, manifest, this.#deps.probeHeaders?.(serverName) ?? {});
      await step('probed');
      return { instance, report: report.join('; ') };
    } catch (err) {
      await runtime.stop(instance.id, { graceMs: 500 }).catch(() => {});
      this.#release(instance.id);
      throw err;
    } finally {
      this.#starting.delete(instance.id);
    }
  }

  async #test(socketPath: string, manifest: Manifest, headers: Record<string, string>): Promise<string[]> {
    if (this.#deps.test) return this.#deps.test(socketPath, manifest, headers);
    const probed = await probeInstance(socketPath, manifest, { headers });
    return [
      `initialize answered (protocol ${probed.protocolVersion})`,
      `tools/list = mcp.json (${probed.tools.length} tools)`,
    ];
  }

  #route(target: string, ref: string, tree: string, instance: Instance): void {
    if (this.#deps.routes.get(target)?.instanceId === instance.id) return;
    this.#deps.routes.set(target, {
      instanceId: instance.id,
      revision: ref,
      treeSha: tree,
      socketPath: instance.socketPath,
    });
  }

  async #settle(target: string, patch: ConditionPatch): Promise<void> {
    const { db } = this.#deps;
    const row = await db.previewTarget.findUnique({ where: { target }, select: { conditions: true } });
    if (!row) return;
    const conditions = applyConditions(readConditions(row.conditions), patch);
    await db.previewTarget.updateMany({
      where: { target },
      data: { conditions: toJson(conditions), updatedAt: new Date() },
    });
    for (const wake of this.#waiters.get(target) ?? []) wake();
  }

  /** Stops the previews of `server` that no route points at any more (nobody waits: they are unrouted). */
  #stopUnneeded(server: string): void {
    const routed = new Set(
      this.#deps.routes
        .servers()
        .filter((n) => parsePreviewName(n)?.server === server)
        .map((n) => this.#deps.routes.get(n)?.instanceId),
    );
    for (const [key, preview] of this.#running) {
      if (!key.startsWith(`${server}\0`) || routed.has(preview.instance.id)) continue;
      this.#running.delete(key);
      this.#stop(preview.instance.id, this.#deps.productionReconcile?.(server));
    }
  }

  /** Forgets every running preview (the reconciler stops all instances itself). */
  clear(): void {
    this.#running.clear();
    for (const held of this.#held.values()) clearTimeout(held.timer);
    this.#held.clear();
  }

  async #serialized<T>(server: string, task: () => Promise<T>): Promise<T> {
    const previous = this.#locks.get(server) ?? Promise.resolve();
    const run = previous.catch(() => {}).then(task);
    this.#locks.set(server, run);
    try {
      return await run;
    } finally {
      if (this.#locks.get(server) === run) this.#locks.delete(server);
    }
  }
}

/** A preview that cannot be deployed for a reason the user can fix in the change (reported as is). */
class PreviewError extends Error {}

/** Serving, with what was checked. */
function ready(report: string): ConditionPatch {
  return {
    Ready: { status: true, reason: 'Serving', message: report },
    Progressing: { status: false, reason: 'Serving', message: 'up to date with the change' },
  };
}

/** Not Ready, with what the user reads as the check's summary. */
function failed(err: unknown): ConditionPatch {
  const message = err instanceof Error ? err.message : String(err);
  const sandbox = err instanceof SandboxUnavailableError;
  const why = sandbox
    ? `no preview: ${message}`
    : err instanceof PreviewError
      ? message
      : `the preview did not pass its smoke test: ${message}`;
  return {
    Ready: { status: false, reason: sandbox ? 'SandboxUnavailable' : 'PreviewFailed', message: why.slice(0, 4000) },
    Progressing: { status: false, reason: 'PreviewFailed', message: 'gave up: push a new commit to try again' },
  };
}

function toJson(conditions: Condition[]): Prisma.InputJsonValue {
  return conditions as unknown as Prisma.InputJsonValue;
}
