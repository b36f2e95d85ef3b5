import type { PreviewManager } from '../previews.ts';
import type { Check } from './types.ts';

/**
 * `preview`: once the checks in `after` passed (the static ones: the code is not run before the
 * security rules accepted it; type errors do not stop a bundle from running), the tree runs in a throw-away instance at
 * `/s/<server>--pr-<N>/mcp`, smoke-tested (initialize, tools/list = mcp.json, valid input schemas,
 * invalid arguments answered with a JSON-RPC error). Removed when the change merges or closes.
 */
export function previewCheck(previews: PreviewManager, after: string[]): Check {
  return {
    name: 'preview',
    after,
    timeoutMs: 60_000,
    prepare: ({ serverName, commitSha }) => previews.prepare(serverName, commitSha),
    run: ({ serverName, commitSha, signal }) => previews.deploy(serverName, commitSha, signal),
  };
}
