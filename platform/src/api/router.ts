import type { ChangeRequest, Server } from '@bmms/prisma';
import express, { type Request, Router } from 'express';
import { requirePermission } from '../accounts/roles.ts';
import { audit } from '../audit.ts';
import type { SuiteWithRuns } from '../checks/suites.ts';
import type { PlatformContext } from '../context.ts';
import { changeNotOpen, notFound } from '../errors.ts';
import { importOpenApiServer } from '../generation/openapi/import.ts';
import { baseUrlOf, requireApiKey } from '../http/middleware.ts';
import { previewName } from '../previews.ts';
import { closeChange, findChange, mergeChange, openChange, revertCommit, suiteOfChange } from '../services/changes.ts';
import { createServer, deleteServer, findServer } from '../services/servers.ts';
import { forkInfo } from '../services/templates.ts';
import { changeView, mcpUrl, serverView } from '../services/views.ts';
import { accountsRouter } from './accounts.ts';
import { dashboardRouter } from './dashboard.ts';
import { generationsRouter } from './generations.ts';
import { openApiDocument } from './openapi.ts';
import { input } from './operation.ts';
import { ops } from './operations.ts';
import { numericPathParams, pathNumber, principalOf, requestIdOf } from './request.ts';
import { secretsRouter } from './secrets.ts';
import { templatesRouter } from './templates.ts';

const HISTORY_LIMIT = 50;

/** The REST API under /api/v1: JSON in, JSON out, errors as {"error":{"code","message"}}. */
export function apiRouter(ctx: PlatformContext): Router {
  const router = Router();
  // The description of the API needs no credential: it describes, it shows no data.
  router.get('/openapi.json', (req, res) => {
    input(req, ops.openApiDocument);
    res.json(openApiDocument(baseUrlOf(ctx, req)));
  });
  router.use(requireApiKey(ctx));
  numericPathParams(router);
  // OpenAPI documents are large (GitHub's is 13 MB): the routes that take one accept more.
  const takesDocument = (req: Request) =>
    req.method === 'POST' && ['/servers', '/openapi/operations'].includes(req.path);
  router.use(express.json({ limit: '32mb', strict: true, type: (req) => takesDocument(req as Request) }));
  router.use(express.json({ limit: '1mb', strict: true, type: () => true }));

  const principal = principalOf;
  const requestId = requestIdOf;
  /** A change with its checks and preview, as every change endpoint answers. */
  const showChange = async (req: Request, server: Server, change: ChangeRequest, suite?: SuiteWithRuns | null) =>
    changeView(change, suite === undefined ? await suiteOfChange(ctx, server, change) : suite, {
      url: mcpUrl(baseUrlOf(ctx, req), previewName(server.name, change.number)),
      serving: ctx.previews.isServing(server.name, change.number),
    });
  const changeNumber = (req: Request) => pathNumber(req, 'number');

  router.get('/servers', async (req, res) => {
    input(req, ops.listServers);
    const p = principal(res);
    requirePermission(p, 'read');
    const servers = await ctx.db.server.findMany({ where: { orgId: p.orgId }, orderBy: { createdAt: 'asc' } });
    res.json({ servers: servers.map((s) => serverView(s, baseUrlOf(ctx, req))) });
  });

  router.post('/servers', async (req, res) => {
    const { body } = input(req, ops.createServer);
    const { server, change, suite } =
      'openapi' in body
        ? await importOpenApiServer(ctx, principal(res), body, requestId(res))
        : await createServer(ctx, principal(res), body, requestId(res));
    res
      .status(201)
      .json({ server: serverView(server, baseUrlOf(ctx, req)), change: await showChange(req, server, change, suite) });
  });

  router.get('/servers/:name', async (req, res) => {
    input(req, ops.getServer);
    const p = principal(res);
    requirePermission(p, 'read');
    const server = await findServer(ctx, p, req.params.name);
    const history = await ctx.db.deployment.findMany({
      where: { serverId: server.id },
      orderBy: { startedAt: 'desc' },
      take: HISTORY_LIMIT,
    });
    res.json({ ...serverView(server, baseUrlOf(ctx, req), history), ...(await forkInfo(ctx, server)) });
  });

  router.delete('/servers/:name', async (req, res) => {
    input(req, ops.deleteServer);
    await deleteServer(ctx, principal(res), req.params.name, requestId(res));
    res.status(204).end();
  });

  router.get('/servers/:name/changes', async (req, res) => {
    const { query } = input(req, ops.listChanges);
    const p = principal(res);
    requirePermission(p, 'read');
    const server = await findServer(ctx, p, req.params.name);
    const changes = await ctx.db.changeRequest.findMany({
      where: { serverId: server.id, ...(query.state ? { state: query.state } : {}) },
      orderBy: { number: 'desc' },
    });
    const views = [];
    for (const c of changes) views.push(await showChange(req, server, c));
    res.json({ changes: views });
  });

  router.post('/servers/:name/changes', async (req, res) => {
    const { body } = input(req, ops.openChange);
    const p = principal(res);
    const server = await findServer(ctx, p, req.params.name);
    const { change, suite } = await openChange(ctx, p, server, body, requestId(res));
    res.status(201).json(await showChange(req, server, change, suite));
  });

  router.get('/servers/:name/changes/:number', async (req, res) => {
    input(req, ops.getChange);
    const p = principal(res);
    requirePermission(p, 'read');
    const server = await findServer(ctx, p, req.params.name);
    const change = await findChange(ctx, server, changeNumber(req));
    res.json(await showChange(req, server, change));
  });

  router.post('/servers/:name/changes/:number/merge', async (req, res) => {
    input(req, ops.mergeChange);
    const p = principal(res);
    const server = await findServer(ctx, p, req.params.name);
    const { sha, change } = await mergeChange(ctx, p, server, changeNumber(req), requestId(res));
    res.json({ sha, change: await showChange(req, server, change) });
  });

  router.post('/servers/:name/changes/:number/close', async (req, res) => {
    input(req, ops.closeChange);
    const p = principal(res);
    const server = await findServer(ctx, p, req.params.name);
    const change = await closeChange(ctx, p, server, changeNumber(req), requestId(res));
    res.json(await showChange(req, server, change));
  });

  router.post('/servers/:name/revert', async (req, res) => {
    const { body } = input(req, ops.revert);
    const p = principal(res);
    const server = await findServer(ctx, p, req.params.name);
    const result = await revertCommit(ctx, p, server, body, requestId(res));
    res.status(201).json(result);
  });

  router.get('/servers/:name/changes/:number/checks/:check', async (req, res) => {
    input(req, ops.getCheck);
    const p = principal(res);
    requirePermission(p, 'read');
    const server = await findServer(ctx, p, req.params.name);
    const change = await findChange(ctx, server, changeNumber(req));
    const suite = await suiteOfChange(ctx, server, change);
    const run = suite?.runs.find((r) => r.name === req.params.check);
    if (!run) throw notFound(`check "${req.params.check}" of change #${change.number}`);
    res.json({
      name: run.name,
      status: run.status,
      conclusion: run.conclusion,
      summary: run.summary,
      log: run.log,
      durationMs: run.durationMs,
      startedAt: run.startedAt?.toISOString() ?? null,
      completedAt: run.completedAt?.toISOString() ?? null,
      tree: suite?.treeSha ?? null,
    });
  });

  router.post('/servers/:name/changes/:number/checks/:check/rerun', async (req, res) => {
    input(req, ops.rerunCheck);
    const p = principal(res);
    requirePermission(p, 'write');
    const server = await findServer(ctx, p, req.params.name);
    const change = await findChange(ctx, server, changeNumber(req));
    if (change.state !== 'open') throw changeNotOpen(change.number, change.state);
    if (!ctx.checks.checkNames.includes(req.params.check)) {
      throw notFound(`check "${req.params.check}" (checks: ${ctx.checks.checkNames.join(', ')})`);
    }
    const suite = await suiteOfChange(ctx, server, change);
    if (!suite) throw notFound(`checks of change #${change.number}`);
    const rerun = await ctx.checks.rerun(server, suite.id, req.params.check);
    await audit(
      ctx.db,
      p,
      'check.rerun',
      { type: 'change', id: change.id },
      { server: server.name, number: change.number, check: req.params.check },
      requestId(res),
    );
    res.status(202).json(await showChange(req, server, change, rerun));
  });

  router.post('/servers/:name/retry', async (req, res) => {
    input(req, ops.retryServer);
    const p = principal(res);
    requirePermission(p, 'write');
    const server = await findServer(ctx, p, req.params.name);
    ctx.reconciler.retry(server.name);
    await audit(ctx.db, p, 'server.retry', { type: 'server', id: server.id }, { server: server.name }, requestId(res));
    res.status(202).json({ retrying: server.desiredRevision });
  });

  router.use(secretsRouter(ctx));
  router.use(templatesRouter(ctx));
  router.use(generationsRouter(ctx));
  router.use(accountsRouter(ctx));
  router.use(dashboardRouter(ctx));

  router.use((req) => {
    throw notFound(`${req.method} ${req.baseUrl}${req.path}`);
  });
  return router;
}
