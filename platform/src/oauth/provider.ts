import { lookup } from 'node:dns/promises';
import type { PrismaClient } from '@bmms/prisma';
import { isPublicAddress } from '@bmms/runner-template';
import Provider, { type Configuration, errors, type KoaContextWithOIDC } from 'oidc-provider';
import { audit } from '../audit.ts';
import type { Logger } from '../logger.ts';
import { PrismaAdapter, payloadKey } from './adapter.ts';
import type { SigningKeySet } from './keys.ts';
import { messagePage, PAGE_HEADERS } from './pages.ts';
import { DEFAULT_SCOPE, type DomainServer, routeOfResource, type ServerScopes } from './resources.ts';

/** Access tokens live this long (seconds): short, since a JWT is not looked up on every use. */
export const ACCESS_TOKEN_TTL = 600;
const REFRESH_TOKEN_TTL = 30 * 24 * 60 * 60;

/** What the provider needs from the platform. */
export interface ProviderDeps {
  db: PrismaClient;
  log: Logger;
  /** `<base>/oauth`. */
  issuer: string;
  /** The platform's base URL; resources are `<base>/s/<name>/mcp`. */
  base: string;
  keys: SigningKeySet;
  /** Cookie signing keys, current first. */
  cookieKeys: Buffer[];
  /** The scopes of a server (from its main manifest), or null when there is no such server. */
  serverScopes(server: string): Promise<ServerScopes | null>;
  /** The server a verified custom domain serves: its `<scheme>://<host>/mcp` is a resource too. */
  domainServer?: DomainServer;
  /** Guards Client ID Metadata Document fetches (SSRF); default: the host must resolve to public addresses only. */
  allowMetadataFetch?: (url: URL) => Promise<boolean>;
  /** Called after a grant was revoked or removed, so caches of grants forget it. */
  onGrantRevoked?: () => Promise<void>;
}

const LOOPBACK_HOSTS = new Set(['127.0.0.1', '[::1]', 'localhost']);
const FORBIDDEN_SCHEMES = new Set([
  'javascript:',
  'vbscript:',
  'data:',
  'blob:',
  'file:',
  'about:',
  'ftp:',
  'ws:',
  'wss:',
]);

/**
 * Why a redirect URI is refused, or undefined: https anywhere, http only on a loopback host (any port),
 * or a private-use scheme of a native app (`cursor://…`, `vscode://…`); never credentials in the URL.
 */
export function redirectUriProblem(uri: string): string | undefined {
  const url = URL.parse(uri);
  if (!url) return `"${uri}" is not a URL`;
  if (url.username || url.password) return `"${uri}" must not carry credentials`;
  if (url.hash || uri.includes('#')) return `"${uri}" must not have a fragment`;
  if (url.protocol === 'https:') return undefined;
  if (url.protocol === 'http:') {
    return LOOPBACK_HOSTS.has(url.hostname)
      ? undefined
      : `"${uri}": http is allowed only on loopback (127.0.0.1, [::1], localhost); use https`;
  }
  if (FORBIDDEN_SCHEMES.has(url.protocol) || !/^[a-z][a-z0-9+.-]*:$/.test(url.protocol)) {
    return `"${uri}" uses a scheme that is not allowed`;
  }
  return undefined;
}

/** Whether every address `host` resolves to is public (Client ID Metadata Document fetches). */
export async function resolvesToPublicOnly(url: URL): Promise<boolean> {
  try {
    const addresses = await lookup(url.hostname.replace(/^\[|\]$/g, ''), { all: true, verbatim: true });
    return addresses.length > 0 && addresses.every((a) => isPublicAddress(a.address));
  } catch {
    return false;
  }
}

/** Registered client metadata: `scope` is dropped (scopes are granted per resource), redirect URIs are vetted. */
function clientMetadata(): NonNullable<Configuration['extraClientMetadata']> {
  return {
    properties: ['scope'],
    validator(_ctx, key, _value, metadata) {
      // Clients register the scope they want; scopes are granted per resource, so it is dropped here.
      if (key === 'scope') (metadata as Record<string, unknown>).scope = undefined;
      for (const uri of (metadata.redirect_uris as string[] | undefined) ?? []) {
        const problem = redirectUriProblem(uri);
        // A description starting with redirect_uris makes the error invalid_redirect_uri (RFC 7591).
        if (problem) throw new errors.InvalidClientMetadata(`redirect_uris: ${problem}`);
      }
    },
  };
}

/**
 * What the provider offers besides the code flow: dynamic registration, revocation, userinfo, Client ID Metadata
 * Documents (fetched from public addresses only), and resource indicators (each server's MCP URL is a resource).
 */
function providerFeatures(deps: ProviderDeps): NonNullable<Configuration['features']> {
  return {
    devInteractions: { enabled: false },
    registration: { enabled: true, initialAccessToken: false },
    revocation: { enabled: true },
    introspection: { enabled: false },
    userinfo: { enabled: true },
    rpInitiatedLogout: { enabled: false },
    clientIdMetadataDocument: {
      enabled: true,
      ack: 'draft-02',
      allowFetch: async (_ctx, clientId) => {
        const url = URL.parse(clientId);
        return url !== null && (await (deps.allowMetadataFetch ?? resolvesToPublicOnly)(url));
      },
    },
    resourceIndicators: {
      enabled: true,
      defaultResource: (_ctx, _client, oneOf) => oneOf ?? undefined,
      useGrantedResource: () => true,
      async getResourceServerInfo(_ctx, resourceIndicator) {
        const parsed = routeOfResource(deps.base, resourceIndicator, deps.domainServer);
        const scopes = parsed ? await deps.serverScopes(parsed.server) : null;
        if (!parsed || !scopes) {
          throw new errors.InvalidTarget(`${resourceIndicator} is not the MCP URL of a server on this platform`);
        }
        return {
          scope: [...new Set([DEFAULT_SCOPE, ...scopes.all])].join(' '),
          audience: resourceIndicator,
          accessTokenTTL: ACCESS_TOKEN_TTL,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'ES256' } },
        };
      },
    },
  };
}

/** Builds the oidc-provider instance of the platform: OAuth 2.1 for MCP clients. */
export function createProvider(deps: ProviderDeps): Provider {
  const { db, log } = deps;
  const configuration: Configuration = {
    adapter: (name: string) => new PrismaAdapter(name, db, deps.onGrantRevoked),
    clients: [],
    async findAccount(_ctx, sub) {
      const user = await db.user.findUnique({ where: { id: sub } }).catch(() => null);
      if (!user) return undefined;
      return { accountId: user.id, claims: () => ({ sub: user.id, email: user.email, name: user.name }) };
    },
    claims: { openid: ['sub'], email: ['email'], profile: ['name'] },
    scopes: ['openid', 'offline_access', 'email', 'profile'],
    jwks: { keys: deps.keys.privateJwks as NonNullable<Configuration['jwks']>['keys'] },
    cookies: {
      keys: deps.cookieKeys,
      long: { httpOnly: true, sameSite: 'lax', signed: true },
      short: { httpOnly: true, sameSite: 'lax', signed: true },
    },
    pkce: { required: () => true },
    responseTypes: ['code'],
    clientDefaults: {
      // Most MCP clients are apps on the user's machine (loopback or private-use scheme redirects, RFC 8252);
      // a hosted client registers an https redirect, which native clients may use too.
      application_type: 'native',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
      id_token_signed_response_alg: 'ES256',
    },
    enabledJWA: {
      idTokenSigningAlgValues: ['ES256'],
      requestObjectSigningAlgValues: ['ES256'],
      userinfoSigningAlgValues: ['ES256'],
    },
    allowOmittingSingleRegisteredRedirectUri: false,
    // Never `*`: a browser-based public client may call the token endpoint from its redirect URIs' origins only.
    clientBasedCORS: (_ctx, origin, client) =>
      origin !== 'null' &&
      client.clientAuthMethod === 'none' &&
      client.redirectUris?.some((uri) => URL.parse(uri)?.origin === origin) === true,
    features: providerFeatures(deps),
    // The gateway checks the grant still exists on every call: the JWT names it by its stored hash.
    extraTokenClaims: (_ctx, token) =>
      'grantId' in token && typeof token.grantId === 'string' ? { gid: payloadKey('grant', token.grantId) } : undefined,
    // MCP clients rarely ask for offline_access; every client allowed the grant type gets a (rotating) refresh token.
    issueRefreshToken: (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    rotateRefreshToken: () => true,
    extraClientMetadata: clientMetadata(),
    interactions: { url: (_ctx, interaction) => `/oauth/interaction/${interaction.uid}` },
    ttl: {
      AccessToken: ACCESS_TOKEN_TTL,
      AuthorizationCode: 60,
      IdToken: 3600,
      Interaction: 3600,
      Session: 14 * 24 * 60 * 60,
      Grant: REFRESH_TOKEN_TTL,
      RefreshToken: REFRESH_TOKEN_TTL,
    },
    async renderError(ctx: KoaContextWithOIDC, out) {
      for (const [k, v] of Object.entries(PAGE_HEADERS)) ctx.set(k, v);
      ctx.type = 'html';
      ctx.body = messagePage(
        'Cannot continue',
        `${out.error}: ${out.error_description ?? 'the request was refused'}`.slice(0, 500),
      );
    },
  };
  const provider = new Provider(deps.issuer, configuration);
  // The authorization server overwrites X-Forwarded-Host/-Proto/-For on every request it hands over (asSeenAt),
  // so what the provider believes is the platform's base, never what a client sent.
  provider.proxy = true;
  provider.on('server_error', (_ctx, err) => log.error('authorization server error', { err }));
  provider.on('grant.revoked', (_ctx, grantId) =>
    log.info('grant revoked', { grant: payloadKey('grant', grantId).slice(0, 12) }),
  );
  auditProviderEvents(provider, db, log);
  return provider;
}

/**
 * Audit events of what the provider changes on its own: a client registered (dynamic registration: nobody signed
 * in, so no actor and no org; the address is the request's) and a browser session ended (RP-initiated logout).
 * Written after the answer's work, never failing it: a failed write is logged.
 */
function auditProviderEvents(provider: Provider, db: PrismaClient, log: Logger): void {
  const record = (write: Promise<void>) => write.catch((err: unknown) => log.error('audit write failed', { err }));
  provider.on('registration_create.success', (_ctx, client) => {
    const metadata = client.metadata();
    void record(
      audit(
        db,
        undefined,
        'oauth.client.register',
        { type: 'oauth_client', id: client.clientId },
        {
          clientName: typeof metadata.client_name === 'string' ? metadata.client_name.slice(0, 200) : null,
          redirectUris: (client.redirectUris ?? []).slice(0, 20),
          authMethod: client.tokenEndpointAuthMethod,
        },
      ),
    );
  });
  provider.on('end_session.success', (ctx) => {
    const accountId = ctx.oidc.session?.accountId;
    if (!accountId) return;
    void record(
      audit(
        db,
        { userId: accountId, orgId: '', apiKeyId: null, role: '', scopes: [] },
        'oauth.session.end',
        { type: 'user', id: accountId },
        { client: ctx.oidc.client?.clientId ?? null },
      ),
    );
  });
}
