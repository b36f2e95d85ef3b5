import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { OAuthClientProvider } from '@modelcontextprotocol/sdk/client/auth.js';
import type {
  OAuthClientInformationMixed,
  OAuthClientMetadata,
  OAuthTokens,
} from '@modelcontextprotocol/sdk/shared/auth.js';
import * as oidc from 'openid-client';

/** A browser stand-in: fetch with a cookie jar (host, name, path) and no automatic redirects. */
export class Browser {
  readonly #cookies = new Map<string, { host: string; name: string; value: string; path: string }>();

  async fetch(url: string, init: RequestInit = {}): Promise<Response> {
    const u = new URL(url);
    const cookie = [...this.#cookies.values()]
      .filter((c) => c.host === u.host && u.pathname.startsWith(c.path))
      .map((c) => `${c.name}=${c.value}`)
      .join('; ');
    const headers = new Headers(init.headers);
    if (cookie) headers.set('cookie', cookie);
    const res = await fetch(url, { ...init, headers, redirect: 'manual' });
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';');
      const eq = (pair as string).indexOf('=');
      const name = (pair as string).slice(0, eq).trim();
      const value = (pair as string).slice(eq + 1).trim();
      const path =
        attrs
          .map((a) => a.trim())
          .find((a) => a.toLowerCase().startsWith('path='))
          ?.slice(5) ?? '/';
      const expired = attrs.some((a) => /^max-age=0$/i.test(a.trim()) || /^expires=Thu, 01 Jan 1970/i.test(a.trim()));
      const id = `${u.host}|${name}@${path}`;
      if (expired || value === '') this.#cookies.delete(id);
      else this.#cookies.set(id, { host: u.host, name, value, path });
    }
    return res;
  }

  /** Posts a form. */
  post(url: string, fields: Record<string, string>): Promise<Response> {
    return this.fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(fields).toString(),
    });
  }

  /** Whether a cookie named `name` is held. */
  has(name: string): boolean {
    return [...this.#cookies.values()].some((c) => c.name === name);
  }
}

/** The value of hidden input `name` in an HTML page. */
export function hiddenField(html: string, name: string): string {
  const m = new RegExp(`name="${name}" value="([^"]*)"`).exec(html);
  if (!m?.[1]) throw new Error(`no hidden field ${name} in page: ${html.slice(0, 500)}`);
  return m[1];
}

/** The action URL of the first form whose action ends with `suffix`. */
export function formAction(html: string, base: string, suffix: string): string {
  const m = new RegExp(`action="([^"]*${suffix})"`).exec(html);
  if (!m?.[1]) throw new Error(`no form ending ${suffix} in page: ${html.slice(0, 500)}`);
  return new URL(m[1].replaceAll('&amp;', '&'), base).toString();
}

/** Follows same-origin redirects from `url` until a page (2xx/4xx) or a redirect elsewhere; returns the last response and its URL. */
export async function follow(
  browser: Browser,
  url: string,
  origin: string,
): Promise<{ res: Response; url: string; location?: string }> {
  let current = url;
  for (let hop = 0; hop < 10; hop++) {
    const res = await browser.fetch(current);
    const location = res.headers.get('location');
    if (res.status < 300 || res.status > 399 || !location) return { res, url: current };
    const next = new URL(location, current);
    if (next.origin !== origin) return { res, url: current, location: next.toString() };
    current = next.toString();
  }
  throw new Error('too many redirects');
}

/**
 * Drives the sign-in and consent pages like a person would: opens `authorizationUrl`, signs in, allows.
 * Returns the final redirect to the client (with `code` or `error`).
 */
export async function signInAndAllow(
  browser: Browser,
  authorizationUrl: string,
  origin: string,
  credentials: { email: string; password: string },
): Promise<URL> {
  let step = await follow(browser, authorizationUrl, origin);
  for (let round = 0; round < 4; round++) {
    if (step.location) return new URL(step.location);
    const html = await step.res.text();
    if (step.res.status !== 200) throw new Error(`page ${step.url} answered ${step.res.status}: ${html.slice(0, 300)}`);
    const csrf = hiddenField(html, 'csrf');
    const action = html.includes('/login"') ? formAction(html, origin, '/login') : formAction(html, origin, '/confirm');
    const fields = action.endsWith('/login') ? { csrf, ...credentials } : { csrf };
    const posted = await browser.post(action, fields);
    const location = posted.headers.get('location');
    if (!location)
      throw new Error(`${action} answered ${posted.status} without a redirect: ${(await posted.text()).slice(0, 300)}`);
    const next = new URL(location, action);
    if (next.origin !== origin) return next;
    step = await follow(browser, next.toString(), origin);
  }
  throw new Error('the authorization did not finish');
}

/** An OAuthClientProvider for the official SDK, kept in memory; `authorizationUrl` is where it would send the user. */
export class MemoryOAuthProvider implements OAuthClientProvider {
  authorizationUrl: URL | undefined;
  #client: OAuthClientInformationMixed | undefined;
  #tokens: OAuthTokens | undefined;
  #verifier = '';
  readonly #redirect: string;
  readonly #name: string;

  constructor(redirect = 'http://127.0.0.1:33418/callback', name = 'e2e client') {
    this.#redirect = redirect;
    this.#name = name;
  }

  get redirectUrl(): string {
    return this.#redirect;
  }

  get clientMetadata(): OAuthClientMetadata {
    return {
      client_name: this.#name,
      redirect_uris: [this.#redirect],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  }

  clientInformation() {
    return this.#client;
  }

  saveClientInformation(info: OAuthClientInformationMixed): void {
    this.#client = info;
  }

  tokens() {
    return this.#tokens;
  }

  saveTokens(tokens: OAuthTokens): void {
    this.#tokens = tokens;
  }

  redirectToAuthorization(url: URL): void {
    this.authorizationUrl = url;
  }

  saveCodeVerifier(verifier: string): void {
    this.#verifier = verifier;
  }

  codeVerifier(): string {
    return this.#verifier;
  }
}

/** Tokens from the second client library (openid-client), for tests that need a real grant. */
export interface GrantedTokens {
  clientId: string;
  accessToken: string;
  refreshToken: string;
  config: oidc.Configuration;
}

/**
 * openid-client end to end: discovery, dynamic registration, authorization code + PKCE S256 + resource
 * (the browser signs in and allows), token. Returns the tokens and the client configuration.
 */
export async function connectWithOpenidClient(
  base: string,
  resource: string,
  credentials: { email: string; password: string },
  redirectUri = 'http://127.0.0.1:45123/cb',
  scope = 'mcp:tools',
): Promise<GrantedTokens> {
  const config = await oidc.dynamicClientRegistration(
    new URL(`${base}/oauth`),
    { redirect_uris: [redirectUri], token_endpoint_auth_method: 'none', client_name: 'openid-client test' },
    oidc.None(),
    { execute: [oidc.allowInsecureRequests] },
  );
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope,
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    resource,
    state,
  });
  const back = await signInAndAllow(new Browser(), url.toString(), base, credentials);
  const tokens = await oidc.authorizationCodeGrant(
    config,
    back,
    { pkceCodeVerifier: verifier, expectedState: state },
    { resource },
  );
  if (!tokens.refresh_token) throw new Error('no refresh token');
  return {
    clientId: config.clientMetadata().client_id,
    accessToken: tokens.access_token,
    refreshToken: tokens.refresh_token,
    config,
  };
}

/** A token endpoint request (form-encoded). */
export async function tokenRequest(base: string, fields: Record<string, string>) {
  const res = await fetch(`${base}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields).toString(),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** A raw MCP tools/list POST with a bearer token. */
export async function mcpPost(url: string, token: string, message: Record<string, unknown> = { method: 'tools/list' }) {
  const res = await fetch(url, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
    },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, ...message }),
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // keep text
  }
  return { status: res.status, headers: res.headers, body };
}

/** A reverse proxy in front of the platform that adds `Authorization: Bearer <token>` (for tools that cannot). */
export async function bearerProxy(target: string, token: string): Promise<{ url: string; close(): Promise<void> }> {
  const to = new URL(target);
  const server = http.createServer((req, res) => {
    const up = http.request(
      {
        host: to.hostname,
        port: to.port,
        path: req.url,
        method: req.method,
        headers: { ...req.headers, authorization: `Bearer ${token}` },
      },
      (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      },
    );
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** Registers a public client (dynamic client registration) and returns its id; fails on any refusal. */
export async function registerPublicClient(base: string, redirectUri: string, clientName?: string): Promise<string> {
  const reg = await fetch(`${base}/oauth/reg`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      redirect_uris: [redirectUri],
      token_endpoint_auth_method: 'none',
      ...(clientName === undefined ? {} : { client_name: clientName }),
    }),
  });
  const body = (await reg.json()) as { client_id?: string; error?: string };
  if (reg.status !== 201 || !body.client_id)
    throw new Error(`registration refused: ${reg.status} ${JSON.stringify(body)}`);
  return body.client_id;
}
