import { unixRequest } from '../probe.ts';

/**
 * Watching started instances for a stuck event loop. A handler in an endless loop, or blocked in a synchronous wait,
 * stops its whole instance: no tool timeout can end it (timeouts run on the same loop), every call to the server
 * hangs, and the process never exits, so nothing would restart it. Every `intervalMs` each instance's GET /healthz
 * is asked with `timeoutMs`; one that does not answer `failures` times in a row is handed to `kill`, and the
 * reconciler restarts it as it does a crash (backoff, and a revision that keeps doing it is pinned back). A probe
 * that could not reach the instance's loop at all (every channel of a confined instance busy with calls) counts
 * neither way.
 */

export interface LivenessOptions {
  /** How often instances are asked (default 10 s; 0 turns the watch off). */
  intervalMs?: number;
  /** How long one answer may take (default 5 s). */
  timeoutMs?: number;
  /** Unanswered probes in a row after which an instance is killed (default 3). */
  failures?: number;
}

/** An instance as the watch sees it. */
export interface Watched {
  id: string;
  socketPath: string;
  /** True while a probe could not reach the instance's loop now (its calls hold every channel). */
  unreachable?: () => boolean;
}

export class LivenessWatch {
  readonly #intervalMs: number;
  readonly #timeoutMs: number;
  readonly #failures: number;
  readonly #instances: () => Watched[];
  readonly #kill: (id: string, why: string) => void;
  /** Unanswered probes in a row, per instance id. */
  readonly #missed = new Map<string, number>();
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;

  constructor(opts: LivenessOptions & { instances: () => Watched[]; kill: (id: string, why: string) => void }) {
    this.#intervalMs = opts.intervalMs ?? 10_000;
    this.#timeoutMs = opts.timeoutMs ?? 5_000;
    this.#failures = Math.max(1, opts.failures ?? 3);
    this.#instances = opts.instances;
    this.#kill = opts.kill;
  }

  /** Starts asking (unless the interval is 0); the timer never keeps the process alive. */
  start(): void {
    if (this.#intervalMs <= 0 || this.#timer) return;
    this.#timer = setInterval(() => {
      this.#running ??= this.check().finally(() => {
        this.#running = undefined;
      });
    }, this.#intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** One round: asks every instance at once, counts what did not answer, kills what stayed silent too long. */
  async check(): Promise<void> {
    const instances = this.#instances();
    const present = new Set(instances.map((i) => i.id));
    for (const id of this.#missed.keys()) if (!present.has(id)) this.#missed.delete(id);
    await Promise.all(instances.map((i) => this.#ask(i)));
  }

  async #ask(instance: Watched): Promise<void> {
    if (instance.unreachable?.()) return;
    const answered = await unixRequest(instance.socketPath, {
      method: 'GET',
      path: '/healthz',
      timeoutMs: this.#timeoutMs,
      maxBytes: 4096,
    }).then(
      () => true, // any answer at all: the loop runs (what it says is the start probe's business)
      // Refused or reset: the instance is going away (its exit is handled as such), not stuck.
      (err: Error) => !err.message.includes('no answer within'),
    );
    if (answered) {
      this.#missed.delete(instance.id);
      return;
    }
    const missed = (this.#missed.get(instance.id) ?? 0) + 1;
    this.#missed.set(instance.id, missed);
    if (missed < this.#failures) return;
    this.#missed.delete(instance.id);
    const seconds = Math.round((this.#timeoutMs * this.#failures) / 1000);
    this.#kill(
      instance.id,
      `unresponsive: /healthz did not answer within ${Math.round(this.#timeoutMs / 1000)} s ${this.#failures} times in a row (its event loop has been stuck for ${seconds} s or more: an endless loop or a blocking wait)`,
    );
  }
}
