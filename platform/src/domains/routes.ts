import type { Request, RequestHandler } from 'express';
import { notFound } from '../errors.ts';
import { type GatewayDeps, type GatewayTarget, mcpGateway } from '../gateway/mcp.ts';
import { DEFAULT_SCOPE } from '../oauth/resources.ts';
import type { DomainDirectory, VerifiedDomain } from './directory.ts';

/** What a custom domain's routes need: the gateway's own deps and the verified domains. */
export interface CustomDomainDeps extends GatewayDeps {
  /** The verified custom domains, in memory. */
  domains: Pick<DomainDirectory, 'lookup' | 'size'>;
}

/** The request's verified domain, set by `customDomainRoutes` for the gateway's target. */
const DOMAIN = Symbol('custom domain');
type WithDomain = Request & { [DOMAIN]?: { domain: VerifiedDomain; origin: string } };

/**
 * What a verified custom domain answers (its Host, or X-Forwarded-Host from a trusted proxy): `/mcp` is its
 * server's MCP endpoint (the gateway, with `<origin>/mcp` as the OAuth resource), the RFC 9728 metadata of that
 * resource points clients at the platform's authorization server, `/` says what the domain is; nothing else of the
 * platform (no site, API, sign-in or Git) is served on a customer's name. Other hosts pass through untouched.
 */
export function customDomainRoutes(ctx: CustomDomainDeps): RequestHandler {
  const gateway = mcpGateway(ctx, (req) => domainTarget(ctx, req as WithDomain));
  return (req, res, next) => {
    if (ctx.domains.size === 0) return next();
    const hostname = req.hostname?.toLowerCase();
    const domain = hostname ? ctx.domains.lookup(hostname) : undefined;
    if (!domain) return next();
    const origin = `${schemeOf(ctx, req)}://${req.host.toLowerCase()}`;
    if (req.path === '/mcp') {
      (req as WithDomain)[DOMAIN] = { domain, origin };
      return gateway(req, res, next);
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') throw notFound(`${req.method} ${req.path} on ${hostname}`);
    if (
      req.path === '/.well-known/oauth-protected-resource/mcp' ||
      req.path === '/.well-known/oauth-protected-resource'
    ) {
      return resourceMetadata(ctx, res, domain, origin);
    }
    if (req.path === '/') {
      res.set('Cache-Control', 'no-store');
      return void res.json({
        server: domain.server,
        mcp: `${origin}/mcp`,
        message: `This is the MCP server "${domain.server}": connect an MCP client to ${origin}/mcp`,
      });
    }
    throw notFound(`${req.path} on ${hostname}`, `only ${origin}/mcp is served here`);
  };
}

/** The gateway's target for a call to `<origin>/mcp` of a verified domain; its tokens come from the platform's issuer. */
function domainTarget(ctx: Pick<CustomDomainDeps, 'publicBase'>, req: WithDomain): GatewayTarget {
  const at = req[DOMAIN];
  // Only customDomainRoutes hands requests to this gateway, after setting it.
  if (!at) throw new Error('a custom domain call without its domain');
  return {
    name: at.domain.server,
    resource: `${at.origin}/mcp`,
    metadata: `${at.origin}/.well-known/oauth-protected-resource/mcp`,
    issuerBase: ctx.publicBase.url,
    base: at.origin,
    notBefore: at.domain.verifiedAt,
  };
}

/** RFC 9728 metadata of `<origin>/mcp`: its authorization server is the platform's. */
async function resourceMetadata(
  ctx: CustomDomainDeps,
  res: Parameters<RequestHandler>[1],
  domain: VerifiedDomain,
  origin: string,
): Promise<void> {
  const scopes = await ctx.oauth.serverScopes(domain.server);
  if (!scopes) throw notFound(`MCP server "${domain.server}"`);
  res.set('Cache-Control', 'public, max-age=300');
  res.json({
    resource: `${origin}/mcp`,
    authorization_servers: [`${ctx.publicBase.url}/oauth`],
    scopes_supported: [...new Set([DEFAULT_SCOPE, ...scopes.all])],
    bearer_methods_supported: ['header'],
    resource_name: domain.server,
  });
}

/** https when the request came over TLS (or a trusted proxy says so) or the platform itself is served over https. */
function schemeOf(ctx: Pick<CustomDomainDeps, 'publicBase'>, req: Request): 'http' | 'https' {
  return req.protocol === 'https' || ctx.publicBase.url.startsWith('https:') ? 'https' : 'http';
}
