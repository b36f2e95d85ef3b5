import { randomBytes } from 'node:crypto';
import type { Server } from '@bmms/prisma';
import {
  feedProblems,
  fieldChoices,
  fieldsOf,
  inWords,
  type Manifest,
  ManifestError,
  manifestText,
  parseManifest,
  renderView,
  type ToolSpec,
  type ViewFields,
  type ViewPattern,
  type ViewRequest,
  withViewTypecheck,
} from '@bmms/runner-template';
import type { Principal } from '../accounts/principal.ts';
import { requirePermission } from '../accounts/roles.ts';
import { ApiError, invalidRequest, serverNotMerged, type ToolFieldIssue, toolOutputIncompatible } from '../errors.ts';
import type { Generation } from '../generation/index.ts';
import { FIT_VIEW_SYSTEM, fitViewRequest, fitViewTool } from '../generation/view-fit.ts';
import { authorOf, type ChangeDeps, openChange } from './changes.ts';

/**
 * What designing a view needs: what opening a change needs, and the model (with its key, when one is configured),
 * which fits the pattern to the first tool's output schema.
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
 * declares (and the other tools declare alike); else (or when the model fails: the first version does not wait on it)
 * read from the schema by name and type.
 */
async function fitFields(
  ctx: ViewDesignDeps,
  request: ViewRequest,
  tool: ToolSpec,
  others: readonly ToolSpec[],
): Promise<Fit> {
  const guess = fieldsOf(tool.outputSchema);
  if (tool.outputSchema === undefined) {
    return { fields: guess, note: `\`${tool.name}\` declares no output schema: the view finds its fields in the data` };
  }
  const generation = ctx.generation;
  if (!generation?.config.anthropicApiKey) {
    return { fields: guess, note: `read from the names and types of \`${tool.name}\`'s output schema` };
  }
  const feeds = (fields: ViewFields) =>
    feedIssues(request.pattern, fields, tool, others).map((p) => `${p.tool}: ${p.field} ${p.message}`);
  try {
    const { title, ...fields } = await generation.model.call({
      system: FIT_VIEW_SYSTEM,
      messages: [{ role: 'user', content: fitViewRequest(request.pattern, tool, guess, others) }],
      tool: fitViewTool(fieldChoices(tool.outputSchema), feeds),
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

/** What keeps each of `others` from feeding a `pattern` view whose fields come from `source` (empty: they all can). */
function feedIssues(
  pattern: ViewPattern,
  fields: ViewFields,
  source: ToolSpec,
  others: readonly ToolSpec[],
): ToolFieldIssue[] {
  return others.flatMap((tool) =>
    feedProblems(pattern, fields, source, tool).map((problem) => ({ tool: tool.name, ...problem })),
  );
}

/** main's head and its parsed mcp.json. */
async function mainManifest(ctx: ViewDesignDeps, server: Server): Promise<{ head: string; manifest: Manifest }> {
  const head = await ctx.git.resolveRef(server.name, 'refs/heads/main');
  const text = head ? await ctx.git.readFile(server.name, head, 'mcp.json') : null;
  if (!head || text === null) throw serverNotMerged(server.name);
  try {
    return { head, manifest: parseManifest(text) };
  } catch (err) {
    if (err instanceof ManifestError) throw invalidRequest(`main's mcp.json is invalid: ${err.message}`);
    throw err;
  }
}

/** The tools named, in order, from main's manifest: the first gives the view its fields. */
function toolsNamed(manifest: Manifest, names: readonly string[]): [ToolSpec, ...ToolSpec[]] {
  const unknown = names.filter((name) => !manifest.tools.some((t) => t.name === name));
  const [first, ...rest] = names.flatMap((name) => manifest.tools.filter((t) => t.name === name));
  if (unknown.length > 0 || first === undefined) {
    throw invalidRequest(
      `main's mcp.json has no tool ${unknown.map((n) => `"${n}"`).join(', ')}: a view is fed by tools of main (${manifest.tools.map((t) => t.name).join(', ')})`,
      { unknown },
    );
  }
  return [first, ...rest];
}

/** The files of the change: the rendered view, mcp.json, and package.json when its typecheck must cover the views. */
async function viewFiles(
  ctx: ViewDesignDeps,
  server: Server,
  head: string,
  manifest: Manifest,
  request: ViewRequest,
  fit: Fit,
): Promise<Record<string, string>> {
  const rendered = renderView(manifest, { ...request, title: request.title ?? fit.title }, fit.fields);
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
  return files;
}

/** The change's title: the view, its pattern and what feeds it (200 characters at most, so several tools are counted). */
function changeTitle(view: string, request: ViewRequest): string {
  const [first, ...rest] = request.tools;
  const fedBy =
    rest.length === 0
      ? first
      : rest.length === 1
        ? `${first} and ${rest[0]}`
        : `${first} and ${rest.length} more tools`;
  return `View ${view}: ${request.pattern} of ${fedBy}`;
}

/** The change's body: the view, its pattern, every tool that feeds it, and where its fields came from. */
function changeBody(uri: string, view: string, request: ViewRequest, fit: Fit): string {
  const named = request.tools.map((t) => `\`${t}\``);
  const [first, ...rest] = named;
  const alike =
    rest.length === 0
      ? ''
      : ` The fields come from ${first}; ${inWords(rest)} ${rest.length === 1 ? 'declares' : 'declare'} those the pattern reads with the same names and types.`;
  return [
    `A first version of the view \`${uri}\` from the **${request.pattern}** pattern, fed by ${inWords(named)}: mcp.json points ${rest.length === 0 ? 'it' : 'each of them'} at the view.`,
    '',
    `Its files are under \`ui/${view}/\`; \`ui/${view}/config.ts\` names the fields it shows (${fit.note}).${alike} Change them in this branch before merging, or merge and iterate.`,
  ].join('\n');
}

/**
 * Designing a view (MCP Apps) from one of the nine patterns: the pattern is rendered for tools of main's manifest
 * into `ui/<view>/` (its fields fitted to the first tool's output schema, by the model when one is configured; every
 * other tool must declare those fields alike), mcp.json declares the view and points each tool at it, and the result
 * is a change like any other — checked, previewed and merged by a person.
 */
export async function proposeView(
  ctx: ViewDesignDeps,
  principal: Principal,
  server: Server,
  request: ViewRequest,
  requestId?: string,
) {
  requirePermission(principal, 'write');
  const { head, manifest } = await mainManifest(ctx, server);
  const [source, ...others] = toolsNamed(manifest, request.tools);
  const view = request.view ?? request.pattern;
  const uri = `ui://${server.name}/${view}`;
  const fit = await fitFields(ctx, request, source, others);
  const issues = feedIssues(request.pattern, fit.fields, source, others);
  if (issues.length > 0) throw toolOutputIncompatible(uri, source.name, issues);
  const files = await viewFiles(ctx, server, head, manifest, request, fit);
  const branch = `views/${view}-${randomBytes(2).toString('hex')}`;
  const title = changeTitle(view, request);
  await ctx.git.commitFiles(server.name, {
    branch,
    parent: head,
    files,
    message: `${title}\n\nRendered from the ${request.pattern} pattern; ${uri} opens with the results of ${inWords(request.tools)}.`,
    author: await authorOf(ctx, principal),
  });
  const body = changeBody(uri, view, request, fit);
  return openChange(ctx, principal, server, { branch, title, body }, requestId);
}
