import { Router } from 'express';
import { requirePermission } from '../accounts/roles.ts';
import {
  confirmGeneration,
  findGeneration,
  type GenerationDeps,
  generationView,
  isTerminal,
  startGeneration,
  storedEvents,
} from '../generation/generations.ts';
import type { GenerationEvent } from '../generation/index.ts';
import { describeDocument } from '../generation/openapi/import.ts';
import { unreadBody } from '../generation/openapi/request.ts';
import { input } from './operation.ts';
import { ops } from './operations.ts';
import { principalOf, requestIdOf } from './request.ts';

const HEARTBEAT_MS = 15_000;

/** Generation from a prompt (with its event stream) and the OpenAPI selection step; mounted inside /api/v1. */
export function generationsRouter(ctx: GenerationDeps): Router {
  const router = Router();
  const links = (id: string) => ({
    self: `/api/v1/generations/${id}`,
    events: `/api/v1/generations/${id}/events`,
    confirm: `/api/v1/generations/${id}/confirm`,
  });

  router.post('/generations', async (req, res) => {
    const { body } = input(req, ops.startGeneration);
    const row = await startGeneration(ctx, principalOf(res), body, requestIdOf(res));
    res
      .status(202)
      .location(links(row.id).self)
      .json({ ...generationView(row), links: links(row.id) });
  });

  router.get('/generations/:id', async (req, res) => {
    input(req, ops.getGeneration);
    const p = principalOf(res);
    requirePermission(p, 'read');
    const row = await findGeneration(ctx, p, req.params.id);
    res.json({ ...generationView(row), links: links(row.id) });
  });

  router.post('/generations/:id/confirm', async (req, res) => {
    const { body } = input(req, ops.confirmGeneration);
    const row = await confirmGeneration(ctx, principalOf(res), req.params.id, body, requestIdOf(res));
    res.status(202).json({ ...generationView(row), links: links(row.id) });
  });

  // Server-sent events: the stored log first (from Last-Event-ID on), then live events until the generation ends.
  router.get('/generations/:id/events', async (req, res) => {
    input(req, ops.generationEvents);
    const p = principalOf(res);
    requirePermission(p, 'read');
    const row = await findGeneration(ctx, p, req.params.id);
    const lastId = Number(req.get('last-event-id') ?? -1);
    const after = Number.isInteger(lastId) ? lastId : -1;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    let sent = after;
    const write = (event: GenerationEvent) => {
      if (event.seq <= sent) return;
      sent = event.seq;
      res.write(`id: ${event.seq}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`);
    };
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      unsubscribe();
      clearInterval(heartbeat);
      res.end();
    };
    // Subscribe before reading the log again, so no event falls between the two; live events wait until the
    // stored log is replayed, so the stream stays in order (a live event must not overtake an older stored one).
    let live: { event: GenerationEvent; status: string }[] | null = [];
    const unsubscribe = ctx.generation.subscribe(row.id, (event, status) => {
      if (live) {
        live.push({ event, status });
        return;
      }
      write(event);
      if (isTerminal(status)) finish();
    });
    const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), HEARTBEAT_MS);
    req.on('close', finish);
    const fresh = await ctx.db.generation.findUniqueOrThrow({ where: { id: row.id } });
    for (const event of storedEvents(fresh)) write(event);
    const buffered = live;
    live = null;
    for (const { event } of buffered.sort((a, b) => a.event.seq - b.event.seq)) write(event);
    if (isTerminal(fresh.status) || buffered.some((b) => isTerminal(b.status))) finish();
  });

  router.post('/openapi/operations', async (req, res) => {
    // A body too large to parse here is parsed and checked by the import worker.
    const unread = unreadBody(req.body);
    const openapi = unread ? undefined : input(req, ops.describeDocument).body.openapi;
    res.json(await describeDocument(ctx, principalOf(res), openapi, unread));
  });

  router.get('/openapi/operations', async (req, res) => {
    const { query } = input(req, ops.describeDocumentAt);
    res.json(await describeDocument(ctx, principalOf(res), query.url));
  });

  return router;
}
