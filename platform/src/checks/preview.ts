import type { PreviewManager } from '../previews.ts';
import type { Check } from './types.ts';

/**
 * `preview`: once every other check passed, the tree runs in a throw-away instance at
 * `/s/<server>--pr-<N>/mcp`, smoke-tested (initialize, tools/list = mcp.json, valid input schemas,
 * invalid arguments answered with a JSON-RPC error). Removed when the change merges or closes.
 */
export function previewCheck(previews: PreviewManager): Check {
  return {
    name: 'preview',
    afterOthers: true,
    timeoutMs: 60_000,
    prepare: ({ serverName, commitSha }) => previews.prepare(serverName, commitSha),
    run: ({ serverName, commitSha, signal }) => previews.deploy(serverName, commitSha, signal),
  };
}
