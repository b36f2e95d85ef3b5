import { randomBytes } from 'node:crypto';
import type { Server } from '@bmms/prisma';
import {
  ManifestError,
  manifestText,
  parseManifest,
  renderView,
  type ViewRequest,
  withViewTypecheck,
} from '@bmms/runner-template';
import type { Principal } from '../accounts/principal.ts';
import { requirePermission } from '../accounts/roles.ts';
import { invalidRequest, serverNotMerged } from '../errors.ts';
import { authorOf, type ChangeDeps, openChange } from './changes.ts';

/**
 * Designing a view (MCP Apps) from one of the nine patterns: the pattern is rendered for a tool of main's
 * manifest into `ui/<view>/`, mcp.json declares the view and points the tool at it, and the result is a change
 * like any other — checked, previewed and merged by a person.
 */
export async function proposeView(
  ctx: Pick<ChangeDeps, 'db' | 'git' | 'checks' | 'github'>,
  principal: Principal,
  server: Server,
  request: ViewRequest,
  requestId?: string,
) {
  requirePermission(principal, 'write');
  const head = await ctx.git.resolveRef(server.name, 'refs/heads/main');
  const text = head ? await ctx.git.readFile(server.name, head, 'mcp.json') : null;
  if (!head || text === null) throw serverNotMerged(server.name);
  let manifest: ReturnType<typeof parseManifest>;
  try {
    manifest = parseManifest(text);
  } catch (err) {
    if (err instanceof ManifestError) throw invalidRequest(`main's mcp.json is invalid: ${err.message}`);
    throw err;
  }
  if (!manifest.tools.some((t) => t.name === request.tool)) {
    throw invalidRequest(`"tool" must name a tool of main's mcp.json: ${manifest.tools.map((t) => t.name).join(', ')}`);
  }
  const rendered = renderView(manifest, request);
  const view = request.view ?? request.pattern;
  const files: Record<string, string> = { ...rendered.files, 'mcp.json': manifestText(rendered.manifest) };
  // `npm run typecheck` covers the views too (ui/tsconfig.json, rendered with them).
  const pkg = await ctx.git.readFile(server.name, head, 'package.json');
  if (pkg !== null) {
    try {
      const typed = withViewTypecheck(pkg);
      if (typed !== pkg) files['package.json'] = typed;
    } catch {
      // A package.json that does not parse is the dependencies check's to report; the view is still proposed.
    }
  }
  const branch = `views/${view}-${randomBytes(2).toString('hex')}`;
  const title = `View ${view}: ${request.pattern} of ${request.tool}`;
  await ctx.git.commitFiles(server.name, {
    branch,
    parent: head,
    files,
    message: `${title}\n\nRendered from the ${request.pattern} pattern; ui://${server.name}/${view} opens with ${request.tool}'s results.`,
    author: await authorOf(ctx, principal),
  });
  const body = [
    `A first version of the view \`ui://${server.name}/${view}\` from the **${request.pattern}** pattern, fed by \`${request.tool}\`.`,
    '',
    `Its files are under \`ui/${view}/\`; \`ui/${view}/config.ts\` names the fields it shows (read from the tool's output schema). Change them in this branch before merging, or merge and iterate.`,
  ].join('\n');
  return openChange(ctx, principal, server, { branch, title, body }, requestId);
}
