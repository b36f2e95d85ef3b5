/** Where the gateway sends a server's MCP traffic, and how many calls are in flight there. */
export interface RouteTarget {
  instanceId: string;
  revision: string;
  treeSha: string;
  socketPath: string;
  /** What the instance's environment was made of (secret versions…): a different one rolls the server. */
  fingerprint?: string;
}

interface Entry {
  target: RouteTarget;
  inFlight: number;
  idle: Array<() => void>;
}

/** A lease on a route: the caller must `release()` it once the proxied call finished. */
export interface RouteLease {
  target: RouteTarget;
  release(): void;
}

/**
 * The gateway's routing table. The reconciler switches a server's route atomically and then
 * drains the previous target: `drain()` resolves once its in-flight calls finished (bounded).
 */
export class RouteTable {
  readonly #routes = new Map<string, Entry>();
  readonly #byInstance = new Map<string, Entry>();

  /** The current target of `server`, if any. */
  get(server: string): RouteTarget | undefined {
    return this.#routes.get(server)?.target;
  }

  /** Takes a lease on the current target of `server`, counting the call as in flight. */
  acquire(server: string): RouteLease | undefined {
    const entry = this.#routes.get(server);
    if (!entry) return undefined;
    entry.inFlight++;
    let released = false;
    return {
      target: entry.target,
      release: () => {
        if (released) return;
        released = true;
        entry.inFlight--;
        if (entry.inFlight === 0) for (const wake of entry.idle.splice(0)) wake();
      },
    };
  }

  /** Points `server` at `target`; returns the previous target (still drainable). */
  set(server: string, target: RouteTarget): RouteTarget | undefined {
    const previous = this.#routes.get(server);
    const entry: Entry = { target, inFlight: 0, idle: [] };
    this.#routes.set(server, entry);
    this.#byInstance.set(target.instanceId, entry);
    return previous?.target;
  }

  /** Removes the route of `server` (new calls get 503) if it still points at `instanceId`. */
  remove(server: string, instanceId?: string): RouteTarget | undefined {
    const entry = this.#routes.get(server);
    if (!entry || (instanceId && entry.target.instanceId !== instanceId)) return undefined;
    this.#routes.delete(server);
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
