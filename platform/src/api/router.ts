import express, { type Request, type RequestHandler, Router } from 'express';
import { notFound, openapiBusy } from '../errors.ts';
import type { GenerationDeps } from '../generation/generations.ts';
import { MAIN_THREAD_BODY_BYTES, parseJsonBody, UnreadBody } from '../generation/openapi/request.ts';
import { baseUrlOf, type CallerDeps, requireApiKey, storableInput } from '../http/middleware.ts';
import type { TemplateDeps } from '../services/templates.ts';
import { type AccountsApiDeps, accountsRouter } from './accounts.ts';
import { auditRouter } from './audit.ts';
import { type BillingApiDeps, billingRouter, billingWebhookRouter } from './billing.ts';
import { type ChangesApiDeps, changesRouter } from './changes.ts';
import { type ChecksApiDeps, checksRouter } from './checks.ts';
import { type DashboardApiDeps, dashboardRouter } from './dashboard.ts';
import { type DomainsApiDeps, domainsRouter, domainTlsRouter } from './domains.ts';
import { generationsRouter } from './generations.ts';
import { type GitHubApiDeps, githubRouter } from './github.ts';
import { type LogsApiDeps, logsRouter } from './logs.ts';
import { metricsRouter } from './metrics.ts';
import { openApiDocument } from './openapi.ts';
import { input } from './operation.ts';
import { ops } from './operations.ts';
import { type ReplayApiDeps, replayRouter } from './replay.ts';
import { type SecretsApiDeps, secretsRouter } from './secrets.ts';
import { type ServersApiDeps, serversRouter } from './servers.ts';
import { publicTemplatesRouter, templatesRouter } from './templates.ts';
import { type UsageApiDeps, usageRouter } from './usage.ts';

/** What the REST API needs: what finding the caller needs, and what each of its routers needs. */
export type ApiDeps = CallerDeps &
  ServersApiDeps &
  ChangesApiDeps &
  ChecksApiDeps &
  SecretsApiDeps &
  ReplayApiDeps &
  DomainsApiDeps &
  TemplateDeps &
  GenerationDeps &
  AccountsApiDeps &
  DashboardApiDeps &
  LogsApiDeps &
  UsageApiDeps &
  GitHubApiDeps &
  BillingApiDeps;

/**
 * The raw body of a route that takes an OpenAPI document: parsed here up to `MAIN_THREAD_BODY_BYTES` (a JSON parse of
 * a few milliseconds at most), else left unread for the import worker (`UnreadBody`).
 */
/**
 * Large documents held in memory at once (being uploaded, or waiting for the import worker): as many as the reader
 * takes, running and waiting (2 + 8). A flood of 32 MB uploads would otherwise hold every one of them in memory
 * before the reader refused all but ten; past this many a large upload is refused unread, as the reader would. One
 * organization holds at most LARGE_DOCUMENTS_PER_ORG of them, so that slow uploads of one cannot keep everyone
 * else's imports out.
 */
const LARGE_DOCUMENTS_HELD = 10;
const LARGE_DOCUMENTS_PER_ORG = 2;

/** Refuses (`503 openapi_busy`) a large upload past the bounds above; counts it until it is answered. */
function largeDocumentGate(takesDocument: (req: Request) => boolean): RequestHandler {
  let held = 0;
  const byOrg = new Map<string, number>();
  return (req, res, next) => {
    if (!takesDocument(req)) return next();
    const length = Number(req.get('content-length'));
    // Small bodies are parsed on the main thread like any other; a chunked one is counted (its size is unknown).
    if (Number.isFinite(length) && length <= MAIN_THREAD_BODY_BYTES) return next();
    const org = (res.locals.principal as { orgId?: string } | undefined)?.orgId ?? '';
    const ofOrg = byOrg.get(org) ?? 0;
    if (held >= LARGE_DOCUMENTS_HELD || ofOrg >= LARGE_DOCUMENTS_PER_ORG) throw openapiBusy(held, 5);
    held++;
    byOrg.set(org, ofOrg + 1);
    res.once('close', () => {
      held--;
      const left = (byOrg.get(org) ?? 1) - 1;
      if (left > 0) byOrg.set(org, left);
      else byOrg.delete(org);
    });
    next();
  };
}

const documentBody: RequestHandler = (req, _res, next) => {
  if (Buffer.isBuffer(req.body)) {
    req.body = req.body.length > MAIN_THREAD_BODY_BYTES ? new UnreadBody(req.body) : parseJsonBody(req.body);
  }
  next();
};

/** The REST API under /api/v1: JSON in, JSON out, errors as {"error":{"code","message"}}. */
export function apiRouter(ctx: ApiDeps): Router {
  const router = Router();
  // The description of the API needs no credential: it describes, it shows no data.
  router.get('/openapi.json', (req, res) => {
    input(req, ops.openApiDocument);
    res.json(openApiDocument(baseUrlOf(ctx, req)));
  });
  router.use(publicTemplatesRouter(ctx));
  // A TLS-terminating proxy asks it before it gets a certificate for a name: no credential.
  router.use(domainTlsRouter(ctx));
  // Stripe signs the raw body and sends no credential: before the key check and the JSON parser.
  router.use(billingWebhookRouter(ctx));
  router.use(requireApiKey(ctx));
  // OpenAPI documents are large (GitHub's is 13 MB): the routes that take one accept more, and leave a body too
  // large to parse on the main thread to the import worker.
  const takesDocument = (req: Request) =>
    req.method === 'POST' && ['/servers', '/openapi/operations'].includes(req.path);
  router.use(
    largeDocumentGate(takesDocument),
    express.raw({ limit: '32mb', type: (req) => takesDocument(req as Request) }),
    documentBody,
  );
  router.use(express.json({ limit: '1mb', strict: true, type: () => true }));
  router.use(storableInput());

  router.use(serversRouter(ctx));
  router.use(logsRouter(ctx));
  router.use(changesRouter(ctx));
  router.use(checksRouter(ctx));
  router.use(metricsRouter(ctx));
  router.use(usageRouter(ctx));
  router.use(githubRouter(ctx));
  router.use(billingRouter(ctx));
  router.use(secretsRouter(ctx));
  router.use(replayRouter(ctx));
  router.use(domainsRouter(ctx));
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
