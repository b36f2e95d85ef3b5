import type { InstanceRoute, PrismaClient } from '@bmms/prisma';
import { KeyedWrites, parsePreviewName, type Reconciler, type RouteTable, type RouteTarget } from '@bmms/reconciler';
import type { Invalidation, InvalidationBus } from '../invalidation.ts';
import type { Logger } from '../logger.ts';

/** A follower reads every route again this often (a notification may be lost); every second while it may miss some. */
const FULL_RELOAD_MS = 30_000;
/** How often a follower tells the leader which targets it called (the leader scales idle servers to zero). */
const ACTIVITY_MS = 5_000;
/** Targets per activity notification (a NOTIFY payload holds 8,000 bytes). */
const ACTIVITY_BATCH = 40;
/** A follower asks the leader to wake a target for calls at most this often. */
const WAKE_REPEAT_MS = 1000;

export interface RouteSharingDeps {
  db: PrismaClient;
  routes: RouteTable;
  invalidations: InvalidationBus;
  reconciler: () => Reconciler;
  log: Logger;
}

/**
 * Routes shared by the platform processes of one database, so a call to any of them reaches the instance the
 * reconciler's leader started. The leading process writes each change of its route table to `instance_routes` (in
 * order per target) and announces it (`route`); the others mirror those rows into their own tables: all of them when
 * they start following, one on each announcement, and all again every 30 s (every second while announcements may be
 * missed). Two requests travel the other way on the same channel: `wake` (a call for a server scaled to zero, or a
 * change that needs a reconcile, arrived at a follower) and `route_activity` (the targets a follower called lately,
 * so the leader does not count them idle).
 */
export class RouteSharing {
  readonly #deps: RouteSharingDeps;
  #mode: 'leading' | 'following' | 'closed' | 'idle' = 'idle';
  #unpublish: (() => void) | undefined;
  readonly #writes = new KeyedWrites();
  /** Mirror updates, one at a time, so an older read never lands after a newer one. */
  #mirror: Promise<void> = Promise.resolve();
  #lastFullReload = 0;
  #lastActivity = Date.now();
  /** When a follower last asked the leader to wake each target for a call. */
  readonly #askedToWake = new Map<string, number>();
  #timer: NodeJS.Timeout | undefined;
  readonly #unsubscribe: () => void;

  constructor(deps: RouteSharingDeps) {
    this.#deps = deps;
    this.#unsubscribe = deps.invalidations.subscribe((event) => this.#heard(event));
  }

  /**
   * This process's reconciler is about to start: it stops mirroring, forgets the mirrored routes and the rows a
   * previous leader left (their instances went with it; every server is deployed again), and publishes from now on.
   */
  async lead(): Promise<void> {
    if (this.#mode === 'closed') return;
    this.#mode = 'leading';
    clearInterval(this.#timer);
    await this.#mirror;
    const { routes, db, log } = this.#deps;
    for (const target of routes.servers()) routes.remove(target);
    // Rows left behind point at instances that went with their process; each is replaced as its target deploys.
    await db.instanceRoute
      .deleteMany({})
      .catch((err) => log.warn('could not forget the routes of the previous leader', { err }));
    this.#unpublish = routes.onChange((target, route) => this.#publish(target, route));
  }

  /** This process's reconciler stopped (or never led): from now on its routes are the leader's. */
  async follow(): Promise<void> {
    if (this.#mode === 'closed') return;
    this.#unpublish?.();
    this.#unpublish = undefined;
    await this.flushed();
    this.#mode = 'following';
    this.#lastActivity = Date.now();
    await this.#reloadAll();
    clearInterval(this.#timer);
    this.#timer = setInterval(() => this.#tick(), 1000);
    this.#timer.unref();
  }

  /**
   * A wake-up this process's stopped reconciler cannot act on, passed to the leader (only while following: a
   * process about to lead acts on its own once its reconciler runs).
   */
  wake(target: string): void {
    this.#ask(target, false);
  }

  /**
   * A call found no route for `target`: when the database says it is scaled to zero, ask the leader to start it and
   * resolve true (the call waits for the route the leader announces). Asked once per target and second, however many
   * calls arrive meanwhile.
   */
  async wakeForCall(target: string): Promise<boolean> {
    if (this.#mode !== 'following') return false;
    const asked = this.#askedToWake.get(target);
    if (asked !== undefined && Date.now() - asked < WAKE_REPEAT_MS) return true;
    const state = await this.#deps.db.reconcilerState.findUnique({
      where: { target },
      select: { sleepingRevision: true },
    });
    if (!state?.sleepingRevision) return false;
    if (this.#askedToWake.size >= 10_000) this.#askedToWake.clear();
    this.#askedToWake.set(target, Date.now());
    this.#ask(target, true);
    return true;
  }

  #ask(target: string, call: boolean): void {
    if (this.#mode !== 'following') return;
    this.#deps.invalidations
      .publish({ kind: 'wake', target, call })
      .catch((err) => this.#deps.log.warn('could not pass a wake-up to the leading process', { target, err }));
  }

  /** Resolves once every route change written so far reached the database. */
  async flushed(): Promise<void> {
    await this.#writes.flushed();
  }

  async close(): Promise<void> {
    this.#mode = 'closed';
    clearInterval(this.#timer);
    this.#unpublish?.();
    this.#unsubscribe();
    await this.flushed();
    await this.#mirror.catch(() => {});
  }

  /** Leader: the route of `target` changed; written in order per target, then announced. */
  #publish(target: string, route: RouteTarget | undefined): void {
    const { db, invalidations, log } = this.#deps;
    this.#writes
      .run(target, async () => {
        if (route) {
          const server = await db.server.findUnique({
            where: { name: parsePreviewName(target)?.server ?? target },
            select: { id: true },
          });
          if (!server) return;
          const row = {
            instanceId: route.instanceId,
            revision: route.revision,
            treeSha: route.treeSha,
            socketPath: route.socketPath,
            fingerprint: route.fingerprint ?? null,
            updatedAt: new Date(),
          };
          await db.instanceRoute.upsert({
            where: { target },
            create: { target, serverId: server.id, ...row },
            update: row,
          });
        } else {
          await db.instanceRoute.deleteMany({ where: { target } });
        }
        await invalidations.publish({ kind: 'route', target });
      })
      .catch((err) => log.warn('could not share a route with the other platform processes', { target, err }));
  }

  #heard(event: Invalidation): void {
    if (this.#mode === 'leading') {
      const reconciler = this.#deps.reconciler();
      if (event.kind === 'wake') {
        if (!event.call) reconciler.wake(event.target);
        else void reconciler.wakeForCall(event.target);
      } else if (event.kind === 'route_activity') {
        for (const target of event.targets) this.#deps.routes.touch(target);
      }
      return;
    }
    if (this.#mode !== 'following') return;
    if (event.kind === 'route') this.#queue(() => this.#reload(event.target));
    else if (event.kind === 'all') void this.#reloadAll();
  }

  /** Follower, every second: a full reload when due, and the targets called since the last report. */
  #tick(): void {
    if (this.#mode !== 'following') return;
    const now = Date.now();
    const due = Math.min(FULL_RELOAD_MS, this.#deps.invalidations.maxStaleMs());
    if (now - this.#lastFullReload >= due) void this.#reloadAll();
    if (now - this.#lastActivity < ACTIVITY_MS) return;
    const used = this.#deps.routes.usedSince(this.#lastActivity);
    this.#lastActivity = now;
    for (let i = 0; i < used.length; i += ACTIVITY_BATCH) {
      void this.#deps.invalidations.publish({ kind: 'route_activity', targets: used.slice(i, i + ACTIVITY_BATCH) });
    }
  }

  #queue(task: () => Promise<void>): Promise<void> {
    const run = this.#mirror.then(task).catch((err) => this.#deps.log.warn('could not read shared routes', { err }));
    this.#mirror = run;
    return run;
  }

  #reloadAll(): Promise<void> {
    this.#lastFullReload = Date.now();
    return this.#queue(async () => {
      const rows = await this.#deps.db.instanceRoute.findMany();
      if (this.#mode !== 'following') return;
      const { routes } = this.#deps;
      const shared = new Set(rows.map((r) => r.target));
      for (const target of routes.servers()) if (!shared.has(target)) routes.remove(target);
      for (const row of rows) this.#apply(row.target, row);
    });
  }

  async #reload(target: string): Promise<void> {
    const row = await this.#deps.db.instanceRoute.findUnique({ where: { target } });
    if (this.#mode === 'following') this.#apply(target, row);
  }

  #apply(target: string, row: InstanceRoute | null): void {
    const { routes } = this.#deps;
    if (!row) {
      routes.remove(target);
      return;
    }
    if (routes.get(target)?.instanceId === row.instanceId) return;
    routes.set(target, {
      instanceId: row.instanceId,
      revision: row.revision,
      treeSha: row.treeSha,
      socketPath: row.socketPath,
      ...(row.fingerprint ? { fingerprint: row.fingerprint } : {}),
    });
  }
}
