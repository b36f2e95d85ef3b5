import type { GitProvider } from '@bmms/gitserver';
import { type Manifest, parseManifest } from '@bmms/runner-template';
import { parsePreviewName } from '../previews.ts';
import { isValidServerName } from '../services/names.ts';

/** The scope every MCP server requires unless its manifest says otherwise. */
export const DEFAULT_SCOPE = 'mcp:tools';

/** What a human reads on the consent page for well-known scopes. */
export const SCOPE_DESCRIPTIONS: Record<string, string> = {
  'mcp:tools': 'list and call the tools of this server on your behalf',
};

/** The MCP URL of route `name` (a server or a preview) under `base`: each one is its own OAuth resource. */
export function resourceUrl(base: string, name: string): string {
  return `${base}/s/${name}/mcp`;
}

/** The base a resource URL `<base>/s/<name>/mcp` lives under, or null when it is not one. */
export function baseOfResource(resource: string): string | null {
  const m = /^(.+)\/s\/[^/]+\/mcp$/.exec(resource);
  return m?.[1] ?? null;
}

/** The RFC 9728 metadata URL of route `name`. */
export function resourceMetadataUrl(base: string, name: string): string {
  return `${base}/.well-known/oauth-protected-resource/s/${name}/mcp`;
}

/**
 * The route named by a resource indicator, when it is exactly `<base>/s/<name>/mcp` (no query, fragment,
 * trailing slash or other host): the server name and the preview's change number, if any.
 */
export function parseResource(base: string, resource: string): { route: string; server: string } | null {
  const prefix = `${base}/s/`;
  if (!resource.startsWith(prefix) || !resource.endsWith('/mcp')) return null;
  const route = resource.slice(prefix.length, -'/mcp'.length);
  const preview = parsePreviewName(route);
  const server = preview?.server ?? route;
  if (!isValidServerName(server) || resourceUrl(base, route) !== resource) return null;
  return { route, server };
}

/** The server a verified custom domain serves (by lower-case hostname), if it is one. */
export type DomainServer = (hostname: string) => string | undefined;

/**
 * The MCP URL of a custom domain, `<scheme>://<host>/mcp`, when `resource` is exactly that (http or https, no
 * credentials, query, fragment or other path); the host may carry a port.
 */
export function customDomainResource(resource: string): { hostname: string } | null {
  const url = URL.parse(resource);
  if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:')) return null;
  if (url.username || url.password || url.search || url.hash || url.pathname !== '/mcp') return null;
  if (`${url.origin}/mcp` !== resource) return null;
  return { hostname: url.hostname };
}

/**
 * The route a resource indicator names: `<base>/s/<name>/mcp` (a server or a preview), or the MCP URL of a
 * verified custom domain (its server). Null when it names neither.
 */
export function routeOfResource(
  base: string,
  resource: string,
  domainServer?: DomainServer,
): { route: string; server: string } | null {
  const onBase = parseResource(base, resource);
  if (onBase || !domainServer) return onBase;
  const custom = customDomainResource(resource);
  const server = custom ? domainServer(custom.hostname) : undefined;
  return server ? { route: server, server } : null;
}

/** The scopes of a server: those every call needs, and those each tool adds. */
export interface ServerScopes {
  required: string[];
  tools: Map<string, string[]>;
  /** Every scope a token for this server may carry. */
  all: string[];
}

/** The scopes a manifest asks for (the default when there is no manifest). */
export function scopesOf(manifest: Manifest | null): ServerScopes {
  const required = manifest?.auth.scopes.length ? manifest.auth.scopes : [DEFAULT_SCOPE];
  const tools = new Map<string, string[]>();
  for (const tool of manifest?.tools ?? []) if (tool.scopes?.length) tools.set(tool.name, tool.scopes);
  const all = [...new Set([...required, ...[...tools.values()].flat()])];
  return { required, tools, all };
}

/** Manifests by (server, revision), read from Git once: the gateway checks tool scopes on every call. */
export class ManifestCache {
  readonly #git: GitProvider;
  readonly #entries = new Map<string, Manifest | null>();

  constructor(git: GitProvider) {
    this.#git = git;
  }

  /** The manifest of `server` at `ref`, or null when it has none or it is invalid. */
  async at(server: string, ref: string): Promise<Manifest | null> {
    const key = `${server}@${ref}`;
    if (/^[0-9a-f]{40}$/.test(ref) && this.#entries.has(key)) return this.#entries.get(key) ?? null;
    let manifest: Manifest | null;
    try {
      const text = await this.#git.readFile(server, ref, 'mcp.json');
      manifest = text === null ? null : parseManifest(text);
    } catch {
      manifest = null;
    }
    if (/^[0-9a-f]{40}$/.test(ref)) {
      if (this.#entries.size > 500) this.#entries.delete(this.#entries.keys().next().value as string);
      this.#entries.set(key, manifest);
    }
    return manifest;
  }
}
