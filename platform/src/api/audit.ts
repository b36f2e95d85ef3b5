import { once } from 'node:events';
import { Router } from 'express';
import { requirePermission } from '../accounts/roles.ts';
import { exportAudit, listAudit } from '../audit-query.ts';
import type { PlatformContext } from '../context.ts';
import { input } from './operation.ts';
import { ops } from './operations.ts';
import { principalOf } from './request.ts';

/** Events per page when `limit` is not given. */
const DEFAULT_PAGE = 100;

/** The org's audit log under /api/v1/audit: a page as JSON, or every matching event as JSON lines. */
export function auditRouter(ctx: Pick<PlatformContext, 'db'>): Router {
  const router = Router();

  router.get('/audit', async (req, res) => {
    const { query } = input(req, ops.listAudit);
    const p = principalOf(res);
    requirePermission(p, 'admin');
    const { limit, format, ...filter } = query;
    const lines =
      format === 'jsonl' ||
      (format === undefined && req.accepts(['json', 'application/x-ndjson']) === 'application/x-ndjson');
    if (!lines) {
      res.json(await listAudit(ctx.db, p.orgId, filter, limit ?? DEFAULT_PAGE));
      return;
    }
    // An export: streamed a batch at a time, so the whole log is never in memory.
    res.status(200).type('application/x-ndjson').setHeader('Cache-Control', 'no-store');
    res.setHeader('Content-Disposition', 'attachment; filename="audit.jsonl"');
    await exportAudit(
      ctx.db,
      p.orgId,
      filter,
      async (event) => {
        if (!res.write(`${JSON.stringify(event)}\n`)) await Promise.race([once(res, 'drain'), once(res, 'close')]);
      },
      { limit, stopped: () => res.destroyed || res.writableEnded },
    );
    res.end();
  });

  return router;
}
