import { Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';

/** Looks up the TXT records at a name: each record's strings joined, as RFC 7208 reads them. */
export type TxtLookup = (name: string) => Promise<TxtAnswer>;

/** What a TXT lookup found: the records, none (the name or the type does not exist), or why it could not tell. */
export type TxtAnswer = { records: string[] } | { none: true } | { failed: string };

/** How long one lookup may take in all (each server tried once more on a timeout). */
const LOOKUP_TIMEOUT_MS = 4_000;

/**
 * TXT lookups through `servers` (`ip` or `ip:port`, BMMS_DNS_SERVERS), else the system's resolvers. NXDOMAIN and
 * NODATA are "none"; a timeout, SERVFAIL or a refusal is "failed" with the reason, so the owner is told to retry
 * rather than that the record is missing.
 */
export function txtLookup(servers?: readonly string[]): TxtLookup {
  const resolver = new Resolver({ timeout: LOOKUP_TIMEOUT_MS / 2, tries: 2 });
  if (servers && servers.length > 0) resolver.setServers([...servers]);
  return async (name) => {
    try {
      const records = await resolver.resolveTxt(name);
      return { records: records.map((chunks) => chunks.join('')) };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOTFOUND' || code === 'ENODATA') return { none: true };
      const why: Record<string, string> = {
        ETIMEOUT: 'the DNS servers did not answer in time',
        ESERVFAIL: 'the DNS servers answered SERVFAIL (is the zone signed or delegated correctly?)',
        EREFUSED: 'the DNS servers refused the query',
        ECONNREFUSED: 'the DNS servers could not be reached',
      };
      return { failed: why[code ?? ''] ?? `the lookup failed (${code ?? (err as Error).message})` };
    }
  };
}

/**
 * Parses BMMS_DNS_SERVERS: comma-separated `ip` or `ip:port` (`[v6]:port`), as node:dns takes them. Returns the
 * entries, or the problem with the first bad one.
 */
export function parseDnsServers(value: string | undefined): { entries: string[] } | { problem: string } {
  const entries = (value ?? '')
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean);
  for (const entry of entries) {
    const v6 = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(entry);
    const v4 = /^([\d.]+)(?::(\d{1,5}))?$/.exec(entry);
    const address = v6?.[1] ?? v4?.[1] ?? entry;
    const port = v6?.[2] ?? v4?.[2];
    const family = isIP(address);
    if ((v6 ? family !== 6 : family === 0) || (port !== undefined && (Number(port) < 1 || Number(port) > 65_535))) {
      return { problem: `"${entry}" is not an IP address with an optional port (1.1.1.1, 127.0.0.1:5353, [::1]:53)` };
    }
  }
  return { entries };
}
