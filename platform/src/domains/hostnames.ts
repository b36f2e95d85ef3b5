import { isIP } from 'node:net';
import { domainToASCII } from 'node:url';

/** The label a domain's verification TXT record lives under: `_bmms-challenge.<hostname>`. */
export const CHALLENGE_LABEL = '_bmms-challenge';
/** What the TXT record holds before the token: `bmms-verification=<token>`. */
export const CHALLENGE_PREFIX = 'bmms-verification=';

/** Names no customer may claim: they are never a public host of theirs (RFC 6761, RFC 6762, RFC 8375, RFC 9476). */
const SPECIAL_SUFFIXES = ['localhost', 'local', 'internal', 'invalid', 'example', 'arpa', 'home.arpa', 'alt', 'onion'];

/** Hostnames the platform answers on itself: its public host, allowed hosts, the servers' domain and their subdomains. */
export interface ReservedHosts {
  hostnames: readonly string[];
  /** A test may claim names under these (e.g. `test`), which are otherwise refused like other special names. */
  allowSuffixes?: readonly string[];
}

/**
 * A custom domain as a customer typed it, made canonical: lower-case ASCII (an IDN in its `xn--` form), without a
 * trailing dot. Refused with the reason: an address, a single label, a wildcard, a port or path, an overlong name or
 * label, characters outside letters, digits and hyphens (an underscore is not a hostname's), a special-use name
 * (localhost, .local, .internal…), and the platform's own hosts or names under them.
 */
export function canonicalHostname(input: string, reserved: ReservedHosts): { hostname: string } | { problem: string } {
  const typed = input.trim();
  if (typed === '') return { problem: 'the hostname is empty' };
  if (typed.length > 300) return { problem: 'the hostname is longer than 253 characters' };
  if (/[/:?#@\\\s]/.test(typed)) {
    return {
      problem: `"${typed}" is not a bare hostname: give it without scheme, port, path or spaces (mcp.example.com)`,
    };
  }
  if (typed.includes('*')) return { problem: 'wildcard domains are not supported: claim each hostname on its own' };
  const withoutDot = typed.endsWith('.') ? typed.slice(0, -1) : typed;
  if (isIP(withoutDot) !== 0 || /^[\d.]+$/.test(withoutDot)) {
    return { problem: `"${typed}" is an address: a custom domain is a DNS name (mcp.example.com)` };
  }
  const hostname = domainToASCII(withoutDot).toLowerCase();
  if (hostname === '') return { problem: `"${typed}" is not a valid domain name` };
  if (hostname.length > 253) return { problem: 'the hostname is longer than 253 characters' };
  const labels = hostname.split('.');
  if (labels.length < 2) return { problem: `"${typed}" has a single label: give the full name (mcp.example.com)` };
  for (const label of labels) {
    if (label.length === 0) return { problem: `"${typed}" has an empty label` };
    if (label.length > 63) return { problem: `the label "${label}" is longer than 63 characters` };
    if (!/^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/.test(label)) {
      return {
        problem: `the label "${label}" may hold only letters, digits and hyphens, and may not start or end with a hyphen`,
      };
    }
  }
  if (/^\d+$/.test(labels.at(-1) as string)) return { problem: `"${typed}" ends in a numeric label` };
  const under = (suffix: string) => hostname === suffix || hostname.endsWith(`.${suffix}`);
  const allowed = reserved.allowSuffixes ?? [];
  const special = SPECIAL_SUFFIXES.concat(['test']).find((s) => under(s) && !allowed.some((a) => under(a)));
  if (special) return { problem: `names under .${special} are reserved and never reach this platform from outside` };
  const own = reserved.hostnames.find((h) => h && under(h.toLowerCase()));
  if (own) return { problem: `"${hostname}" is one of this platform's own hosts (${own}) or a name under it` };
  return { hostname };
}

/** The name of the TXT record that proves control of `hostname`. */
export function challengeName(hostname: string): string {
  return `${CHALLENGE_LABEL}.${hostname}`;
}

/** The value the TXT record must hold. */
export function challengeValue(token: string): string {
  return `${CHALLENGE_PREFIX}${token}`;
}
