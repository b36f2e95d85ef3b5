import { randomBytes } from 'node:crypto';
import type { Server } from '@bmms/prisma';
import {
  fieldChoices,
  fieldsOf,
  ManifestError,
  manifestText,
  parseManifest,
  renderView,
  type ToolSpec,
  type ViewFields,
  type ViewRequest,
  withViewTypecheck,
} from '@bmms/runner-template';
import type { Principal } from '../accounts/principal.ts';
import { requirePermission } from '../accounts/roles.ts';
import { ApiError, invalidRequest, serverNotMerged } from '../errors.ts';
import type { Generation } from '../generation/index.ts';
import { FIT_VIEW_SYSTEM, fitViewRequest, fitViewTool } from '../generation/view-fit.ts';
import { authorOf, type ChangeDeps, openChange } from './changes.ts';

/**
 * What designing a view needs: what opening a change needs, and the model (with its key, when one is configured),
 * which fits the pattern to the tool's output schema.
 */
export type ViewDesignDeps = Pick<ChangeDeps, 'db' | 'git' | 'checks' | 'github'> & {
  generation?: Pick<Generation, 'config' | 'model'>;
};

/** The fields a view shows, its title when the model gave one, and a sentence for the change saying where they came from. */
interface Fit {
  fields: ViewFields;
  title?: string;
  note: string;
}

/**
 * The fields of the view: with a model key and an output schema, the model's choice among the names the schema
 * declares; else (or when the model fails: the first version does not wait on it) read from the schema by name and type.
 */
async function fitFields(ctx: ViewDesignDeps, tool: ToolSpec, request: ViewRequest): Promise<Fit> {
  const guess = fieldsOf(tool.outputSchema);
  if (tool.outputSchema === undefined) {
    return { fields: guess, note: `\`${tool.name}\` declares no output schema: the view finds its fields in the data` };
  }
  const generation = ctx.generation;
  if (!generation?.config.anthropicApiKey) {
    return { fields: guess, note: `read from the names and types of \`${tool.name}\`'s output schema` };
  }
  try {
    const { title, ...fields } = await generation.model.call({
      system: FIT_VIEW_SYSTEM,
      messages: [{ role: 'user', content: fitViewRequest(request.pattern, tool, guess) }],
      tool: fitViewTool(fieldChoices(tool.outputSchema)),
    });
    return { fields, title, note: `chosen by the model from \`${tool.name}\`'s output schema` };
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    return {
      fields: guess,
      note: `read from the names and types of \`${tool.name}\`'s output schema: the model could not fit them (${err.code}: ${err.message})`,
    };
  }
}

/**
 * Designing a view (MCP Apps) from one of the nine patterns: the pattern is rendered for a tool of main's
 * manifest into `ui/<view>/` (its fields fitted to the tool's output schema, by the model when one is configured),
 * mcp.json declares the view and points the tool at it, and the result is a change like any other — checked,
 * previewed and merged by a person.
 */
export async function proposeView(
  ctx: ViewDesignDeps,
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
  const tool = manifest.tools.find((t) => t.name === request.tool);
  if (tool === undefined) {
    throw invalidRequest(`"tool" must name a tool of main's mcp.json: ${manifest.tools.map((t) => t.name).join(', ')}`);
  }
  const fit = await fitFields(ctx, tool, request);
  const rendered = renderView(manifest, { ...request, title: request.title ?? fit.title }, fit.fields);
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
    `Its files are under \`ui/${view}/\`; \`ui/${view}/config.ts\` names the fields it shows (${fit.note}). Change them in this branch before merging, or merge and iterate.`,
  ].join('\n');
  return openChange(ctx, principal, server, { branch, title, body }, requestId);
}
