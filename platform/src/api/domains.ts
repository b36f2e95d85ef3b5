import { Router } from 'express';
import { requirePermission } from '../accounts/roles.ts';
import type { DomainDirectory } from '../domains/directory.ts';
import { addDomain, type DomainDeps, listDomains, removeDomain, verifyDomain } from '../domains/service.ts';
import { notFound } from '../errors.ts';
import { findServer } from '../services/servers.ts';
import { input } from './operation.ts';
import { ops } from './operations.ts';
import { principalOf } from './request.ts';

/** What the custom-domain routes need. */
export type DomainsApiDeps = DomainDeps;

/** Claiming, verifying and removing a server's custom domains; inside /api/v1. */
export function domainsRouter(ctx: DomainsApiDeps): Router {
  const router = Router();

  router.get('/servers/:name/domains', async (req, res) => {
    input(req, ops.listDomains);
    const p = principalOf(res);
    requirePermission(p, 'read');
    const server = await findServer(ctx, p, req.params.name);
    res.json({ domains: await listDomains(ctx, server) });
  });

  router.post('/servers/:name/domains', async (req, res) => {
    const { body } = input(req, ops.addDomain);
    const p = principalOf(res);
    requirePermission(p, 'admin');
    const server = await findServer(ctx, p, req.params.name);
    const { domain, created } = await addDomain(ctx, p, server, body.hostname);
    res.status(created ? 201 : 200).json(domain);
  });

  router.post('/servers/:name/domains/:hostname/verify', async (req, res) => {
    const { params } = input(req, ops.verifyDomain);
    const p = principalOf(res);
    requirePermission(p, 'admin');
    const server = await findServer(ctx, p, params.name);
    res.json(await verifyDomain(ctx, p, server, params.hostname));
  });

  router.delete('/servers/:name/domains/:hostname', async (req, res) => {
    const { params } = input(req, ops.removeDomain);
    const p = principalOf(res);
    requirePermission(p, 'admin');
    const server = await findServer(ctx, p, params.name);
    await removeDomain(ctx, p, server, params.hostname);
    res.status(204).end();
  });

  return router;
}

/**
 * `GET /domains/tls?domain=…`, without a credential: whether a TLS-terminating proxy may get a certificate for a
 * name on demand (only verified custom domains; anything else would let strangers make it request certificates).
 */
export function domainTlsRouter(ctx: { domains: Pick<DomainDirectory, 'lookup'> }): Router {
  const router = Router();
  router.get('/domains/tls', (req, res) => {
    const { query } = input(req, ops.domainTlsAllowed);
    const hostname = query.domain.trim().toLowerCase().replace(/\.$/, '');
    if (!ctx.domains.lookup(hostname)) throw notFound(`verified custom domain "${hostname}"`);
    res.set('Cache-Control', 'no-store');
    res.json({ domain: hostname });
  });
  return router;
}
