/**
 * The egress policy, written once: what an `egress` entry in mcp.json may look like, which request URL an entry
 * lets through, and the port rule. The manifest schema, the manifest and surface checks, the runtime's
 * `ctx.fetch` and the platform's egress proxy all import it (the refused address ranges live beside it, in
 * addresses.ts).
 *
 * - An entry is a lowercase DNS name or an IPv4 address (`a.b.c.d`), optionally `:port` (1-65535).
 * - A single leading `*.` label is a wildcard that stands for exactly one label: `*.example.com` matches
 *   `api.example.com`, not `example.com` and not `a.b.example.com` (like a TLS wildcard certificate). It needs
 *   a domain of at least two labels after it; a `*` anywhere else is refused.
 * - Only http and https leave. An entry without a port allows the scheme's default port only (http 80,
 *   https 443); `host:port` allows exactly that port, for either scheme.
 */

/** The default port of each scheme tools may use. */
export const DEFAULT_PORTS: Readonly<Record<string, string>> = { 'http:': '80', 'https:': '443' };
/** The only ports the manifest check lets a hosted server name (non-HTTP services stay out of reach). */
export const WEB_PORTS: readonly string[] = ['80', '443'];

/** A parsed egress entry. */
export interface EgressEntry {
  /** The host, without the wildcard label (`*.api.example.com` → `api.example.com`). */
  host: string;
  /** True for a leading `*.` label: matches exactly one more label in front of `host`. */
  wildcard: boolean;
  /** The port the entry names, or undefined (the scheme's default port). */
  port: string | undefined;
}

/** Why an entry is not valid: `egress-wildcard` for a misplaced `*`, `egress-syntax` for the rest. */
export interface EgressEntryProblem {
  rule: 'egress-syntax' | 'egress-wildcard';
  message: string;
}

export type ParsedEgressEntry = { ok: true; entry: EgressEntry } | { ok: false; problem: EgressEntryProblem };

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
/** A last label a URL parser reads as a number, making the whole host an IPv4 address (`127.1`, `0x7f000001`). */
const NUMERIC_LABEL = /^(?:0x[0-9a-f]*|\d+)$/;
const SYNTAX = 'must be a lowercase hostname, optionally with :port';
const WILDCARD_EXAMPLE = '"*.api.example.com"';

const syntax = (message: string): ParsedEgressEntry => ({ ok: false, problem: { rule: 'egress-syntax', message } });
const wildcardProblem = (message: string): ParsedEgressEntry => ({
  ok: false,
  problem: { rule: 'egress-wildcard', message },
});

const canonicalIpv4 = (host: string): boolean =>
  /^\d{1,3}(?:\.\d{1,3}){3}$/.test(host) && host.split('.').every((o) => String(Number(o)) === o && Number(o) < 256);

/**
 * Splits an entry into its host and port text without judging either (`api.example.com:443`, `[::1]:8080` →
 * `::1` and `8080`, a bare IPv6 address stays whole); `ipv6` tells that the host is written as IPv6.
 */
export function splitEgressEntry(text: string): { host: string; port: string | undefined; ipv6: boolean } {
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    const rest = close === -1 ? '' : text.slice(close + 1);
    return {
      host: text.slice(1, close === -1 ? undefined : close),
      port: rest.startsWith(':') ? rest.slice(1) : undefined,
      ipv6: true,
    };
  }
  if (text.split(':').length > 2) return { host: text, port: undefined, ipv6: true };
  const colon = text.indexOf(':');
  return colon === -1
    ? { host: text, port: undefined, ipv6: false }
    : { host: text.slice(0, colon), port: text.slice(colon + 1), ipv6: false };
}

/** Parses one `egress` entry of mcp.json. */
export function parseEgressEntry(text: string): ParsedEgressEntry {
  if (text.includes('/')) return syntax(`${SYNTAX}, not a URL: "api.example.com", not "https://api.example.com/v1"`);
  const { host: hostPart, port, ipv6 } = splitEgressEntry(text);
  if (ipv6) return syntax(`${SYNTAX}; IPv6 addresses can't be listed`);
  if (port !== undefined && !(/^[1-9]\d{0,4}$/.test(port) && Number(port) <= 65535)) {
    return syntax('port must be 1-65535');
  }
  const wildcard = hostPart.startsWith('*.');
  const host = wildcard ? hostPart.slice(2) : hostPart;
  if (host.includes('*')) {
    return wildcardProblem(`only a single leading "*." label may be a wildcard, e.g. ${WILDCARD_EXAMPLE}`);
  }
  if (host.length === 0 || host.length > 253) return syntax(SYNTAX);
  const labels = host.split('.');
  if (!labels.every((l) => LABEL.test(l))) {
    return syntax(host.toLowerCase() !== host ? `${SYNTAX} (write it in lowercase)` : SYNTAX);
  }
  const ipv4 = canonicalIpv4(host);
  if (!ipv4 && NUMERIC_LABEL.test(labels.at(-1) ?? '')) {
    return syntax(`${SYNTAX}; a name ending in a number is an IPv4 address, write it as a.b.c.d`);
  }
  if (wildcard && (ipv4 || labels.length < 2)) {
    return wildcardProblem(`a wildcard needs a domain of at least two labels after it, e.g. ${WILDCARD_EXAMPLE}`);
  }
  return { ok: true, entry: { host, wildcard, port } };
}

/** Whether `host` (a URL's lowercase hostname) is named by `entry`. */
export function hostMatches(entry: EgressEntry, host: string): boolean {
  if (!entry.wildcard) return host === entry.host;
  const suffix = `.${entry.host}`;
  if (!host.endsWith(suffix)) return false;
  const label = host.slice(0, -suffix.length);
  return LABEL.test(label);
}

/** Why a request URL may not leave, with a message that says what to change. */
export interface EgressRefusal {
  code: 'egress_scheme_not_allowed' | 'egress_host_not_allowed' | 'egress_port_not_allowed';
  message: string;
}

/** Which rule `url` breaks against the allowlist `egress` (scheme, then host, then port), or null when allowed. */
export function egressRefusal(url: URL, egress: readonly string[]): EgressRefusal | null {
  const defaultPort = DEFAULT_PORTS[url.protocol];
  if (defaultPort === undefined) {
    return {
      code: 'egress_scheme_not_allowed',
      message: `Egress over "${url.protocol.replace(/:$/, '')}" is not allowed: tools may use http and https only.`,
    };
  }
  const host = url.hostname;
  const port = url.port === '' ? defaultPort : url.port;
  let listed = false;
  for (const text of egress) {
    const parsed = parseEgressEntry(text);
    if (!parsed.ok || !hostMatches(parsed.entry, host)) continue;
    listed = true;
    if ((parsed.entry.port ?? defaultPort) === port) return null;
  }
  if (!listed) {
    return {
      code: 'egress_host_not_allowed',
      message: `Egress to "${url.host}" is not allowed: add it to "egress" in mcp.json (as "${url.host}") to let tools reach it.`,
    };
  }
  return {
    code: 'egress_port_not_allowed',
    message: `Egress to "${url.host}" is not allowed: port ${port} is not listed for "${host}" (an entry without a port allows only the scheme's default port, http 80 and https 443); list "${host}:${port}" in "egress" to allow it.`,
  };
}
