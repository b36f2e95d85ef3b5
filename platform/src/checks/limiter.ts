/** A task waiting for a slot. */
interface Waiting {
  start: () => void;
  priority: boolean;
  since: number;
}

/**
 * Runs at most `limit` tasks at once. Waiting tasks start in arrival order, except that priority tasks (suites of
 * plans with priority checks) go first; a task that has waited `agingMs` counts as a priority task itself, so a flood
 * of priority work delays the others by at most that long past their turn.
 */
export class Limiter {
  readonly #limit: number;
  readonly #agingMs: number;
  readonly #now: () => number;
  #active = 0;
  readonly #queue: Waiting[] = [];

  constructor(limit: number, options: { agingMs?: number; now?: () => number } = {}) {
    this.#limit = Math.max(1, limit);
    this.#agingMs = options.agingMs ?? 120_000;
    this.#now = options.now ?? Date.now;
  }

  /** Tasks waiting for a slot. */
  get waiting(): number {
    return this.#queue.length;
  }

  /** Runs `task` when a slot is free; `priority` tasks are given the next free slot before the others. */
  async run<T>(task: () => Promise<T>, options: { priority?: boolean } = {}): Promise<T> {
    if (this.#active >= this.#limit) {
      await new Promise<void>((start) =>
        this.#queue.push({ start, priority: options.priority ?? false, since: this.#now() }),
      );
    }
    this.#active++;
    try {
      return await task();
    } finally {
      this.#active--;
      this.#next()?.start();
    }
  }

  /** The waiting task to start: the earliest priority (or aged) one, else the earliest. */
  #next(): Waiting | undefined {
    if (this.#queue.length === 0) return undefined;
    const now = this.#now();
    let pick = 0;
    for (let i = 0; i < this.#queue.length; i++) {
      const w = this.#queue[i] as Waiting;
      if (w.priority || now - w.since >= this.#agingMs) {
        pick = i;
        break;
      }
    }
    return this.#queue.splice(pick, 1)[0];
  }
}
