import type { PrismaClient } from '@bmms/prisma';
import { hashApiKey } from '../accounts/keys.ts';
import { isPlausibleKey, LAST_USED_RESOLUTION_MS, type Principal, principalForKeyHash } from '../accounts/principal.ts';
import type { Invalidation, InvalidationBus } from '../invalidation.ts';
import type { Logger } from '../logger.ts';
import { FactCache } from './cache.ts';

/** The parts of a server the gateway needs on every call; none of them changes while the server exists. */
export interface ServerFacts {
  id: string;
  orgId: string;
}

export interface GatewayDirectoryDeps {
  db: PrismaClient;
  invalidations: InvalidationBus;
  log: Logger;
  /** Lifetime of a cached key, membership or server (default 30 s); invalidations end it sooner. */
  ttlMs?: number;
  /** Lifetime of a cached absence (default 2 s): creations are not announced. */
  negativeTtlMs?: number;
  /** How often last-use times are written (default 10 s). */
  flushMs?: number;
}

const ABSENT = null;

/**
 * What the gateway needs to know about a call without asking the database each time: the principal behind an
 * API key, whether a user is a member of an org, and a server's owner. Facts are cached for a short lifetime and
 * dropped at once on an invalidation (key revoked, member removed, server deleted) from this or any other
 * process sharing the database. Last-use times of keys are written in batches, off the request path.
 */
export class GatewayDirectory {
  readonly #db: PrismaClient;
  readonly #log: Logger;
  readonly #keys: FactCache<(Principal & { hash: string }) | null>;
  readonly #members: FactCache<boolean>;
  readonly #servers: FactCache<ServerFacts | null>;
  /** Key id → when it was last used and not yet written. */
  readonly #used = new Map<string, Date>();
  /** Key id → when its last use was last written (or read), to write at most once per resolution window. */
  readonly #written = new Map<string, number>();
  readonly #unsubscribe: () => void;
  readonly #timer: NodeJS.Timeout;
  #flushing: Promise<void> = Promise.resolve();

  constructor(deps: GatewayDirectoryDeps) {
    this.#db = deps.db;
    this.#log = deps.log;
    const ttlMs = deps.ttlMs ?? 30_000;
    const negativeTtlMs = deps.negativeTtlMs ?? 2_000;
    const maxStaleMs = () => deps.invalidations.maxStaleMs();
    this.#keys = new FactCache({ ttlMs, negativeTtlMs, maxStaleMs, isAbsent: (v) => v === ABSENT });
    this.#members = new FactCache({ ttlMs, negativeTtlMs, maxStaleMs, isAbsent: (v) => !v });
    this.#servers = new FactCache({ ttlMs, negativeTtlMs, maxStaleMs, isAbsent: (v) => v === ABSENT });
    this.#unsubscribe = deps.invalidations.subscribe((event) => this.#invalidate(event));
    this.#timer = setInterval(() => void this.flush(), deps.flushMs ?? 10_000);
    this.#timer.unref();
  }

  /** The principal of an API key, or null when unknown, revoked or no longer backed by a membership. */
  async keyPrincipal(key: string): Promise<Principal | null> {
    if (!isPlausibleKey(key)) return null;
    const hash = hashApiKey(key);
    const found = await this.#keys.get(hash, async () => {
      const row = await principalForKeyHash(this.#db, hash);
      if (!row) return ABSENT;
      const { lastUsedAt, ...principal } = row;
      if (lastUsedAt) this.#written.set(principal.apiKeyId as string, lastUsedAt.getTime());
      return { ...principal, hash };
    });
    if (!found) return null;
    this.#recordUse(found.apiKeyId as string);
    const { hash: _hash, ...principal } = found;
    return principal;
  }

  /** Whether `userId` is a member of `orgId`. */
  isMember(orgId: string, userId: string): Promise<boolean> {
    return this.#members.get(`${orgId}:${userId}`, async () => {
      const row = await this.#db.membership.findUnique({ where: { orgId_userId: { orgId, userId } } });
      return row !== null;
    });
  }

  /** The server named `name`, or null. */
  server(name: string): Promise<ServerFacts | null> {
    return this.#servers.get(name, async () => {
      const row = await this.#db.server.findUnique({ where: { name }, select: { id: true, orgId: true } });
      return row ?? ABSENT;
    });
  }

  /** Writes the pending last-use times (one statement per distinct time, usually one). */
  flush(): Promise<void> {
    this.#flushing = this.#flushing.then(async () => {
      if (this.#used.size === 0) return;
      const batch = [...this.#used];
      this.#used.clear();
      const latest = new Date(batch.reduce((max, [, at]) => Math.max(max, at.getTime()), 0));
      try {
        await this.#db.apiKey.updateMany({
          where: { id: { in: batch.map(([id]) => id) } },
          data: { lastUsedAt: latest },
        });
      } catch (err) {
        this.#log.warn('could not record when API keys were last used', { err, keys: batch.length });
      }
    });
    return this.#flushing;
  }

  /** Stops listening and writes what is pending. */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    this.#unsubscribe();
    await this.flush();
  }

  #recordUse(keyId: string): void {
    const now = Date.now();
    const written = this.#written.get(keyId);
    if (written !== undefined && now - written <= LAST_USED_RESOLUTION_MS) return;
    this.#written.set(keyId, now);
    if (this.#written.size > 100_000) this.#written.clear();
    this.#used.set(keyId, new Date(now));
  }

  #invalidate(event: Invalidation): void {
    switch (event.kind) {
      case 'api_key':
        this.#keys.delete(event.hash);
        break;
      case 'member':
        this.#members.delete(`${event.orgId}:${event.userId}`);
        this.#keys.deleteWhere((p) => p !== ABSENT && p.orgId === event.orgId && p.userId === event.userId);
        break;
      case 'server':
        this.#servers.delete(event.name);
        break;
      case 'grant':
        break;
      case 'all':
        this.#keys.clear();
        this.#members.clear();
        this.#servers.clear();
        break;
    }
  }
}
