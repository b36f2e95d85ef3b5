import { Router } from 'express';
import { requirePermission } from '../accounts/roles.ts';
import { findServer } from '../services/servers.ts';
import {
  findPublished,
  listTemplates,
  publicTemplates,
  publishedView,
  publishServer,
  type TemplateDeps,
  takedownTemplate,
} from '../services/templates.ts';
import { input } from './operation.ts';
import { ops } from './operations.ts';
import { principalOf, requestIdOf } from './request.ts';

/** The template catalog, publishing a server as a template and takedowns; mounted inside /api/v1. */
export function templatesRouter(ctx: TemplateDeps): Router {
  const router = Router();

  router.get('/templates', async (req, res) => {
    input(req, ops.listTemplates);
    res.json({ templates: await listTemplates(ctx, principalOf(res)) });
  });

  router.get('/templates/:ref', async (req, res) => {
    input(req, ops.getTemplate);
    const p = principalOf(res);
    requirePermission(p, 'read');
    const template = await findPublished(ctx, p, req.params.ref);
    const source = template.sourceServerId
      ? await ctx.db.server.findUnique({ where: { id: template.sourceServerId }, select: { name: true } })
      : null;
    const forks =
      template.orgId === p.orgId ? await ctx.db.templateFork.count({ where: { templateId: template.id } }) : undefined;
    res.json({ ...publishedView(template, p, source?.name), ...(forks === undefined ? {} : { forks }) });
  });

  router.post('/servers/:name/publish', async (req, res) => {
    const { body } = input(req, ops.publish);
    const p = principalOf(res);
    const server = await findServer(ctx, p, req.params.name);
    const { template, created } = await publishServer(ctx, p, server, body, requestIdOf(res));
    res.status(created ? 201 : 200).json(publishedView(template, p, server.name));
  });

  router.post('/templates/:ref/takedown', async (req, res) => {
    const { body } = input(req, ops.takedown);
    const p = principalOf(res);
    const { template, notified } = await takedownTemplate(ctx, p, req.params.ref, body, requestIdOf(res));
    res.json({ ...publishedView(template, p), notified });
  });

  return router;
}

/**
 * The public template gallery, mounted before the API's credential check: with the OpenAPI document, the only API
 * routes that answer without a key or a session (the site's /templates/ page reads it). It lists nothing private.
 */
export function publicTemplatesRouter(ctx: Pick<TemplateDeps, 'db'>): Router {
  const router = Router();
  // Anyone may ask, as often as they like: requests that arrive while the list is being read share that read, so a
  // flood costs the database one query at a time (and a publish or takedown shows in the next read).
  let reading: ReturnType<typeof publicTemplates> | undefined;
  router.get('/public/templates', async (req, res) => {
    input(req, ops.publicTemplates);
    reading ??= publicTemplates(ctx).finally(() => {
      reading = undefined;
    });
    const templates = await reading;
    // The same for everyone, so shared caches may keep it a minute.
    res.setHeader('Cache-Control', 'public, max-age=60');
    res.json({ templates });
  });
  return router;
}
