import { randomUUID } from 'node:crypto';
import type { GitProvider } from '@bmms/gitserver';
import type { Deployment, Prisma, PrismaClient, Server } from '@bmms/prisma';
import { type Manifest, parseManifest } from '@bmms/runner-template';
import { type Span, SpanStatusCode, trace } from '@opentelemetry/api';
import type { BundleCache } from './bundle.ts';
import { applyConditions, type ConditionPatch, readConditions } from './conditions.ts';
import type { DeployEvent, DeployStep, ReconcilerLog } from './deploy-steps.ts';
import { SandboxUnavailableError } from './errors.ts';
import type { ServerFiles } from './files.ts';
import { type PreviewOutcome, type PreviewProvision, PreviewTargets, type PreviewTest } from './previews.ts';
import { probeInstance } from './probe.ts';
import type { RouteTable, RouteTarget } from './routes.ts';
import type { Instance, Runtime } from './runtimes/types.ts';
import { ReconcilerStateStore } from './state.ts';
import { isPreviewTarget } from './targets.ts';

/** How long a deletion waits for an instance of the server that is starting or exiting (a start's own bound). */
const SETTLE_MS = 60_000;

/** What the checks say about a revision: deploy only on `success`. */
export type GateVerdict = 'success' | 'failure' | 'pending';

/** The checks, as the reconciler sees them: a verdict per tree, starting a check suite when none exists. */
export interface RevisionGate {
  verdict(server: { id: string; name: string }, commitSha: string, treeSha: string): Promise<GateVerdict>;
  /** The checks of a tree that did not pass (the server's conditions name them). */
  failures?(server: { id: string; name: string }, treeSha: string): Promise<string[]>;
}

/** What an instance gets besides its bundle: environment (secrets, egress socket), binds, cleanup. */
export interface InstanceSetup {
  /** Extra environment. Never logged. */
  env: Record<string, string>;
  /** Host folders to bind into the sandbox. */
  binds?: { host: string; sandbox: string }[];
  /** Called once the instance is gone (or never started). */
  release(): Promise<void>;
}

/** Prepares what production instances of a server get; `fingerprint` changes when that changes. */
export interface InstanceProvisioner {
  /** A stable digest of what setup() would give now (e.g. secret names and versions): a change rolls the server. */
  fingerprint(server: { id: string; name: string }, manifest: Manifest): Promise<string>;
  setup(server: { id: string; name: string }, manifest: Manifest, instanceId: string): Promise<InstanceSetup>;
}

export interface ReconcilerDeps {
  db: PrismaClient;
  git: GitProvider;
  runtime: Runtime;
  bundles: BundleCache;
  routes: RouteTable;
  gate: RevisionGate;
  log: ReconcilerLog;
  /** Periodic resync of every server (level-triggered safety net). */
  resyncMs: number;
  /** How long the old instance may finish in-flight calls after the route switched. */
  drainMs?: number;
  /** Failed attempts of one revision before the server is Stalled on it. */
  maxAttempts?: number;
  /** First retry delay; doubles up to 5 minutes. */
  retryBaseMs?: number;
  /** How long a superseded instance stays warm for a rollback to its tree (0 stops it at once). */
  standbyMs?: number;
  /** Secrets, egress and the like for production instances; none when absent. */
  provisioner?: InstanceProvisioner;
  /** Headers the deploy probe sends to a server's instance (the gateway's internal credential). */
  probeHeaders?: (server: string) => Record<string, string>;
  /** Servers with no call for this long are stopped and started again by their next call (0: never). */
  idleMs?: number;
  /** Unexpected exits of one revision within `crashLoopWindowMs` that make it a crash loop (default 3 in 5 min). */
  crashLoopThreshold?: number;
  crashLoopWindowMs?: number;
  /** Called as a deploy passes each step (fault-injection tests kill the process here). */
  onStep?: (step: DeployStep, server: string) => void | Promise<void>;
  /** What preview instances get (environment) and must pass besides the probe before they are routed. */
  previews?: { env?: () => Record<string, string>; test?: PreviewTest; provision?: PreviewProvision };
  /** Hears each deploy event (started, serving, failed, crashed, rolled back, scaled to zero, woken); must not throw. */
  onEvent?: (event: DeployEvent) => void;
  /** The data dir's per-server files (instance folders, compile caches, bundles), removed with a server. */
  files?: ServerFiles;
  /**
   * While this reconciler does not run (another platform process leads): how to pass a wake-up to the one that does,
   * and to ask it to start a target scaled to zero for a call (true when it is asleep and asked). Without it, a
   * wake-up of a stopped reconciler is dropped.
   */
  elsewhere?: { wake(target: string): void; wakeForCall(target: string): Promise<boolean> };
}

type FailureStage = 'BundleFailed' | 'StartFailed' | 'ProbeFailed' | 'ManifestInvalid' | 'SandboxUnavailable';

/** What one deploy is asked to do: run `head` (tree `tree`) of `server` with the settings of `fingerprint`. */
interface DeployAttempt {
  server: { id: string; name: string };
  head: string;
  tree: string;
  manifestText: string;
  fingerprint: string;
  reason: 'Deploying' | 'RollingUpdate' | 'ConfigChanged';
  /** The conditions once it serves (a pinned rollback reads differently from an up-to-date server). */
  servingPatch: ConditionPatch;
}

/** A deploy under way: the steps fill it in as they pass. */
interface DeployRun extends DeployAttempt {
  t0: number;
  /** The history entry, written while the instance starts. */
  recorded: Promise<Deployment>;
  /** What a failure now is called. */
  stage: FailureStage;
  instance?: Instance;
  /** The deploy's trace span (a no-op one unless the platform traces); each step is an event of it. */
  span: Span;
}

const short = (sha: string | null | undefined) => (sha ? sha.slice(0, 7) : 'none');

/**
 * The control loop: for each server, makes the running instance equal main's HEAD once that
 * revision's checks passed. Level-triggered (wake-ups plus a periodic resync), idempotent, one
 * reconcile at a time per server. Failures keep the old instance serving and retry with backoff.
 */
export class Reconciler {
  readonly #deps: ReconcilerDeps;
  readonly #dirty = new Set<string>();
  readonly #running = new Map<string, Promise<void>>();
  /** Backoff, crash history, pins and sleeping servers: in the database, so a restart or a new leader continues. */
  readonly #state: ReconcilerStateStore;
  /** The preview targets: deployed, routed and removed through the same loop as production. */
  readonly #previews: PreviewTargets;
  readonly #retryTimers = new Map<string, NodeJS.Timeout>();
  readonly #standby = new Map<string, { instance: Instance; fingerprint: string; timer: NodeJS.Timeout }>();
  readonly #releases = new Map<string, () => Promise<void>>();
  #resyncTimer: NodeJS.Timeout | undefined;
  #idleTimer: NodeJS.Timeout | undefined;
  #stopped = true;
  #unsubscribeExit: (() => void) | undefined;

  constructor(deps: ReconcilerDeps) {
    this.#deps = deps;
    this.#state = new ReconcilerStateStore(deps.db);
    this.#previews = new PreviewTargets({
      db: deps.db,
      git: deps.git,
      runtime: deps.runtime,
      bundles: deps.bundles,
      routes: deps.routes,
      log: deps.log,
      ...deps.previews,
      ...(deps.probeHeaders ? { probeHeaders: deps.probeHeaders } : {}),
      ...(deps.onStep ? { onStep: deps.onStep } : {}),
      ...(deps.onEvent ? { onEvent: deps.onEvent } : {}),
      productionReconcile: (server) => this.#running.get(server),
    });
  }

  /** Tells the event listener (the server's log) what happened; a listener that throws is only logged. */
  #event(event: DeployEvent): void {
    try {
      this.#deps.onEvent?.(event);
    } catch (err) {
      this.#deps.log.warn('deploy event listener failed', { server: event.server, err });
    }
  }

  /** Whether this process runs the loop (with several platform processes: whether it leads). */
  get running(): boolean {
    return !this.#stopped;
  }

  /** Cleans up instances a previous process left behind, then starts the loop and resyncs every server. */
  async start(): Promise<void> {
    this.#stopped = false;
    await this.#state.load();
    const orphans = await this.#deps.runtime.cleanupOrphans();
    if (orphans > 0) this.#deps.log.info('stopped instances left by a previous run', { count: orphans });
    await this.#closeHistoryOfPreviousRun();
    this.#unsubscribeExit = this.#onExit();
    await this.#markNotServing();
    await this.resync();
    this.#resyncTimer = setInterval(() => void this.resync(), this.#deps.resyncMs);
    this.#resyncTimer.unref();
    const idleMs = this.#deps.idleMs ?? 0;
    if (idleMs > 0) {
      this.#idleTimer = setInterval(() => void this.#sweepIdle(idleMs), Math.min(Math.max(idleMs / 4, 50), 30_000));
      this.#idleTimer.unref();
    }
  }

  /** Stops the loop, waits for reconciles under way, and stops every instance gracefully. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#resyncTimer);
    clearInterval(this.#idleTimer);
    for (const t of this.#retryTimers.values()) clearTimeout(t);
    this.#retryTimers.clear();
    for (const s of this.#standby.values()) clearTimeout(s.timer);
    this.#standby.clear();
    await Promise.allSettled([...this.#running.values()]);
    await this.#state.flushed();
    this.#previews.clear();
    const instances = this.#deps.runtime.list();
    for (const name of this.#deps.routes.servers()) this.#deps.routes.remove(name);
    await Promise.allSettled(instances.map((i) => this.#deps.runtime.stop(i.id, { graceMs: 5000 })));
    this.#unsubscribeExit?.();
  }

  /** Deploys a previous process left half-done, or serving, are history now: their instances are gone. */
  async #closeHistoryOfPreviousRun(): Promise<void> {
    const { db, runtime } = this.#deps;
    const live = runtime.list().map((i) => i.id);
    const now = new Date();
    await db.deployment.updateMany({
      where: { state: 'progressing' },
      data: {
        state: 'failed',
        reason: 'Interrupted',
        message: 'the platform stopped during this deploy; it was retried at the next start',
        finishedAt: now,
      },
    });
    await db.deployment.updateMany({
      where: { state: 'succeeded', NOT: { instanceId: { in: live } } },
      data: { state: 'superseded', reason: 'Restarted', message: 'the platform restarted', finishedAt: now },
    });
  }

  /** At start nothing of ours runs yet: a server stored as Ready is not, until its instance is back. */
  async #markNotServing(): Promise<void> {
    const servers = await this.#deps.db.server.findMany({ select: { id: true, name: true, conditions: true } });
    for (const s of servers) {
      // A server scaled to zero stays Ready: its next call starts it, as before the restart.
      if (!isReady(s.conditions) || this.#deps.routes.get(s.name) || this.isSleeping(s.name)) continue;
      await this.#status(s.id, undefined, {
        Ready: { status: false, reason: 'Restarting', message: 'the platform restarted; starting the instance again' },
        Progressing: { status: true, reason: 'Restarting', message: 'starting the instance again' },
      });
    }
  }

  /** Marks every server for reconciliation. */
  async resync(): Promise<void> {
    if (this.#stopped) return;
    try {
      const servers = await this.#deps.db.server.findMany({ select: { name: true } });
      for (const s of servers) this.wake(s.name);
      // Routes of deleted servers and previews of closed changes are retired; stored previews come back.
      for (const name of this.#deps.routes.servers()) this.wake(name);
      for (const name of await this.#previews.names()) this.wake(name);
    } catch (err) {
      this.#deps.log.error('resync failed', { err });
    }
  }

  /** Asks for `server` to be reconciled soon (merge, push, revert, check completed, instance exit). */
  wake(server: string): void {
    if (this.#stopped) {
      this.#deps.elsewhere?.wake(server);
      return;
    }
    this.#dirty.add(server);
    if (this.#running.has(server)) return;
    const run = (async () => {
      while (this.#dirty.has(server) && !this.#stopped) {
        this.#dirty.delete(server);
        try {
          await this.reconcile(server);
        } catch (err) {
          this.#deps.log.error('reconcile failed', { server, err });
        }
      }
    })().finally(() => this.#running.delete(server));
    this.#running.set(server, run);
  }

  /** Resolves once no reconcile is running or queued (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.#running.size > 0) await Promise.allSettled([...this.#running.values()]);
  }

  /** Targets waiting to be reconciled, and targets being reconciled now (for the platform's /metrics). */
  get queue(): { waiting: number; running: number } {
    return { waiting: this.#dirty.size, running: this.#running.size };
  }

  /** Whether `server` is scaled to zero (its next call must wake it). */
  isSleeping(server: string): boolean {
    return this.#state.get(server).sleeping !== undefined;
  }

  /**
   * A call arrived for `server` and found no route: when it is scaled to zero, start it again (through the leading
   * process when this one does not lead) and resolve true, so the call waits for its route; false otherwise.
   */
  async wakeForCall(server: string): Promise<boolean> {
    if (this.#stopped) return (await this.#deps.elsewhere?.wakeForCall(server)) ?? false;
    if (!this.isSleeping(server)) return false;
    this.#state
      .update(server, { sleeping: undefined })
      .catch((err) => this.#deps.log.warn('could not record a wake-up', { server, err }));
    this.#deps.log.info('waking an idle server', { server });
    this.#event({ server, revision: null, level: 'info', reason: 'Waking', message: 'a call arrived: starting again' });
    this.wake(server);
    return true;
  }

  /** Stops the instances of servers that had no call for `idleMs` (previews are not touched). */
  async #sweepIdle(idleMs: number): Promise<void> {
    const { routes, db } = this.#deps;
    for (const name of routes.servers()) {
      if (isPreviewTarget(name) || this.#stopped || this.#running.has(name)) continue;
      const idle = routes.idleFor(name);
      if (idle === undefined || idle < idleMs) continue;
      const target = routes.remove(name);
      if (!target) continue;
      try {
        const server = await db.server.findUnique({ where: { name } });
        if (!server) continue;
        await this.#state.update(name, { sleeping: target.revision }, server.id);
        const minutes = Math.round(idle / 60_000);
        const message = `no call for ${minutes >= 1 ? `${minutes} min` : `${Math.round(idle / 1000)} s`}: the instance was stopped; the next call starts it`;
        await this.#retireInstance(server.id, target, 'scaled to zero', false);
        await db.deployment.create({
          data: {
            serverId: server.id,
            revision: target.revision,
            treeSha: target.treeSha,
            state: 'superseded',
            reason: 'ScaledToZero',
            message,
            finishedAt: new Date(),
          },
        });
        this.#event({ server: name, revision: target.revision, level: 'info', reason: 'ScaledToZero', message });
        await this.#status(server.id, undefined, {
          Ready: { status: true, reason: 'ScaledToZero', message },
          Progressing: { status: false, reason: 'ScaledToZero', message: 'idle' },
        });
      } catch (err) {
        this.#deps.log.error('scale to zero failed', { server: name, err });
      }
    }
  }

  /** Clears the backoff of `server` so its current revision is attempted again now. */
  retry(server: string): void {
    void this.#state
      .update(server, { failure: undefined })
      .catch((err) => this.#deps.log.warn('could not clear a backoff', { server, err }))
      .finally(() => this.wake(server));
  }

  /**
   * main moved (merge, revert, push): records it as the server's desired revision and reconciles. The
   * reconciler is the only writer of deployment state; its gate checks a tree no check has seen first.
   */
  async mainMoved(server: { id: string; name: string }, sha: string): Promise<void> {
    await this.#deps.db.server.update({ where: { id: server.id }, data: { desiredRevision: sha } });
    this.wake(server.name);
  }

  /** Asks for change `number`'s preview at `ref`; returns the target's name (its route). */
  async requestPreview(server: { id: string; name: string }, number: number, ref: string): Promise<string> {
    const target = await this.#previews.request(server, number, ref);
    this.wake(target);
    return target;
  }

  /** The settled outcome of preview `target` at `ref`, or undefined while the reconciler works on it. */
  previewOutcome(target: string, ref: string): Promise<PreviewOutcome | undefined> {
    return this.#previews.outcome(target, ref);
  }

  /** Waits until preview `target` at `ref` settled (undefined when `signal` aborted first). */
  previewSettled(target: string, ref: string, signal?: AbortSignal): Promise<PreviewOutcome | undefined> {
    return this.#previews.settled(target, ref, signal);
  }

  /**
   * A preview of `ref` that no open change asked for (main's own suite): started, tested, and stopped — at once, or
   * after `holdMs` or `releaseTrial`, whichever comes first, so the checks that call a preview can call it.
   */
  trialPreview(server: string, ref: string, holdMs = 0): Promise<PreviewOutcome> {
    return this.#previews.trial(server, ref, holdMs);
  }

  /** The socket of the trial preview of `tree` kept for the checks, while it runs. */
  trialEndpoint(server: string, tree: string): string | undefined {
    return this.#previews.heldTrial(server, tree);
  }

  /** Stops the trial preview of `tree` kept for the checks (their suite completed). */
  releaseTrial(server: string, tree: string): void {
    this.#previews.releaseTrial(server, tree);
  }

  /** Changes of `server` closed, merged or moved: their previews are brought in line (removed, re-pointed). */
  async previewsChanged(server: string): Promise<void> {
    const names = await this.#previews.namesOf(server);
    for (const name of names) this.wake(name);
    await Promise.allSettled(names.map((name) => this.#running.get(name)));
  }

  /**
   * `server` was deleted (its row is gone): its previews and instances are stopped and its routes removed (when this
   * process leads), then its files go: instance folders, compile caches of `trees`, and the bundles of `bundles`.
   * `previews` are its preview targets, read before its rows went. Resolves once all of it is done.
   */
  async removed(server: string, opts: { previews: string[]; trees: string[]; bundles: string[] }): Promise<void> {
    if (!this.#stopped) {
      const previews = [...new Set([...opts.previews, ...(await this.#previews.namesOf(server))])];
      for (const name of previews) this.wake(name);
      await Promise.allSettled(previews.map((name) => this.#running.get(name)));
      this.wake(server);
      await this.#running.get(server)?.catch(() => {});
      // Whatever started meanwhile (a check's trial preview) goes too, also one still starting: once the starts and
      // exits in flight have ended, what they left running is stopped, so that no instance writes into the folders
      // removed below.
      await this.#retire(server);
      await this.#deps.runtime.settled(server, SETTLE_MS);
      await this.#retire(server);
      await this.#deps.runtime.settled(server, SETTLE_MS);
    }
    await this.#deps.files?.purge(server, opts.trees, opts.bundles);
  }

  /** Whether `instanceId` runs a preview (not a production instance). */
  isPreviewInstance(instanceId: string): boolean {
    return this.#previews.isPreviewInstance(instanceId);
  }

  /** One level-triggered pass for one target (a server's production instance, or a preview). */
  async reconcile(name: string): Promise<void> {
    if (isPreviewTarget(name)) return this.#previews.reconcile(name);
    const { db, git, routes, runtime } = this.#deps;
    const server = await db.server.findUnique({ where: { name } });
    if (!server) {
      await this.#retire(name);
      return;
    }
    const current = routes.get(name);
    let head: string | null;
    try {
      head = await git.resolveRef(name, 'main');
    } catch (err) {
      // The repository cannot be read (GitHub refuses the connection, the repository is gone): what runs keeps
      // running, the conditions say why nothing new can be deployed, and the next resync tries again.
      await this.#repositoryUnreachable(server, current, err);
      return;
    }
    if (!head) {
      await this.#status(server.id, null, {
        Ready: { status: false, reason: 'NoRevision', message: 'main has no commits yet' },
      });
      return;
    }
    if (server.desiredRevision !== head) {
      await db.server.update({ where: { id: server.id }, data: { desiredRevision: head } });
    }
    const { target, servingPatch } = await this.#revisionToRun(server, head);
    const manifestText = await git.readFile(name, target, 'mcp.json');
    if (manifestText === null) return this.#stopWithoutManifest(server, head, current);
    if (await this.#staysAsleep(server, target, current)) return;
    const alive = current && runtime.list().some((i) => i.id === current.instanceId);
    const fingerprint = await this.#fingerprint(server, manifestText, current?.fingerprint);
    if (current && alive && current.revision === target && (current.fingerprint ?? '') === fingerprint) {
      await this.#keepServing(server, target, servingPatch);
      return;
    }
    const tree = await git.treeOf(name, target);
    if (!(await this.#checksPassed(server, head, target, tree, current))) return;
    if (this.#mustWait(name, current, `${target}:${fingerprint}`)) return;
    const reason = current && current.revision === target ? 'ConfigChanged' : current ? 'RollingUpdate' : 'Deploying';
    await this.#deploy({ server, head: target, tree, manifestText, fingerprint, reason, servingPatch });
  }

  async #repositoryUnreachable(server: Server, current: RouteTarget | undefined, err: unknown): Promise<void> {
    const why = err instanceof Error ? err.message : String(err);
    this.#deps.log.warn('the repository cannot be read', { server: server.name, err });
    await this.#status(server.id, undefined, {
      Degraded: {
        status: true,
        reason: 'RepositoryUnreachable',
        message: `main cannot be read: ${why}${current ? `; still serving ${short(current.revision)}` : ''}`,
      },
    });
  }

  /** main's head, or the last healthy revision while a crash-looping head is pinned back (until main moves on). */
  async #revisionToRun(
    server: { id: string; name: string },
    head: string,
  ): Promise<{ target: string; servingPatch: ConditionPatch }> {
    const { name } = server;
    // A revision that crash-looped is pinned back to the last healthy one until main moves on.
    const pin = this.#state.get(name).pin;
    if (pin && pin.bad !== head) await this.#state.update(name, { pin: undefined }, server.id);
    const pinned = this.#state.get(name).pin;
    return {
      target: pinned?.revision ?? head,
      servingPatch: pinned ? rolledBack(pinned.revision, head) : serving(head),
    };
  }

  /** main without a manifest (never deployed, or reverted to before change #1): nothing may run. */
  async #stopWithoutManifest(
    server: { id: string; name: string },
    head: string,
    current: RouteTarget | undefined,
  ): Promise<void> {
    if (current) {
      this.#deps.routes.remove(server.name, current.instanceId);
      await this.#retireInstance(server.id, current, `main ${short(head)} has no mcp.json`);
    }
    await this.#status(server.id, null, {
      Ready: {
        status: false,
        reason: 'NoManifest',
        message: current
          ? `main ${short(head)} has no mcp.json: the server was stopped`
          : 'main has no mcp.json yet: merge change #1 to deploy the server',
      },
      Progressing: { status: false, reason: 'NoManifest', message: 'nothing to deploy' },
    });
  }

  /** Whether a server scaled to zero sleeps on: a call wakes it; a new revision on main is deployed (and idles again). */
  async #staysAsleep(
    server: { id: string; name: string },
    target: string,
    current: RouteTarget | undefined,
  ): Promise<boolean> {
    const sleeping = this.#state.get(server.name).sleeping;
    if (sleeping === undefined || current) return false;
    if (sleeping === target) return true;
    await this.#state.update(server.name, { sleeping: undefined }, server.id);
    return false;
  }

  /** The instance already runs `target` with today's settings: clears a backoff, and the status says it serves. */
  async #keepServing(server: Server, target: string, servingPatch: ConditionPatch): Promise<void> {
    if (this.#state.get(server.name).failure) await this.#state.update(server.name, { failure: undefined }, server.id);
    if (server.observedRevision !== target || !isReady(server.conditions) || unreachable(server.conditions)) {
      await this.#status(server.id, target, servingPatch);
    }
  }

  /** Whether `target`'s checks passed; while they run, or once they failed, the status says so and nothing deploys. */
  async #checksPassed(
    server: { id: string; name: string },
    head: string,
    target: string,
    tree: string,
    current: RouteTarget | undefined,
  ): Promise<boolean> {
    const verdict = await this.#deps.gate.verdict(server, target, tree);
    if (verdict === 'pending') {
      await this.#status(server.id, undefined, {
        Progressing: { status: true, reason: 'CheckingRevision', message: `checks are running on ${short(head)}` },
        Ready: current
          ? {
              status: false,
              reason: 'CheckingRevision',
              message: `serving ${short(current.revision)}; ${short(head)} is being checked`,
            }
          : { status: false, reason: 'CheckingRevision', message: `${short(head)} is being checked` },
      });
      return false;
    }
    if (verdict === 'failure') {
      const failed = (await this.#deps.gate.failures?.(server, tree).catch(() => [])) ?? [];
      const which = failed.length > 0 ? ` (${failed.join(', ')})` : '';
      await this.#status(server.id, undefined, {
        Stalled: {
          status: true,
          reason: 'ChecksFailed',
          message: `checks failed on ${short(head)}${which}: it will not be deployed; fix or revert it on main`,
        },
        Progressing: { status: false, reason: 'ChecksFailed', message: `${short(head)} failed its checks` },
        Ready: current
          ? { status: false, reason: 'ChecksFailed', message: `still serving ${short(current.revision)}` }
          : { status: false, reason: 'ChecksFailed', message: 'no revision of this server passed its checks yet' },
      });
      return false;
    }
    return true;
  }

  /**
   * Whether `attempt` (revision and settings) must not start now: a crashed server's restart delay or a failed
   * attempt's backoff runs (a retry is scheduled), or it failed too often (Stalled until something changes).
   */
  #mustWait(name: string, current: RouteTarget | undefined, attempt: string): boolean {
    const restartAt = this.#state.get(name).restartAt ?? 0;
    if (!current && restartAt > Date.now()) {
      this.#scheduleRetry(name, restartAt - Date.now());
      return true;
    }
    const failure = this.#state.get(name).failure;
    if (failure && failure.attempt === attempt) {
      if (failure.attempts >= (this.#deps.maxAttempts ?? 5)) return true;
      const wait = failure.nextAt - Date.now();
      if (wait > 0) {
        this.#scheduleRetry(name, wait);
        return true;
      }
    }
    return false;
  }

  /**
   * The provisioner's fingerprint for this manifest ('' without a provisioner or a valid manifest). When
   * it cannot be read (a passing database error) the running one is kept: an error is no config change.
   */
  async #fingerprint(
    server: { id: string; name: string },
    manifestText: string,
    running: string | undefined,
  ): Promise<string> {
    const provisioner = this.#deps.provisioner;
    if (!provisioner) return '';
    let manifest: Manifest;
    try {
      manifest = parseManifest(manifestText);
    } catch {
      return '';
    }
    try {
      return await provisioner.fingerprint(server, manifest);
    } catch (err) {
      this.#deps.log.warn('could not read the instance settings; keeping the running ones', {
        server: server.name,
        err,
      });
      return running ?? '';
    }
  }

  /**
   * One deploy of `attempt.head`: record it, bring an instance up (a warm one of the same tree, else bundle,
   * start and probe a new one), switch the route, record it serving, drain the one it replaced. A failure at
   * any step keeps the old instance serving and schedules a retry.
   */
  async #deploy(attempt: DeployAttempt): Promise<void> {
    const span = trace.getTracer('@bmms/reconciler').startSpan('deploy', {
      attributes: {
        'bmms.server': attempt.server.name,
        'bmms.revision': attempt.head,
        'bmms.tree': attempt.tree,
        'bmms.deploy.reason': attempt.reason,
      },
    });
    const run: DeployRun = {
      ...attempt,
      t0: performance.now(),
      stage: 'ManifestInvalid',
      recorded: this.#record(attempt),
      span,
    };
    try {
      const { instance, how } = await this.#bringUp(run, parseManifest(attempt.manifestText));
      await this.#step('probed', run);
      const previous = await this.#switchRoute(run, instance);
      await this.#recordServing(run, instance, how);
      if (previous) {
        await this.#step('draining', run);
        await this.#retireInstance(attempt.server.id, previous, `replaced by ${short(attempt.head)}`);
      }
    } catch (err) {
      span.setAttribute('error.type', run.stage);
      span.setStatus({
        code: SpanStatusCode.ERROR,
        message: err instanceof Error ? err.message.slice(0, 300) : run.stage,
      });
      if (run.instance) await this.#deps.runtime.stop(run.instance.id, { graceMs: 1000 }).catch(() => {});
      await this.#recordFailure(run, err);
    } finally {
      span.end();
    }
  }

  /** Marks `step` passed on the deploy's span and tells the fault-injection hook. */
  async #step(step: DeployStep, run: DeployRun): Promise<void> {
    run.span.addEvent(step);
    await this.#deps.onStep?.(step, run.server.name);
  }

  /** Writes the history entry and Progressing while the instance starts: bookkeeping must not delay serving. */
  #record({ server, head, tree, reason }: DeployAttempt): Promise<Deployment> {
    const { db } = this.#deps;
    const message =
      reason === 'ConfigChanged' ? `restarting ${short(head)} with new settings` : `deploying ${short(head)}`;
    this.#event({ server: server.name, revision: head, level: 'info', reason, message });
    const recorded = (async () => {
      const row = await db.deployment.create({
        data: { serverId: server.id, revision: head, treeSha: tree, state: 'progressing', reason, message },
      });
      await db.server.update({ where: { id: server.id }, data: { lastAttemptedRevision: head } });
      await this.#status(server.id, undefined, {
        Progressing: { status: true, reason: 'Deploying', message: `deploying ${short(head)}` },
      });
      return row;
    })();
    recorded.catch(() => {});
    return recorded;
  }

  /** A probed instance of the attempt's tree (also kept in `run.instance`), and how it came up, for the history. */
  async #bringUp(run: DeployRun, manifest: Manifest): Promise<{ instance: Instance; how: string }> {
    const { name } = run.server;
    const headers = this.#deps.probeHeaders?.(name) ?? {};
    const warm = this.#takeStandby(name, run.tree, run.fingerprint);
    if (warm) {
      run.stage = 'ProbeFailed';
      run.instance = warm;
      await probeInstance(warm.socketPath, manifest, { headers });
      return { instance: warm, how: 'warm instance of the same tree' };
    }
    run.stage = 'BundleFailed';
    if (this.#deps.onStep) await run.recorded.then(() => this.#step('recorded', run));
    const bundle = await this.#deps.bundles.ensure(run.tree, (dir) => this.#deps.git.checkout(name, run.head, dir));
    await this.#step('bundled', run);
    run.stage = 'StartFailed';
    const instance = await this.#start(run, manifest, bundle.path);
    run.instance = instance;
    await this.#step('started', run);
    run.stage = 'ProbeFailed';
    await probeInstance(instance.socketPath, manifest, { headers });
    return { instance, how: bundle.cached ? 'cached bundle' : 'bundle built' };
  }

  /** Starts an instance of the bundle with what the provisioner gives it (released when the instance goes). */
  async #start(run: DeployRun, manifest: Manifest, bundlePath: string): Promise<Instance> {
    const { name } = run.server;
    const setup = await this.#deps.provisioner?.setup(run.server, manifest, `${name}-${randomUUID()}`);
    const instance = await this.#deps.runtime
      .start({
        serverName: name,
        revision: run.head,
        treeSha: run.tree,
        bundlePath,
        env: setup?.env ?? {},
        ...(setup?.binds ? { binds: setup.binds } : {}),
        limits: { memoryMb: manifest.limits.memoryMb, cpu: manifest.limits.cpu, timeoutMs: manifest.limits.timeoutMs },
      })
      .catch(async (err: unknown) => {
        await setup?.release().catch(() => {});
        throw err;
      });
    if (setup) this.#releases.set(instance.id, setup.release);
    return instance;
  }

  /** Points the server's route at the new instance; returns the target it replaced. */
  async #switchRoute(run: DeployRun, instance: Instance): Promise<RouteTarget | undefined> {
    const previous = this.#deps.routes.set(run.server.name, {
      instanceId: instance.id,
      revision: run.head,
      treeSha: run.tree,
      socketPath: instance.socketPath,
      fingerprint: run.fingerprint,
    });
    await this.#step('routed', run);
    return previous;
  }

  /** Clears the backoff, closes the history entry as serving and marks the server Ready. */
  async #recordServing(run: DeployRun, instance: Instance, how: string): Promise<void> {
    const { db, log } = this.#deps;
    const { server, head, reason } = run;
    const deployment = await run.recorded;
    const ms = Math.round(performance.now() - run.t0);
    const message =
      reason === 'ConfigChanged'
        ? `serving ${short(head)} with new settings (ConfigChanged: ${how}, ready in ${ms} ms)`
        : `serving ${short(head)} (${how}, ready in ${ms} ms)`;
    this.#event({ server: server.name, revision: head, level: 'info', reason: 'Serving', message });
    const { failure, restartAt } = this.#state.get(server.name);
    if (failure || restartAt) {
      await this.#state.update(server.name, { failure: undefined, restartAt: undefined }, server.id);
    }
    await Promise.all([
      db.deployment.update({
        where: { id: deployment.id },
        data: {
          instanceId: instance.id,
          state: 'succeeded',
          reason: 'Serving',
          message,
          finishedAt: new Date(),
        },
      }),
      this.#status(server.id, head, run.servingPatch),
    ]);
    log.info('deployed', { server: server.name, revision: head, instance: instance.id, ms, how });
    await this.#step('status', run);
  }

  /** Records a failed deploy (history, backoff, conditions) and schedules the retry unless it stalled. */
  async #recordFailure(run: DeployRun, err: unknown): Promise<void> {
    const { db, log } = this.#deps;
    const { server, head } = run;
    const message = err instanceof Error ? err.message : String(err);
    // Without a sandbox no retry can succeed: say so once, until the platform restarts with one.
    const stage: FailureStage = err instanceof SandboxUnavailableError ? 'SandboxUnavailable' : run.stage;
    const { attempts, delay } = await this.#backOff(run);
    const maxAttempts = this.#deps.maxAttempts ?? 5;
    const stalled = attempts >= maxAttempts || stage === 'SandboxUnavailable';
    this.#event({
      server: server.name,
      revision: head,
      level: stalled ? 'error' : 'warn',
      reason: stage,
      message: `deploy of ${short(head)} failed (attempt ${attempts} of ${maxAttempts}${stalled ? ', gave up' : ''}): ${message.slice(0, 2000)}`,
    });
    const deployment = await run.recorded.catch(() => undefined);
    if (deployment) {
      await db.deployment.update({
        where: { id: deployment.id },
        data: {
          instanceId: run.instance?.id ?? null,
          state: 'failed',
          reason: stage,
          message: message.slice(0, 4000),
          finishedAt: new Date(),
        },
      });
    }
    const still = this.#deps.routes.get(server.name);
    await this.#status(server.id, undefined, {
      Degraded: { status: true, reason: stage, message: `deploy of ${short(head)} failed: ${message.slice(0, 500)}` },
      Progressing: {
        status: !stalled,
        reason: stalled ? stage : 'RetryScheduled',
        message: stalled
          ? 'gave up'
          : `attempt ${attempts} of ${maxAttempts} failed; retrying in ${Math.round(delay / 1000)} s`,
      },
      Stalled: stalled
        ? {
            status: true,
            reason: stage,
            message:
              stage === 'SandboxUnavailable'
                ? message
                : `${short(head)} failed ${attempts} times; push a new revision, or retry (POST /api/v1/servers/${server.name}/retry)`,
          }
        : { status: false, reason: stage, message: 'retrying' },
      Ready: still
        ? { status: false, reason: stage, message: `still serving ${short(still.revision)}` }
        : { status: false, reason: stage, message: `nothing is serving: ${message.slice(0, 200)}` },
    });
    log.warn('deploy failed', { server: server.name, revision: head, stage, attempts, err });
    if (!stalled) this.#scheduleRetry(server.name, delay);
  }

  /** Counts one more failure of this revision and settings, and stores when the next attempt may start. */
  async #backOff(run: DeployRun): Promise<{ attempts: number; delay: number }> {
    const { server } = run;
    const prior = this.#state.get(server.name).failure;
    const attempt = `${run.head}:${run.fingerprint}`;
    const attempts = prior && prior.attempt === attempt ? prior.attempts + 1 : 1;
    const delay = Math.min((this.#deps.retryBaseMs ?? 5000) * 2 ** (attempts - 1), 300_000);
    await this.#state.update(server.name, { failure: { attempt, attempts, nextAt: Date.now() + delay } }, server.id);
    return { attempts, delay };
  }

  /**
   * Drains an instance that is no longer routed and closes its history entry. It then stays warm
   * (unrouted) for the rollback window, so a revert to its tree switches back without a cold start.
   */
  async #retireInstance(serverId: string, previous: RouteTarget, message: string, keepWarm = true): Promise<void> {
    const { routes, runtime, db } = this.#deps;
    await routes.drain(previous.instanceId, this.#deps.drainMs ?? 10_000);
    await db.deployment.updateMany({
      where: { serverId, instanceId: previous.instanceId, state: 'succeeded' },
      data: { state: 'superseded', reason: 'Superseded', message, finishedAt: new Date() },
    });
    const instance = runtime.list().find((i) => i.id === previous.instanceId);
    const standbyMs = this.#deps.standbyMs ?? 300_000;
    if (!instance || standbyMs <= 0 || this.#stopped || !keepWarm) {
      await runtime.stop(previous.instanceId, { graceMs: 5000 }).catch(() => {});
      return;
    }
    const server = instance.serverName;
    this.#dropStandby(server);
    const timer = setTimeout(() => this.#dropStandby(server), standbyMs);
    timer.unref();
    this.#standby.set(server, { instance, fingerprint: previous.fingerprint ?? '', timer });
  }

  /** Takes the warm instance of `server` if it runs `tree` with the same settings. */
  #takeStandby(server: string, tree: string, fingerprint: string): Instance | undefined {
    const standby = this.#standby.get(server);
    if (!standby) return undefined;
    const alive = this.#deps.runtime.list().some((i) => i.id === standby.instance.id);
    if (!alive || standby.instance.treeSha !== tree || standby.fingerprint !== fingerprint) return undefined;
    clearTimeout(standby.timer);
    this.#standby.delete(server);
    return standby.instance;
  }

  /** Stops the warm instance of `server`, if any. */
  #dropStandby(server: string): void {
    const standby = this.#standby.get(server);
    if (!standby) return;
    clearTimeout(standby.timer);
    this.#standby.delete(server);
    this.#deps.runtime.stop(standby.instance.id, { graceMs: 2000 }).catch(() => {});
  }

  /** Stops everything of a deleted server. */
  async #retire(name: string): Promise<void> {
    const { routes, runtime } = this.#deps;
    routes.remove(name);
    this.#dropStandby(name);
    await this.#state.forget(name);
    const mine = runtime.list().filter((i) => i.serverName === name);
    await Promise.allSettled(mine.map((i) => runtime.stop(i.id, { graceMs: 2000 })));
  }

  #onExit(): () => void {
    return this.#deps.runtime.onExit((instance, exit) => {
      // Whatever ended it, what the instance was given (egress socket…) goes with it.
      const release = this.#releases.get(instance.id);
      this.#releases.delete(instance.id);
      release?.().catch((err) => this.#deps.log.warn('instance cleanup failed', { instance: instance.id, err }));
      if (exit.expected || this.#stopped) return;
      const removed = this.#deps.routes.remove(instance.serverName, instance.id);
      if (!removed) return;
      void this.#recordExit(instance, removed.revision, exit)
        .then((delayMs) => {
          if (delayMs <= 0) return this.wake(instance.serverName);
          this.#scheduleRetry(instance.serverName, delayMs);
        })
        .catch(() => this.wake(instance.serverName));
    });
  }

  /**
   * Records an unexpected exit and decides when to start again: at once the first time, with a
   * doubling delay when the same revision keeps dying, and — past the crash-loop threshold — pinned
   * back to the last revision that served without dying (Git unchanged; the status says so).
   * Returns the delay before the next reconcile.
   */
  async #recordExit(
    instance: Instance,
    revision: string,
    exit: { code: number | null; signal: string | null; reason?: string },
  ): Promise<number> {
    const { db, log } = this.#deps;
    const how = exit.reason ?? (exit.signal ? `signal ${exit.signal}` : `exit code ${exit.code}`);
    const name = instance.serverName;
    const now = Date.now();
    const windowMs = this.#deps.crashLoopWindowMs ?? 300_000;
    const previous = this.#state.get(name).crashes;
    const times = (previous?.revision === revision ? previous.times : []).filter((t) => now - t < windowMs);
    times.push(now);
    log.warn('instance exited unexpectedly', { server: name, instance: instance.id, how, crashes: times.length });
    const server = await db.server.findUnique({ where: { name } });
    if (!server) return 0;
    await this.#state.update(name, { crashes: { revision, times } }, server.id);
    await db.deployment.updateMany({
      where: { serverId: server.id, instanceId: instance.id, state: 'succeeded' },
      data: { state: 'exited', reason: 'InstanceExited', message: `instance exited (${how})`, finishedAt: new Date() },
    });
    const threshold = this.#deps.crashLoopThreshold ?? 3;
    if (times.length >= threshold) {
      const healthy = await db.deployment.findFirst({
        where: { serverId: server.id, revision: { not: revision }, state: { in: ['succeeded', 'superseded'] } },
        orderBy: { startedAt: 'desc' },
      });
      if (healthy) {
        await this.#state.update(name, { pin: { revision: healthy.revision, bad: revision }, crashes: undefined });
        const message = `${short(revision)} exited ${times.length} times within ${Math.round(windowMs / 1000)} s (${how}): rolling back to ${short(healthy.revision)}; main is unchanged — push a fix or revert`;
        this.#event({ server: name, revision, level: 'error', reason: 'CrashLoopRollback', message });
        await db.deployment.create({
          data: {
            serverId: server.id,
            revision,
            treeSha: instance.treeSha,
            state: 'failed',
            reason: 'CrashLoopRollback',
            message,
            finishedAt: new Date(),
          },
        });
        await this.#status(server.id, undefined, {
          Degraded: { status: true, reason: 'CrashLoopRollback', message },
          Ready: { status: false, reason: 'CrashLoopRollback', message: `rolling back to ${short(healthy.revision)}` },
          Progressing: { status: true, reason: 'RollingBack', message: `starting ${short(healthy.revision)}` },
        });
        return 0;
      }
    }
    const delayMs = times.length <= 1 ? 0 : Math.min(1000 * 2 ** (times.length - 2), 60_000);
    // Stored before anything else happens: a resync, a restart or a new leader must not skip the backoff.
    if (delayMs > 0) await this.#state.update(name, { restartAt: now + delayMs });
    const message = `instance ${instance.id} exited unexpectedly (${how}); restarting ${short(revision)}${delayMs > 0 ? ` in ${Math.round(delayMs / 1000)} s (exit ${times.length} in a row)` : ''}`;
    this.#event({ server: name, revision, level: 'error', reason: 'InstanceCrashed', message });
    await db.deployment.create({
      data: {
        serverId: server.id,
        revision,
        treeSha: instance.treeSha,
        state: 'progressing',
        reason: 'InstanceCrashed',
        message,
        finishedAt: new Date(),
      },
    });
    await this.#status(server.id, undefined, {
      Ready: { status: false, reason: 'InstanceCrashed', message: `the instance exited (${how}); restarting` },
      Progressing: { status: true, reason: 'Restarting', message: `restarting ${short(revision)}` },
    });
    return delayMs;
  }

  #scheduleRetry(name: string, delayMs: number): void {
    clearTimeout(this.#retryTimers.get(name));
    const timer = setTimeout(() => {
      this.#retryTimers.delete(name);
      this.wake(name);
    }, delayMs);
    timer.unref();
    this.#retryTimers.set(name, timer);
  }

  /** Writes conditions (and observedRevision when given; null clears it) in one update. */
  async #status(serverId: string, observed: string | null | undefined, patch: ConditionPatch): Promise<void> {
    const { db } = this.#deps;
    const row = await db.server.findUnique({ where: { id: serverId }, select: { conditions: true } });
    if (!row) return;
    const conditions = applyConditions(readConditions(row.conditions), patch);
    const data: Prisma.ServerUpdateInput = { conditions: conditions as unknown as Prisma.InputJsonValue };
    if (observed !== undefined) data.observedRevision = observed;
    await db.server.update({ where: { id: serverId }, data });
  }
}

function serving(head: string): ConditionPatch {
  return {
    Ready: { status: true, reason: 'Serving', message: `serving ${short(head)}` },
    Progressing: { status: false, reason: 'Serving', message: 'up to date with main' },
    Degraded: { status: false, reason: 'Serving', message: 'healthy' },
    Stalled: { status: false, reason: 'Serving', message: 'healthy' },
  };
}

/** Serving an earlier revision because `bad` (main's head) crash-looped. */
function rolledBack(revision: string, bad: string): ConditionPatch {
  return {
    Ready: { status: true, reason: 'RolledBack', message: `serving ${short(revision)}: ${short(bad)} crash-looped` },
    Progressing: { status: false, reason: 'RolledBack', message: `waiting for a new revision on main` },
    Degraded: {
      status: true,
      reason: 'CrashLoopRollback',
      message: `${short(bad)} kept exiting; serving ${short(revision)} until main moves on (main is unchanged)`,
    },
    Stalled: { status: false, reason: 'RolledBack', message: 'serving an earlier revision' },
  };
}

/** Whether the conditions still say the repository could not be read (cleared once it can). */
function unreachable(conditions: unknown): boolean {
  return readConditions(conditions).some(
    (c) => c.type === 'Degraded' && c.status === 'True' && c.reason === 'RepositoryUnreachable',
  );
}

function isReady(conditions: unknown): boolean {
  return readConditions(conditions).some((c) => c.type === 'Ready' && c.status === 'True');
}
