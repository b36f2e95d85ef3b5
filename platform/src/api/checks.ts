import { type Request, Router } from 'express';
import { requirePermission } from '../accounts/roles.ts';
import { audit } from '../audit.ts';
import type { PlatformContext } from '../context.ts';
import { changeNotOpen, notFound } from '../errors.ts';
import { findChange, suiteOfChange } from '../services/changes.ts';
import { findServer } from '../services/servers.ts';
import { changeShower } from './changes.ts';
import { input } from './operation.ts';
import { ops } from './operations.ts';
import { numericPathParams, pathNumber, principalOf, requestIdOf } from './request.ts';

/** A change's checks under /api/v1/servers/:name/changes/:number/checks: one shown with its log, one re-run. */
export function checksRouter(ctx: PlatformContext): Router {
  const router = Router();
  // Param checks are local to a router: this one validates its own change numbers.
  numericPathParams(router);
  const principal = principalOf;
  const requestId = requestIdOf;
  const showChange = changeShower(ctx);
  const changeNumber = (req: Request) => pathNumber(req, 'number');

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

  return router;
}
