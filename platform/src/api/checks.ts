import { Router } from 'express';
import { audit } from '../audit.ts';
import { changeNotOpen, notFound } from '../errors.ts';
import { type ChangeDeps, suiteOfChange } from '../services/changes.ts';
import { type ChangeShowDeps, changeInPath, changeShower } from './changes.ts';
import { input } from './operation.ts';
import { ops } from './operations.ts';
import { numericPathParams, requestIdOf } from './request.ts';

/** What the checks routes need: a change's suite, re-running one check, and showing the change after. */
export type ChecksApiDeps = Pick<ChangeDeps, 'db'> & ChangeShowDeps;

/** A change's checks under /api/v1/servers/:name/changes/:number/checks: one shown with its log, one re-run. */
export function checksRouter(ctx: ChecksApiDeps): Router {
  const router = Router();
  // Param checks are local to a router: this one validates its own change numbers.
  numericPathParams(router);
  const showChange = changeShower(ctx);

  router.get('/servers/:name/changes/:number/checks/:check', async (req, res) => {
    input(req, ops.getCheck);
    const { server, change } = await changeInPath(ctx, req, res, 'read');
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
    const { p, server, change } = await changeInPath(ctx, req, res, 'write');
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
      requestIdOf(res),
    );
    res.status(202).json(await showChange(req, server, change, rerun));
  });

  return router;
}
