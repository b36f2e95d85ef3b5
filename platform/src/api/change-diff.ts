import { createTwoFilesPatch } from 'diff';
import { Router } from 'express';
import { diffSurface } from '../checks/surface.ts';
import type { ChangeDeps } from '../services/changes.ts';
import { changeInPath } from './changes.ts';
import { input } from './operation.ts';
import { ops } from './operations.ts';
import { numericPathParams } from './request.ts';
import { toolsOf } from './tools.ts';

/** What the diff route needs: the change's row and both trees. */
export type ChangeDiffApiDeps = Pick<ChangeDeps, 'db' | 'git'>;

/** Files larger than this are listed in a diff but not shown line by line. */
const MAX_DIFF_FILE_BYTES = 512 * 1024;

const decoder = new TextDecoder('utf-8', { fatal: true });
/** A file's text, or null when it is binary (not UTF-8) or too large to show. */
function textOf(bytes: Uint8Array | undefined): string | null {
  if (!bytes || bytes.length > MAX_DIFF_FILE_BYTES) return null;
  try {
    return decoder.decode(bytes);
  } catch {
    return null;
  }
}

/** GET /api/v1/servers/:name/changes/:number/diff: a change's files as unified patches, and its tool-surface diff. */
export function changeDiffRouter(ctx: ChangeDiffApiDeps): Router {
  const router = Router();
  // Param checks are local to a router: this one validates its own change numbers.
  numericPathParams(router);

  router.get('/servers/:name/changes/:number/diff', async (req, res) => {
    input(req, ops.changeDiff);
    const { server, change } = await changeInPath(ctx, req, res, 'read');
    const [base, head] = await Promise.all([
      change.baseSha ? ctx.git.readTree(server.name, change.baseSha) : Promise.resolve({}),
      ctx.git.readTree(server.name, change.headSha),
    ]);
    const baseFiles: Record<string, Uint8Array> = base;
    const headFiles: Record<string, Uint8Array> = head;
    const paths = [...new Set([...Object.keys(baseFiles), ...Object.keys(headFiles)])].sort();
    const files = [];
    for (const path of paths) {
      const a = baseFiles[path];
      const b = headFiles[path];
      if (a && b && Buffer.from(a).equals(Buffer.from(b))) continue;
      const status = !a ? 'added' : !b ? 'deleted' : 'modified';
      const before = a ? textOf(a) : '';
      const after = b ? textOf(b) : '';
      if (before === null || after === null) {
        files.push({ path, status, binary: true, additions: 0, deletions: 0, patch: null });
        continue;
      }
      const patch = createTwoFilesPatch(
        a ? `a/${path}` : '/dev/null',
        b ? `b/${path}` : '/dev/null',
        before,
        after,
        '',
        '',
        {
          context: 3,
        },
      );
      let additions = 0;
      let deletions = 0;
      for (const line of patch.split('\n').slice(2)) {
        if (line.startsWith('+') && !line.startsWith('+++')) additions++;
        else if (line.startsWith('-') && !line.startsWith('---')) deletions++;
      }
      files.push({
        path,
        status,
        binary: false,
        additions,
        deletions,
        patch: `diff --git a/${path} b/${path}\n${patch}`,
      });
    }
    const decode = (f: Uint8Array | undefined) => (f ? textOf(f) : null);
    const surface = diffSurface(toolsOf(decode(baseFiles['mcp.json'])), toolsOf(decode(headFiles['mcp.json'])));
    res.json({
      base: change.baseSha,
      head: change.headSha,
      files,
      surface: {
        added: surface.added.map((t) => ({ name: t.name, description: t.description })),
        removed: surface.removed.map((t) => ({ name: t.name, description: t.description })),
        changed: surface.changed,
        unchanged: surface.unchanged,
      },
    });
  });

  return router;
}
