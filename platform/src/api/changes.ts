import type { ChangeRequest, Server } from '@bmms/prisma';
import { PATTERN_TITLES, VIEW_PATTERNS } from '@bmms/runner-template';
import { type Request, type Response, Router } from 'express';
import { requirePermission } from '../accounts/roles.ts';
import type { SuiteWithRuns } from '../checks/suites.ts';
import { baseUrlOf, type PublicBaseDeps } from '../http/middleware.ts';
import { previewName } from '../previews.ts';
import {
  type ChangeDeps,
  closeChange,
  findChange,
  mergeChange,
  openChange,
  revertCommit,
  suiteOfChange,
} from '../services/changes.ts';
import { findServer } from '../services/servers.ts';
import { proposeView } from '../services/view-designs.ts';
import { changeView, mcpUrl } from '../services/views.ts';
import { input } from './operation.ts';
import { ops } from './operations.ts';
import { numericPathParams, pathNumber, principalOf, requestIdOf } from './request.ts';

/** What the changes routes need: what changes need, and the public URL their previews answer at. */
export type ChangesApiDeps = ChangeDeps & PublicBaseDeps;

/** What showing a change needs: its checks, whether its preview serves, and the preview's URL. */
export type ChangeShowDeps = Pick<ChangeDeps, 'git' | 'checks' | 'previews'> & PublicBaseDeps;

/** Shows a change with its checks and preview, as every change endpoint answers. */
export const changeShower =
  (ctx: ChangeShowDeps) =>
  async (req: Request, server: Server, change: ChangeRequest, suite?: SuiteWithRuns | null) => ({
    ...changeView(change, suite === undefined ? await suiteOfChange(ctx, server, change) : suite, {
      url: mcpUrl(baseUrlOf(ctx, req), previewName(server.name, change.number)),
      serving: ctx.previews.isServing(server.name, change.number),
    }),
    pullRequest:
      change.githubPull === null
        ? null
        : {
            number: change.githubPull,
            url: server.githubUrl ? `${server.githubUrl}/pull/${change.githubPull}` : null,
          },
  });

/**
 * The caller, the server and the change that `/servers/:name/changes/:number` names (404 for another org's);
 * `permission` is checked before anything is read.
 */
export async function changeInPath(
  ctx: Pick<ChangeDeps, 'db'>,
  req: Request,
  res: Response,
  permission: 'read' | 'write',
) {
  const p = principalOf(res);
  requirePermission(p, permission);
  const server = await findServer(ctx, p, req.params.name as string);
  const change = await findChange(ctx, server, pathNumber(req, 'number'));
  return { p, server, change };
}

/**
 * A server's changes under /api/v1/servers/:name: listed, opened, shown, merged, closed; and a commit of main
 * reverted.
 */
export function changesRouter(ctx: ChangesApiDeps): Router {
  const router = Router();
  // Param checks are local to a router: this one validates its own change numbers.
  numericPathParams(router);
  const showChange = changeShower(ctx);

  router.get('/servers/:name/changes', async (req, res) => {
    const { query } = input(req, ops.listChanges);
    const p = principalOf(res);
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
    const p = principalOf(res);
    const server = await findServer(ctx, p, req.params.name);
    const { change, suite } = await openChange(ctx, p, server, body, requestIdOf(res));
    res.status(201).json(await showChange(req, server, change, suite));
  });

  router.post('/servers/:name/views', async (req, res) => {
    const { body } = input(req, ops.proposeView);
    const p = principalOf(res);
    const server = await findServer(ctx, p, req.params.name);
    const { pattern, view, title } = body;
    const tools = 'tools' in body ? body.tools : [body.tool];
    const { change, suite } = await proposeView(ctx, p, server, { pattern, tools, view, title }, requestIdOf(res));
    res.status(201).json(await showChange(req, server, change, suite));
  });

  router.get('/view-patterns', (req, res) => {
    input(req, ops.listViewPatterns);
    requirePermission(principalOf(res), 'read');
    res.json({ patterns: VIEW_PATTERNS.map((name) => ({ name, title: PATTERN_TITLES[name] })) });
  });

  router.get('/servers/:name/changes/:number', async (req, res) => {
    input(req, ops.getChange);
    const { server, change } = await changeInPath(ctx, req, res, 'read');
    res.json(await showChange(req, server, change));
  });

  router.post('/servers/:name/changes/:number/merge', async (req, res) => {
    input(req, ops.mergeChange);
    const p = principalOf(res);
    const server = await findServer(ctx, p, req.params.name);
    const { sha, change } = await mergeChange(ctx, p, server, pathNumber(req, 'number'), requestIdOf(res));
    res.json({ sha, change: await showChange(req, server, change) });
  });

  router.post('/servers/:name/changes/:number/close', async (req, res) => {
    input(req, ops.closeChange);
    const p = principalOf(res);
    const server = await findServer(ctx, p, req.params.name);
    const change = await closeChange(ctx, p, server, pathNumber(req, 'number'), requestIdOf(res));
    res.json(await showChange(req, server, change));
  });

  router.post('/servers/:name/revert', async (req, res) => {
    const { body } = input(req, ops.revert);
    const p = principalOf(res);
    const server = await findServer(ctx, p, req.params.name);
    const result = await revertCommit(ctx, p, server, body, requestIdOf(res));
    res.status(201).json(result);
  });

  return router;
}
