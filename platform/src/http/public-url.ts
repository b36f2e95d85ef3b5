import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import type { Request } from 'express';

/**
 * The one place that decides the platform's public base URL, which every absolute URL it emits starts with
 * (server `url`, `gitUrl`, preview URLs, invitation links, OAuth issuer and endpoints, resource metadata).
 *
 * It is `BMMS_PUBLIC_URL` when configured. Otherwise it is the address the platform listens on, unless the
 * request names a host listed in `BMMS_ALLOWED_HOSTS` (its `Host`, or X-Forwarded-Host/-Proto when the
 * direct peer is a trusted proxy: express's `req.host`/`req.protocol`). An unlisted host never reaches a URL:
 * `Host` and `X-Forwarded-Host` are chosen by whoever sends the request, and a URL built from them would let
 * an attacker plant their own host in links, OAuth metadata and token audiences.
 */
export class PublicBase {
  readonly #configured: string | undefined;
  readonly #allowed: ReadonlySet<string>;
  #listening: string | undefined;

  /** `configured` is BMMS_PUBLIC_URL without its trailing slash; `allowedHosts` are lower-case `host[:port]`. */
  constructor(configured: string | undefined, allowedHosts: readonly string[] = []) {
    this.#configured = configured;
    this.#allowed = new Set(allowedHosts);
  }

  /** Records the address the server is bound to (once it listens); returns its URL. */
  listening(host: string, port: number): string {
    this.#listening = listenUrl(host, port);
    return this.#listening;
  }

  /** The default base URL (no request at hand), without a trailing slash. */
  get url(): string {
    const url = this.#configured ?? this.#listening;
    // Requests are served only after listening(): reaching this earlier is a wiring bug, not a user error.
    if (url === undefined) throw new Error('the public base URL is not known before the platform listens');
    return url;
  }

  /** The base URL for a request: the default, or the allowed host the request was sent to. */
  of(req: Pick<Request, 'host' | 'protocol'>): string {
    if (this.#configured !== undefined || this.#allowed.size === 0) return this.url;
    const host = req.host?.toLowerCase();
    if (host && this.#allowed.has(host) && (req.protocol === 'http' || req.protocol === 'https')) {
      return `${req.protocol}://${host}`;
    }
    return this.url;
  }
}

/**
 * The URL of a listening address: `http://<host>:<port>`; a wildcard bind (0.0.0.0, ::) is reached as
 * `localhost`, and an IPv6 literal is bracketed.
 */
export function listenUrl(host: string, port: number): string {
  const name = host === '0.0.0.0' || host === '::' || host === '' ? 'localhost' : host;
  return `http://${isIP(name) === 6 ? `[${name}]` : name}:${port}`;
}

/** Whether `value` can be BMMS_PUBLIC_URL: http(s), no credentials, query or fragment. */
export function isBaseUrl(value: string): boolean {
  const url = URL.parse(value);
  return (
    url !== null &&
    (url.protocol === 'http:' || url.protocol === 'https:') &&
    !url.username &&
    !url.password &&
    !url.search &&
    !url.hash &&
    !value.includes('?') &&
    !value.includes('#')
  );
}

/** The host a request was sent to, from its own `Host` header (never X-Forwarded-Host), lower-cased. */
export function directHost(req: IncomingMessage): { host: string; hostname: string } | undefined {
  const raw = req.headers.host;
  if (!raw || /[\s/\\?#@]/.test(raw)) return undefined;
  // Nearly every call names the same host: parse each distinct value once.
  if (lastHost?.raw !== raw) {
    const url = URL.parse(`http://${raw}`);
    lastHost = { raw, parsed: url ? { host: url.host, hostname: url.hostname } : undefined };
  }
  return lastHost.parsed;
}
let lastHost: { raw: string; parsed: { host: string; hostname: string } | undefined } | undefined;

/** Named ranges express's `trust proxy` (proxy-addr) understands besides addresses and CIDRs. */
const NAMED_RANGES = new Set(['loopback', 'linklocal', 'uniquelocal']);

/**
 * Parses BMMS_TRUSTED_PROXIES: comma-separated addresses, CIDRs (`10.0.0.0/8`, `fd00::/8`) or the names
 * loopback, linklocal, uniquelocal. Only a direct peer in this list may set X-Forwarded-For/-Proto.
 * Returns the entries, or the problem with the first bad one.
 */
export function parseTrustedProxies(value: string | undefined): { entries: string[] } | { problem: string } {
  const entries = (value ?? '')
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean);
  for (const entry of entries) {
    if (NAMED_RANGES.has(entry)) continue;
    const [address = '', prefix, ...rest] = entry.split('/');
    const family = isIP(address);
    const max = family === 6 ? 128 : 32;
    const badPrefix = prefix !== undefined && (!/^\d{1,3}$/.test(prefix) || Number(prefix) > max);
    if (family === 0 || badPrefix || rest.length > 0) {
      return {
        problem: `"${entry}" is not an IP address, a CIDR range or one of loopback, linklocal, uniquelocal`,
      };
    }
  }
  return { entries };
}

/**
 * Parses BMMS_ALLOWED_HOSTS: comma-separated `host` or `host:port` exactly as clients send them in `Host`
 * (`mcp.example.com`, `localhost:8080`), lower-cased. Returns the entries, or the problem with the first bad one.
 */
export function parseAllowedHosts(value: string | undefined): { entries: string[] } | { problem: string } {
  const entries = (value ?? '')
    .split(',')
    .map((e) => e.trim().toLowerCase())
    .filter(Boolean);
  for (const entry of entries) {
    const url = /[\s/\\?#@*]/.test(entry) ? null : URL.parse(`http://${entry}`);
    // The URL parser drops a default port (`:80`); an entry must be written as a client's Host header is.
    if (!url || url.host !== entry) {
      return { problem: `"${entry}" is not a host name or host:port, as clients send it in the Host header` };
    }
  }
  return { entries };
}
