import { Router } from 'express';
import { requirePermission } from '../accounts/roles.ts';
import type { PlatformContext } from '../context.ts';
import { FollowerSlots, followLogs } from '../logs/follow.ts';
import { type LogFilter, logsAfter, newestLogs } from '../logs/query.ts';
import { findServer } from '../services/servers.ts';
import { input } from './operation.ts';
import { ops } from './operations.ts';
import { principalOf } from './request.ts';

const DEFAULT_LIMIT = 200;

/** A server's logs under /api/v1/servers/{name}/logs: a page of records, or a live event stream with follow=1. */
export function logsRouter(ctx: PlatformContext): Router {
  const router = Router();
  const slots = new FollowerSlots();

  router.get('/servers/:name/logs', async (req, res) => {
    const { query } = input(req, ops.serverLogs);
    const p = principalOf(res);
    requirePermission(p, 'read');
    const server = await findServer(ctx, p, req.params.name);
    const filter: LogFilter = {
      since: query.since,
      until: query.until,
      level: query.level,
      kind: query.kind,
      tool: query.tool,
      q: query.q,
      before: query.before === undefined ? undefined : BigInt(query.before),
    };
    const limit = query.limit ?? DEFAULT_LIMIT;
    if (query.follow === '1' || query.follow === 'true') {
      const lastEventId = req.get('last-event-id')?.trim();
      const resume = query.after ?? (lastEventId && /^[0-9]{1,19}$/.test(lastEventId) ? lastEventId : undefined);
      await followLogs({ db: ctx.db, writer: ctx.logs, slots }, res, {
        serverId: server.id,
        orgId: server.orgId,
        filter,
        limit,
        resumeAfter: resume === undefined ? undefined : BigInt(resume),
      });
      return;
    }
    // With `after`, the next records in order (a poller misses none); else the newest ones.
    const logs =
      query.after === undefined
        ? await newestLogs(ctx.db, server.id, filter, limit)
        : await logsAfter(ctx.db, server.id, { ...filter, after: BigInt(query.after) }, limit);
    res.json({ logs });
  });

  return router;
}
