import type { PrismaClient } from '@bmms/prisma';
import { KeyedWrites } from './keyed-writes.ts';

/** Failed deploys of one attempt (`<revision>:<fingerprint>`) in a row, and when the next may start (ms). */
export interface FailureState {
  attempt: string;
  attempts: number;
  nextAt: number;
}

/** What the reconciler remembers of one target between passes, restarts and leaders. */
export interface TargetState {
  failure?: FailureState;
  /** Unexpected exits of `revision` (ms since epoch). */
  crashes?: { revision: string; times: number[] };
  /** Serving `revision` because `bad` (main's head then) crash-looped. */
  pin?: { revision: string; bad: string };
  /** After repeated exits: no restart before this time (ms since epoch). */
  restartAt?: number;
  /** Scaled to zero while serving this revision. */
  sleeping?: string;
}

type Row = {
  target: string;
  serverId: string;
  failedAttempt: string | null;
  failedAttempts: number;
  retryAt: Date | null;
  crashRevision: string | null;
  crashTimes: unknown;
  pinnedRevision: string | null;
  pinBadRevision: string | null;
  restartAt: Date | null;
  sleepingRevision: string | null;
};

/**
 * The reconciler's bookkeeping (backoff, crash history, pins, sleeping servers) in the database, one row per
 * target, with an in-memory copy for synchronous reads (the gateway asks `isSleeping` on every call). Writes go
 * to the copy at once and to the database in order per target; `load()` brings a new leader up to date.
 */
export class ReconcilerStateStore {
  readonly #db: PrismaClient;
  readonly #states = new Map<string, TargetState>();
  readonly #servers = new Map<string, string>();
  readonly #writes = new KeyedWrites();

  constructor(db: PrismaClient) {
    this.#db = db;
  }

  /** Replaces the in-memory copy with what the database holds (at start, or when becoming leader). */
  async load(): Promise<void> {
    const rows = await this.#db.reconcilerState.findMany();
    this.#states.clear();
    this.#servers.clear();
    for (const row of rows) {
      this.#states.set(row.target, fromRow(row));
      this.#servers.set(row.target, row.serverId);
    }
  }

  /** The state of `target` (empty when it has none). */
  get(target: string): TargetState {
    return this.#states.get(target) ?? {};
  }

  /** Targets that have some state. */
  targets(): string[] {
    return [...this.#states.keys()];
  }

  /**
   * Changes the state of `target`: fields of `patch` set to `undefined` are cleared. `serverId` (the server the
   * target belongs to) is needed only for a target that has no state yet.
   */
  update(target: string, patch: Partial<TargetState>, serverId?: string): Promise<void> {
    const next: TargetState = { ...this.get(target), ...patch };
    for (const key of Object.keys(next) as (keyof TargetState)[]) if (next[key] === undefined) delete next[key];
    if (Object.keys(next).length === 0) return this.forget(target);
    this.#states.set(target, next);
    const owner = serverId ?? this.#servers.get(target);
    if (!owner) return Promise.resolve();
    this.#servers.set(target, owner);
    const data = toRow(next);
    return this.#writes.run(target, async () => {
      await this.#db.reconcilerState.upsert({
        where: { target },
        create: { target, serverId: owner, ...data },
        update: { ...data, updatedAt: new Date() },
      });
    });
  }

  /** Drops everything remembered of `target` (deleted server, removed preview). */
  forget(target: string): Promise<void> {
    this.#states.delete(target);
    this.#servers.delete(target);
    return this.#writes.run(target, async () => {
      await this.#db.reconcilerState.deleteMany({ where: { target } });
    });
  }

  /** Resolves once every write started so far reached the database. */
  async flushed(): Promise<void> {
    await this.#writes.flushed();
  }
}

function fromRow(row: Row): TargetState {
  const state: TargetState = {};
  if (row.failedAttempt && row.retryAt) {
    state.failure = { attempt: row.failedAttempt, attempts: row.failedAttempts, nextAt: row.retryAt.getTime() };
  }
  if (row.crashRevision) {
    const times = Array.isArray(row.crashTimes) ? row.crashTimes.filter((t): t is number => typeof t === 'number') : [];
    state.crashes = { revision: row.crashRevision, times };
  }
  if (row.pinnedRevision && row.pinBadRevision) state.pin = { revision: row.pinnedRevision, bad: row.pinBadRevision };
  if (row.restartAt) state.restartAt = row.restartAt.getTime();
  if (row.sleepingRevision) state.sleeping = row.sleepingRevision;
  return state;
}

function toRow(state: TargetState) {
  return {
    failedAttempt: state.failure?.attempt ?? null,
    failedAttempts: state.failure?.attempts ?? 0,
    retryAt: state.failure ? new Date(state.failure.nextAt) : null,
    crashRevision: state.crashes?.revision ?? null,
    crashTimes: state.crashes?.times ?? [],
    pinnedRevision: state.pin?.revision ?? null,
    pinBadRevision: state.pin?.bad ?? null,
    restartAt: state.restartAt === undefined ? null : new Date(state.restartAt),
    sleepingRevision: state.sleeping ?? null,
  };
}
