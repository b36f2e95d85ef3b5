import { egressRefusal } from '../egress/policy.ts';
import { EgressDeniedError, SecretMissingError, SecretNotDeclaredError } from '../errors.ts';
import type { Manifest } from '../spec.ts';
import type { FetchHop } from './egress-socket.ts';

const MAX_REDIRECTS = 5;

/** Throws EgressDeniedError unless the shared egress policy lets `url` through `egress` (see egress/policy.ts). */
export function assertEgressAllowed(url: URL, egress: readonly string[]): void {
  const refusal = egressRefusal(url, egress);
  if (refusal) throw new EgressDeniedError(url.host, refusal.message, refusal.code);
}

/**
 * A fetch limited to the manifest's egress allowlist; redirects are followed only to allowed hosts. `baseFetch`
 * sends one hop: the global fetch, or the egress proxy's socket when the platform provides one.
 */
export function createEgressFetch(
  egress: readonly string[],
  signal: AbortSignal,
  baseFetch: FetchHop = fetch,
): (input: string | URL, init?: RequestInit) => Promise<Response> {
  return async (input, init = {}) => {
    let url = new URL(input);
    const signals = init.signal ? [signal, init.signal] : [signal];
    const follow = (init.redirect ?? 'follow') === 'follow';
    let request: RequestInit = { ...init, redirect: 'manual', signal: AbortSignal.any(signals) };
    for (let hop = 0; ; hop++) {
      assertEgressAllowed(url, egress);
      const response = await baseFetch(url, request);
      const location = response.headers.get('location');
      if (!follow || response.status < 300 || response.status > 399 || location === null) return response;
      if (hop >= MAX_REDIRECTS) throw new TypeError(`Too many redirects fetching ${url.origin}`);
      await response.body?.cancel();
      url = new URL(location, url);
      if (
        response.status === 303 ||
        ((response.status === 301 || response.status === 302) && request.method === 'POST')
      ) {
        request = { ...request, method: 'GET', body: null };
      }
    }
  };
}

/** Reads declared secrets from `BMMS_SECRET_<NAME>`; remembers handed-out values so logs can redact them. */
export function createSecretReader(
  manifest: Pick<Manifest, 'secrets'>,
  env: Record<string, string | undefined>,
  handedOut: Set<string>,
): (name: string) => string {
  return (name) => {
    if (!manifest.secrets.includes(name)) throw new SecretNotDeclaredError(name);
    const value = env[`BMMS_SECRET_${name}`];
    if (value === undefined || value === '') throw new SecretMissingError(name);
    handedOut.add(value);
    return value;
  };
}
