import type { PrismaClient, ServerDomain } from '@bmms/prisma';
import { audit } from '../audit.ts';
import type { Logger } from '../logger.ts';
import { dropOauthRecordsOf } from '../services/server-removal.ts';
import { challengeName, challengeValue } from './hostnames.ts';
import { announce, type DomainDeps, whyNotFound } from './service.ts';

/** A verified domain's TXT record is looked up again once this long after its last check. */
export const RECHECK_VERIFIED_MS = 24 * 3600_000;
/** Re-checks in a row that do not find the record before a domain is unverified (three days at one a day). */
export const FAILED_CHECKS_TO_UNVERIFY = 3;
/** A claim never verified is dropped this long after it was made. */
export const PENDING_CLAIM_MS = 14 * 24 * 3600_000;
/** Domains looked up per sweep (the rest wait for the next one). */
const BATCH = 50;

export interface DomainKeeperDeps extends Pick<DomainDeps, 'db' | 'invalidations' | 'domains' | 'lookupTxt'> {
  log: Logger;
  /** How often to sweep (default hourly). */
  everyMs?: number;
  now?: () => number;
}

/**
 * Keeps custom domains honest after they were verified: every verified domain's TXT record is looked up again once a
 * day, and one whose record is gone (or whose lookups fail) three checks in a row is unverified, so a name that
 * changed hands stops reaching the server that had it; its OAuth grants go with it and the owner sees why on the
 * claim, which can be verified again. Claims never verified are dropped after 14 days. Every platform process may
 * sweep: a domain is taken for a check by moving its `checked_at` only if no other process moved it first.
 */
export class DomainKeeper {
  readonly #deps: DomainKeeperDeps;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;

  constructor(deps: DomainKeeperDeps) {
    this.#deps = deps;
  }

  start(): void {
    const every = this.#deps.everyMs ?? 3600_000;
    // The first sweep a minute after start (a fleet restarting at once spreads out), then every hour.
    this.#timer = setTimeout(() => this.#loop(every), Math.min(every, 60_000 + Math.random() * 60_000));
    this.#timer.unref();
  }

  #loop(every: number): void {
    this.#running = this.sweep()
      .then(() => {})
      .catch((err) => this.#deps.log.warn('custom domain re-check failed', { err }))
      .finally(() => {
        this.#running = undefined;
      });
    this.#timer = setTimeout(() => this.#loop(every), every);
    this.#timer.unref();
  }

  async close(): Promise<void> {
    clearTimeout(this.#timer);
    await this.#running;
  }

  /** One sweep: expired claims dropped, due verified domains looked up. Returns what it did (tests). */
  async sweep(): Promise<{ expired: number; checked: number; unverified: string[] }> {
    const { db } = this.#deps;
    const now = this.#deps.now?.() ?? Date.now();
    const expired = await db.serverDomain.deleteMany({
      where: { verifiedAt: null, createdAt: { lt: new Date(now - PENDING_CLAIM_MS) } },
    });
    const due = await db.serverDomain.findMany({
      where: {
        verifiedAt: { not: null },
        OR: [{ checkedAt: null }, { checkedAt: { lt: new Date(now - RECHECK_VERIFIED_MS) } }],
      },
      orderBy: { checkedAt: 'asc' },
      take: BATCH,
    });
    let checked = 0;
    const unverified: string[] = [];
    for (const domain of due) {
      // Taken for this check only if no other process took it since it was read.
      const taken = await db.serverDomain.updateMany({
        where: { id: domain.id, checkedAt: domain.checkedAt },
        data: { checkedAt: new Date(now) },
      });
      if (taken.count === 0) continue;
      checked++;
      if (await this.#recheck(db, domain, now)) unverified.push(domain.hostname);
    }
    return { expired: expired.count, checked, unverified };
  }

  /** Looks the record of one verified domain up; true when it was unverified. */
  async #recheck(db: PrismaClient, domain: ServerDomain, now: number): Promise<boolean> {
    const record = { name: challengeName(domain.hostname), value: challengeValue(domain.token) };
    const answer = await this.#deps.lookupTxt(record.name);
    if ('records' in answer && answer.records.includes(record.value)) {
      await db.serverDomain.updateMany({ where: { id: domain.id }, data: { failedChecks: 0, lastError: null } });
      return false;
    }
    const why = whyNotFound(record.name, answer);
    const failed = domain.failedChecks + 1;
    if (failed < FAILED_CHECKS_TO_UNVERIFY) {
      await db.serverDomain.updateMany({
        where: { id: domain.id },
        data: { failedChecks: failed, lastError: `re-check ${failed} of ${FAILED_CHECKS_TO_UNVERIFY} failed: ${why}` },
      });
      return false;
    }
    const changed = await db.serverDomain.updateMany({
      where: { id: domain.id, verifiedAt: { not: null } },
      data: {
        verifiedAt: null,
        verifiedHostname: null,
        failedChecks: 0,
        lastError: `unverified on ${new Date(now).toISOString().slice(0, 10)} after ${failed} daily checks in a row did not find the record (${why}); publish it and verify again`,
      },
    });
    if (changed.count === 0) return false;
    await announce(this.#deps, domain.hostname);
    await dropOauthRecordsOf(this.#deps, [], [domain.hostname]);
    const server = await db.server.findUnique({ where: { id: domain.serverId }, select: { name: true, orgId: true } });
    await audit(
      db,
      undefined,
      'domain.unverify',
      { type: 'server', id: domain.serverId, orgId: server?.orgId },
      { server: server?.name, hostname: domain.hostname, reason: why },
    );
    this.#deps.log.warn('custom domain unverified: its TXT record is gone', {
      server: server?.name,
      hostname: domain.hostname,
    });
    return true;
  }
}
