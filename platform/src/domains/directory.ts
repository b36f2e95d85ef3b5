import type { PrismaClient } from '@bmms/prisma';
import type { InvalidationBus } from '../invalidation.ts';
import type { Logger } from '../logger.ts';

/** A verified custom domain: the server answering on it, and since when (tokens issued earlier are not its). */
export interface VerifiedDomain {
  hostname: string;
  server: string;
  serverId: string;
  orgId: string;
  verifiedAt: number;
}

/** What the directory reads and listens to. */
export interface DomainDirectoryDeps {
  /** The verified domains. */
  db: PrismaClient;
  /** Domain and server changes, from this process and the others sharing the database. */
  invalidations?: InvalidationBus;
  log: Logger;
  /** How often everything is read again in case a notification was missed (default 60 s). */
  refreshMs?: number;
}

/**
 * Every verified custom domain, in memory: a request's Host is matched without the database (a flood of made-up
 * Host headers costs one map lookup each). There are at most a few per server, so all of them are held; they are
 * read again when a domain is verified or removed or a server deleted (on any process), and once a minute.
 */
export class DomainDirectory {
  readonly #deps: DomainDirectoryDeps;
  #byHost = new Map<string, VerifiedDomain>();
  #reading: Promise<void> | undefined;
  #again = false;
  #timer: NodeJS.Timeout | undefined;
  #unsubscribe: (() => void) | undefined;

  constructor(deps: DomainDirectoryDeps) {
    this.#deps = deps;
  }

  /** Reads the domains and starts listening; resolves once the first read is done. */
  async start(): Promise<void> {
    this.#unsubscribe = this.#deps.invalidations?.subscribe((event) => {
      if (event.kind === 'domain' || event.kind === 'server' || event.kind === 'all') void this.reload();
    });
    await this.reload();
    this.#timer = setInterval(() => void this.reload(), this.#deps.refreshMs ?? 60_000);
    this.#timer.unref();
  }

  /** The verified domain `hostname` (lower-case), if one is. */
  lookup(hostname: string): VerifiedDomain | undefined {
    return this.#byHost.get(hostname);
  }

  /** How many verified domains there are. */
  get size(): number {
    return this.#byHost.size;
  }

  /** Reads every verified domain again; resolves once a read that started after this call finished. */
  async reload(): Promise<void> {
    if (this.#reading) {
      this.#again = true;
      await this.#reading;
      // The read that started after this call (see below), unless another caller's already finished it.
      const next = this.#reading as Promise<void> | undefined;
      if (next) await next;
      return;
    }
    this.#reading = this.#read().finally(() => {
      this.#reading = undefined;
      if (this.#again) {
        this.#again = false;
        void this.reload();
      }
    });
    await this.#reading;
  }

  async #read(): Promise<void> {
    try {
      const rows = await this.#deps.db.serverDomain.findMany({
        where: { verifiedAt: { not: null } },
        select: { hostname: true, verifiedAt: true, server: { select: { id: true, name: true, orgId: true } } },
      });
      this.#byHost = new Map(
        rows.map((r) => [
          r.hostname,
          {
            hostname: r.hostname,
            server: r.server.name,
            serverId: r.server.id,
            orgId: r.server.orgId,
            verifiedAt: (r.verifiedAt as Date).getTime(),
          },
        ]),
      );
    } catch (err) {
      // Keep what was known: a database that is briefly away does not take every custom domain down.
      this.#deps.log.warn('custom domains could not be read; the ones known before keep serving', { err });
    }
  }

  /** Stops listening. */
  close(): void {
    this.#unsubscribe?.();
    if (this.#timer) clearInterval(this.#timer);
  }
}
