import type { PrismaClient } from '@bmms/prisma';
import { Router } from 'express';
import { requirePermission } from '../accounts/roles.ts';
import { tooManyLogSearches } from '../errors.ts';
import { followerSlots, followLogs } from '../logs/follow.ts';
import { type LogFilter, scanAfter, searchNewest } from '../logs/query.ts';
import { OrgSlots } from '../logs/slots.ts';
import type { LogWriter } from '../logs/writer.ts';
import { findServer } from '../services/servers.ts';
import { input } from './operation.ts';
import { ops } from './operations.ts';
import { principalOf } from './request.ts';

const DEFAULT_LIMIT = 200;
/**
 * Log reads one organization may have in flight at once. One read examines up to 200,000 records (≈ 0.5 s of the
 * platform's time, in steps): a few are plenty for a dashboard and a CLI, and a flood of them from one organization
 * cannot take the platform's time from everyone else's calls.
 */
export const SEARCHES_PER_ORG = 4;

/** What the logs API reads: stored records, and the writer's live ones. */
export interface LogsApiDeps {
  /** Stored log records (and the server they belong to). */
  db: PrismaClient;
  /** Records as they are written, for live followers. */
  logs: LogWriter;
}

/** A server's logs under /api/v1/servers/{name}/logs: a page of records, or a live event stream with follow=1. */
export function logsRouter(ctx: LogsApiDeps): Router {
  const router = Router();
  const slots = followerSlots();
  const searches = new OrgSlots(SEARCHES_PER_ORG, tooManyLogSearches);

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
    // With `after`, the next records in order (a poller misses none); else the newest ones. A search that stopped
    // at its bound says where to go on (`next`).
    const release = searches.take(server.orgId);
    try {
      if (query.after === undefined) {
        const { records, before } = await searchNewest(ctx.db, server.id, filter, limit);
        res.json({ logs: records, ...(before === undefined ? {} : { next: { before: before.toString() } }) });
        return;
      }
      const found = await scanAfter(ctx.db, server.id, { ...filter, after: BigInt(query.after) }, limit);
      const next = found.stopped && found.examined !== undefined ? { next: { after: found.examined.toString() } } : {};
      res.json({ logs: found.records, ...next });
    } finally {
      release();
    }
  });

  return router;
}
