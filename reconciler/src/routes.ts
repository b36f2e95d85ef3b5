/** Where the gateway sends a server's MCP traffic, and how many calls are in flight there. */
export interface RouteTarget {
  instanceId: string;
  revision: string;
  treeSha: string;
  /** A unix socket path or `tcp://<address>:<port>` (endpoint.ts). */
  socketPath: string;
  /** What the instance's environment was made of (secret versions…): a different one rolls the server. */
  fingerprint?: string;
}

interface Entry {
  target: RouteTarget;
  inFlight: number;
  idle: Array<() => void>;
  /** When a call last started or ended here (ms since epoch). */
  lastUsed: number;
}

/** A lease on a route: the caller must `release()` it once the proxied call finished. */
export interface RouteLease {
  target: RouteTarget;
  release(): void;
}

/** Told of every route set (`target`) or removed (`undefined`), after the table changed. */
export type RouteListener = (server: string, target: RouteTarget | undefined) => void;

/**
 * The gateway's routing table. The reconciler switches a server's route atomically and then
 * drains the previous target: `drain()` resolves once its in-flight calls finished (bounded).
 * Listeners hear every change (the platform writes them to the database for its other processes).
 */
export class RouteTable {
  readonly #routes = new Map<string, Entry>();
  readonly #byInstance = new Map<string, Entry>();
  readonly #waiters = new Map<string, Array<(ok: boolean) => void>>();
  readonly #listeners = new Set<RouteListener>();

  /** Calls `listener` after every change of a route; returns the function that stops it. */
  onChange(listener: RouteListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #changed(server: string, target: RouteTarget | undefined): void {
    for (const listener of this.#listeners) listener(server, target);
  }

  /** The current target of `server`, if any. */
  get(server: string): RouteTarget | undefined {
    return this.#routes.get(server)?.target;
  }

  /** Takes a lease on the current target of `server`, counting the call as in flight. */
  acquire(server: string): RouteLease | undefined {
    const entry = this.#routes.get(server);
    if (!entry) return undefined;
    entry.inFlight++;
    entry.lastUsed = Date.now();
    let released = false;
    return {
      target: entry.target,
      release: () => {
        if (released) return;
        released = true;
        entry.inFlight--;
        entry.lastUsed = Date.now();
        if (entry.inFlight === 0) for (const wake of entry.idle.splice(0)) wake();
      },
    };
  }

  /** Points `server` at `target`; returns the previous target (still drainable). */
  set(server: string, target: RouteTarget): RouteTarget | undefined {
    const previous = this.#routes.get(server);
    const entry: Entry = { target, inFlight: 0, idle: [], lastUsed: previous?.lastUsed ?? Date.now() };
    this.#routes.set(server, entry);
    this.#byInstance.set(target.instanceId, entry);
    for (const resolve of this.#waiters.get(server)?.splice(0) ?? []) resolve(true);
    this.#changed(server, target);
    return previous?.target;
  }

  /** Counts a call made to `server` elsewhere (another platform process) as its latest use. */
  touch(server: string, at = Date.now()): void {
    const entry = this.#routes.get(server);
    if (entry && at > entry.lastUsed) entry.lastUsed = at;
  }

  /** Servers with a call started or ended here since `since` (ms since epoch). */
  usedSince(since: number): string[] {
    const used: string[] = [];
    for (const [server, entry] of this.#routes) if (entry.inFlight > 0 || entry.lastUsed >= since) used.push(server);
    return used;
  }

  /** How long `server`'s route has had no call in flight and none started, in ms (undefined without a route). */
  idleFor(server: string): number | undefined {
    const entry = this.#routes.get(server);
    if (!entry) return undefined;
    return entry.inFlight > 0 ? 0 : Date.now() - entry.lastUsed;
  }

  /** Resolves true once `server` has a route (at once if it has one), false after `timeoutMs`. */
  waitFor(server: string, timeoutMs: number): Promise<boolean> {
    if (this.#routes.has(server)) return Promise.resolve(true);
    return new Promise((resolve) => {
      const list = this.#waiters.get(server) ?? [];
      this.#waiters.set(server, list);
      const done = (ok: boolean) => {
        clearTimeout(timer);
        const i = list.indexOf(done);
        if (i >= 0) list.splice(i, 1);
        resolve(ok);
      };
      const timer = setTimeout(() => done(false), timeoutMs);
      list.push(done);
    });
  }

  /** Removes the route of `server` (new calls get 503) if it still points at `instanceId`. */
  remove(server: string, instanceId?: string): RouteTarget | undefined {
    const entry = this.#routes.get(server);
    if (!entry || (instanceId && entry.target.instanceId !== instanceId)) return undefined;
    this.#routes.delete(server);
    this.#changed(server, undefined);
    return entry.target;
  }

  /** Resolves when no call is in flight on `instanceId` any more, or after `timeoutMs`. Returns true when drained. */
  async drain(instanceId: string, timeoutMs: number): Promise<boolean> {
    const entry = this.#byInstance.get(instanceId);
    if (!entry) return true;
    try {
      if (entry.inFlight === 0) return true;
      return await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), timeoutMs);
        entry.idle.push(() => {
          clearTimeout(timer);
          resolve(true);
        });
      });
    } finally {
      if (this.#routes.get(this.#serverOf(entry) ?? '') !== entry) this.#byInstance.delete(instanceId);
    }
  }

  /** Names of servers that currently have a route. */
  servers(): string[] {
    return [...this.#routes.keys()];
  }

  #serverOf(entry: Entry): string | undefined {
    for (const [server, e] of this.#routes) if (e === entry) return server;
    return undefined;
  }
}
