import { randomBytes } from 'node:crypto';
import { Prisma, type PrismaClient, type Server, type ServerDomain } from '@bmms/prisma';
import type { Principal } from '../accounts/principal.ts';
import { audit } from '../audit.ts';
import type { OrgPlans } from '../billing/org-plans.ts';
import {
  domainCheckTooSoon,
  domainLimitReached,
  domainNotVerified,
  domainTaken,
  invalidDomain,
  notFound,
  planFeatureMissing,
} from '../errors.ts';
import type { InvalidationBus } from '../invalidation.ts';
import { PLANS, SOLD_PLANS } from '../plans.ts';
import { dropOauthRecordsOf } from '../services/server-removal.ts';
import type { DomainDirectory } from './directory.ts';
import type { TxtLookup } from './dns.ts';
import { CHALLENGE_PREFIX, canonicalHostname, challengeName, challengeValue, type ReservedHosts } from './hostnames.ts';

/** Custom domains one server may answer on. */
export const MAX_DOMAINS_PER_SERVER = 5;
/** How soon the same domain may be looked up again (a verify button pressed in a loop costs one lookup per this). */
const RECHECK_MS = 5_000;

/** What the custom domains of servers need. */
export interface DomainDeps {
  /** The claims and the audit log. */
  db: PrismaClient;
  /** Whether the org's plan includes custom domains. */
  plans: Pick<OrgPlans, 'of'>;
  /** Tells every process that a domain was verified or removed. */
  invalidations: InvalidationBus;
  /** The verified domains in memory, read again here once one changed so the next request sees it. */
  domains: Pick<DomainDirectory, 'reload' | 'lookup'>;
  /** Looks up the verification TXT record. */
  lookupTxt: TxtLookup;
  /** The platform's own hosts (never claimable) and the CNAME target owners point their domain at. */
  domainHosts: () => ReservedHosts & { target: string; scheme: 'http' | 'https' };
}

/** A custom domain as the API shows it: its state and the two DNS records it needs. */
export interface DomainView {
  hostname: string;
  /** The MCP URL on this domain. */
  url: string;
  status: 'pending' | 'verified';
  createdAt: string;
  verifiedAt: string | null;
  /** The last verification attempt and what it found when it failed. */
  checkedAt: string | null;
  lastError: string | null;
  /** The TXT record that proves the org controls the name. Keep it: removing it does not unverify, but a new claim needs it. */
  verification: { type: 'TXT'; name: string; value: string };
  /** Where the name must point for calls to reach the platform. */
  routing: { type: 'CNAME'; name: string; value: string };
}

/** The API's view of a claim. */
export function domainView(deps: Pick<DomainDeps, 'domainHosts'>, row: ServerDomain): DomainView {
  const { target, scheme } = deps.domainHosts();
  return {
    hostname: row.hostname,
    url: `${scheme}://${row.hostname}/mcp`,
    status: row.verifiedAt ? 'verified' : 'pending',
    createdAt: row.createdAt.toISOString(),
    verifiedAt: row.verifiedAt?.toISOString() ?? null,
    checkedAt: row.checkedAt?.toISOString() ?? null,
    lastError: row.lastError,
    verification: { type: 'TXT', name: challengeName(row.hostname), value: challengeValue(row.token) },
    routing: { type: 'CNAME', name: row.hostname, value: target },
  };
}

/** The custom domains of `server`, oldest first. */
export async function listDomains(deps: Pick<DomainDeps, 'db' | 'domainHosts'>, server: Server): Promise<DomainView[]> {
  const rows = await deps.db.serverDomain.findMany({ where: { serverId: server.id }, orderBy: { createdAt: 'asc' } });
  return rows.map((row) => domainView(deps, row));
}

/** The claim of `hostname` (as typed: a Unicode name finds its xn-- claim) by `server`, or 404. */
async function claimOf(
  deps: Pick<DomainDeps, 'db' | 'domainHosts'>,
  server: Server,
  hostname: string,
): Promise<ServerDomain> {
  const canonical = canonicalHostname(hostname, deps.domainHosts());
  const name = 'hostname' in canonical ? canonical.hostname : hostname.trim().toLowerCase().replace(/\.$/, '');
  const row = await deps.db.serverDomain.findUnique({
    where: { serverId_hostname: { serverId: server.id, hostname: name } },
  });
  if (!row) throw notFound(`custom domain "${hostname}" of server "${server.name}"`);
  return row;
}

/**
 * Claims `input` for `server` (pending until its TXT record is verified). Refused when the org's plan has no custom
 * domains, the name is not one the platform can serve, the server has the most it may, or another server already
 * verified it. Claiming a name the server already claimed answers that claim (`created: false`).
 */
export async function addDomain(
  deps: DomainDeps,
  principal: Principal,
  server: Server,
  input: string,
): Promise<{ domain: DomainView; created: boolean }> {
  const plan = await deps.plans.of(server.orgId);
  if (!plan.customDomains) {
    const larger = SOLD_PLANS.filter((id) => PLANS[id].customDomains).map((id) => PLANS[id].name);
    throw planFeatureMissing(plan, 'custom domains', larger);
  }
  const canonical = canonicalHostname(input, deps.domainHosts());
  if ('problem' in canonical) throw invalidDomain(canonical.problem);
  const { hostname } = canonical;
  const existing = await deps.db.serverDomain.findUnique({
    where: { serverId_hostname: { serverId: server.id, hostname } },
  });
  if (existing) return { domain: domainView(deps, existing), created: false };
  if (await deps.db.serverDomain.findUnique({ where: { verifiedHostname: hostname } })) throw domainTaken(hostname);
  if ((await deps.db.serverDomain.count({ where: { serverId: server.id } })) >= MAX_DOMAINS_PER_SERVER) {
    throw domainLimitReached(MAX_DOMAINS_PER_SERVER);
  }
  let row: ServerDomain;
  try {
    row = await deps.db.serverDomain.create({
      data: { serverId: server.id, hostname, token: randomBytes(24).toString('base64url') },
    });
  } catch (err) {
    // The same name claimed twice at once for this server: answer the claim that won.
    if (!isUniqueViolation(err)) throw err;
    return { domain: domainView(deps, await claimOf(deps, server, hostname)), created: false };
  }
  await audit(deps.db, principal, 'domain.add', { type: 'server', id: server.id }, { server: server.name, hostname });
  return { domain: domainView(deps, row), created: true };
}

/**
 * Looks up the TXT record of `hostname`'s claim by `server`. Found: the claim is verified (other servers' pending
 * claims of the name go) and every platform process serves the name from then on. Not found: 422 saying what the
 * lookup saw and what to publish. A verified claim is answered as it is, without a lookup.
 */
export async function verifyDomain(
  deps: DomainDeps,
  principal: Principal,
  server: Server,
  hostname: string,
  now = Date.now(),
): Promise<DomainView> {
  const claim = await claimOf(deps, server, hostname);
  if (claim.verifiedAt) return domainView(deps, claim);
  // Too soon after the last lookup (a checked_at ahead of this clock, from another process's, does not count).
  const since = claim.checkedAt ? now - claim.checkedAt.getTime() : Number.POSITIVE_INFINITY;
  if (since >= 0 && since < RECHECK_MS) {
    throw domainCheckTooSoon(claim.hostname, Math.ceil((RECHECK_MS - since) / 1000));
  }
  const record = { name: challengeName(claim.hostname), value: challengeValue(claim.token) };
  const answer = await deps.lookupTxt(record.name);
  const found = 'records' in answer ? answer.records : [];
  if (!found.includes(record.value)) {
    const why = whyNotFound(record.name, answer);
    await deps.db.serverDomain.update({ where: { id: claim.id }, data: { checkedAt: new Date(now), lastError: why } });
    throw domainNotVerified(claim.hostname, record, why);
  }
  let verified: ServerDomain;
  try {
    [verified] = await deps.db.$transaction([
      deps.db.serverDomain.update({
        where: { id: claim.id },
        data: {
          verifiedAt: new Date(now),
          verifiedHostname: claim.hostname,
          checkedAt: new Date(now),
          lastError: null,
        },
      }),
      deps.db.serverDomain.deleteMany({ where: { hostname: claim.hostname, id: { not: claim.id } } }),
    ]);
  } catch (err) {
    if (isUniqueViolation(err)) throw domainTaken(claim.hostname);
    throw err;
  }
  // Tokens issued for this name before (to a server that had it earlier) can never reach this server.
  await dropOauthRecordsOf(deps, [], [claim.hostname]);
  await announce(deps, claim.hostname);
  await audit(
    deps.db,
    principal,
    'domain.verify',
    { type: 'server', id: server.id },
    { server: server.name, hostname },
  );
  return domainView(deps, verified);
}

/** Removes `hostname` from `server`: calls to it are refused at once, and the OAuth grants issued for it go. */
export async function removeDomain(
  deps: DomainDeps,
  principal: Principal,
  server: Server,
  hostname: string,
): Promise<void> {
  const claim = await claimOf(deps, server, hostname);
  await deps.db.serverDomain.deleteMany({ where: { id: claim.id } });
  if (claim.verifiedAt) {
    await announce(deps, claim.hostname);
    await dropOauthRecordsOf(deps, [], [claim.hostname]);
  }
  await audit(
    deps.db,
    principal,
    'domain.remove',
    { type: 'server', id: server.id },
    { server: server.name, hostname: claim.hostname, wasVerified: claim.verifiedAt !== null },
  );
}

/** Tells every process, and waits until this one's directory has read the change. */
export async function announce(deps: Pick<DomainDeps, 'invalidations' | 'domains'>, hostname: string): Promise<void> {
  await deps.invalidations.publish({ kind: 'domain', hostname });
  await deps.domains.reload();
}

/** What a lookup that did not find the expected value saw, in words an owner can act on. */
export function whyNotFound(name: string, answer: Awaited<ReturnType<TxtLookup>>): string {
  if ('failed' in answer) return `the lookup of ${name} failed: ${answer.failed}`;
  if ('none' in answer || answer.records.length === 0) return `there is no TXT record at ${name}`;
  const ours = answer.records.filter((r) => r.startsWith(CHALLENGE_PREFIX));
  const shown = (ours.length > 0 ? ours : answer.records).slice(0, 3).map((r) => `"${r.slice(0, 80)}"`);
  return ours.length > 0
    ? `the TXT record at ${name} holds another token (${shown.join(', ')}): it may be another claim's or an old one`
    : `the TXT records at ${name} (${shown.join(', ')}) do not include the verification value`;
}

const isUniqueViolation = (err: unknown) => err instanceof Prisma.PrismaClientKnownRequestError && err.code === 'P2002';
