import type { PrismaClient } from '@bmms/prisma';
import { Router } from 'express';
import { requirePermission } from '../accounts/roles.ts';
import { audit } from '../audit.ts';
import type { ReplayRecorder } from '../replay/recorder.ts';
import type { ReplaySettingsView } from '../replay/types.ts';
import { findServer } from '../services/servers.ts';
import { input } from './operation.ts';
import { ops } from './operations.ts';
import { principalOf, requestIdOf } from './request.ts';

/** What the replay routes need. */
export interface ReplayApiDeps {
  /** Servers and the audit log. */
  db: PrismaClient;
  /** The owner's consent and the recordings. */
  replay: Pick<ReplayRecorder, 'settings' | 'setSettings' | 'count' | 'deleteAll'>;
}

/** Consent to recording production calls for the replay check, and deleting the recordings; inside /api/v1. */
export function replayRouter(ctx: ReplayApiDeps): Router {
  const router = Router();
  const answer = async (serverId: string, settings: ReplaySettingsView) => ({
    ...settings,
    recordings: await ctx.replay.count(serverId),
  });

  router.get('/servers/:name/replay', async (req, res) => {
    input(req, ops.getReplay);
    const p = principalOf(res);
    requirePermission(p, 'read');
    const server = await findServer(ctx, p, req.params.name);
    res.json(await answer(server.id, await ctx.replay.settings(server.id)));
  });

  router.put('/servers/:name/replay', async (req, res) => {
    const { body } = input(req, ops.setReplay);
    const p = principalOf(res);
    requirePermission(p, 'admin');
    const server = await findServer(ctx, p, req.params.name);
    const base = await ctx.replay.settings(server.id);
    const settings: ReplaySettingsView = {
      enabled: body.enabled,
      sampleRate: body.sampleRate ?? base.sampleRate,
      maxRecordings: body.maxRecordings ?? base.maxRecordings,
      retentionDays: body.retentionDays ?? base.retentionDays,
    };
    await ctx.replay.setSettings(server, settings);
    await audit(
      ctx.db,
      p,
      settings.enabled ? 'replay.enable' : 'replay.disable',
      { type: 'server', id: server.id },
      { server: server.name, ...settings },
      requestIdOf(res),
    );
    res.json(await answer(server.id, settings));
  });

  router.delete('/servers/:name/replay/recordings', async (req, res) => {
    input(req, ops.deleteReplayRecordings);
    const p = principalOf(res);
    requirePermission(p, 'admin');
    const server = await findServer(ctx, p, req.params.name);
    const deleted = await ctx.replay.deleteAll(server.id);
    await audit(
      ctx.db,
      p,
      'replay.delete_recordings',
      { type: 'server', id: server.id },
      { server: server.name, deleted },
      requestIdOf(res),
    );
    res.json({ deleted });
  });

  return router;
}
