import express, { type Request, Router } from 'express';
import type { PlatformContext } from '../context.ts';
import { notFound } from '../errors.ts';
import { baseUrlOf, requireApiKey } from '../http/middleware.ts';
import { accountsRouter } from './accounts.ts';
import { auditRouter } from './audit.ts';
import { changesRouter } from './changes.ts';
import { checksRouter } from './checks.ts';
import { dashboardRouter } from './dashboard.ts';
import { generationsRouter } from './generations.ts';
import { logsRouter } from './logs.ts';
import { metricsRouter } from './metrics.ts';
import { openApiDocument } from './openapi.ts';
import { input } from './operation.ts';
import { ops } from './operations.ts';
import { secretsRouter } from './secrets.ts';
import { serversRouter } from './servers.ts';
import { publicTemplatesRouter, templatesRouter } from './templates.ts';

/** The REST API under /api/v1: JSON in, JSON out, errors as {"error":{"code","message"}}. */
export function apiRouter(ctx: PlatformContext): Router {
  const router = Router();
  // The description of the API needs no credential: it describes, it shows no data.
  router.get('/openapi.json', (req, res) => {
    input(req, ops.openApiDocument);
    res.json(openApiDocument(baseUrlOf(ctx, req)));
  });
  router.use(publicTemplatesRouter(ctx));
  router.use(requireApiKey(ctx));
  // OpenAPI documents are large (GitHub's is 13 MB): the routes that take one accept more.
  const takesDocument = (req: Request) =>
    req.method === 'POST' && ['/servers', '/openapi/operations'].includes(req.path);
  router.use(express.json({ limit: '32mb', strict: true, type: (req) => takesDocument(req as Request) }));
  router.use(express.json({ limit: '1mb', strict: true, type: () => true }));

  router.use(serversRouter(ctx));
  router.use(logsRouter(ctx));
  router.use(changesRouter(ctx));
  router.use(checksRouter(ctx));
  router.use(metricsRouter(ctx));
  router.use(secretsRouter(ctx));
  router.use(templatesRouter(ctx));
  router.use(generationsRouter(ctx));
  router.use(accountsRouter(ctx));
  router.use(dashboardRouter(ctx));
  router.use(auditRouter(ctx));

  router.use((req) => {
    throw notFound(`${req.method} ${req.baseUrl}${req.path}`);
  });
  return router;
}
