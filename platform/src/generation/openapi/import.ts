import type { Principal } from '../../accounts/principal.ts';
import { requirePermission } from '../../accounts/roles.ts';
import type { DocumentIssue } from '../../errors.ts';
import { invalidName, invalidRequest, nameTaken } from '../../errors.ts';
import { isValidServerName } from '../../services/names.ts';
import { type ProvisionDeps, provisionServer } from '../../services/servers.ts';
import { storableText } from '../../storable.ts';
import type { Generation } from '../index.ts';
import type { PlannedImport } from './job.ts';
import { type ImportRequest, UnreadBody } from './request.ts';

/** What importing an OpenAPI document needs: what creating a server needs, and the generation config. */
export interface OpenApiImportDeps extends ProvisionDeps {
  /** Its config names the hosts a document may be fetched from; its reader reads documents off the main thread. */
  generation: Generation;
}

/**
 * The selection step: every operation of a document, to pick `operations` from. `input` is the document as given
 * (object, text or URL), or the request body still unread when it was too large to parse on the main thread.
 */
export async function describeDocument(
  ctx: Pick<OpenApiImportDeps, 'generation' | 'plans'>,
  principal: Principal,
  input: unknown,
  unread?: UnreadBody,
) {
  requirePermission(principal, 'read');
  if (!unread && input === undefined) {
    throw invalidRequest('"openapi" is required: the document, its JSON/YAML text or its URL');
  }
  const { documents, config } = ctx.generation;
  const [described, plan] = await Promise.all([
    documents.describe(unread ? { body: unread.bytes } : { openapi: input }, config.openapiHosts),
    ctx.plans.of(principal.orgId),
  ]);
  const { title, version, count, operations, warnings } = described;
  return { title, version, count, maxTools: plan.maxTools, operations, warnings };
}

/** A name that is valid and free; checked before a document is read when the request is already parsed. */
async function checkName(ctx: Pick<OpenApiImportDeps, 'db'>, name: unknown): Promise<void> {
  if (!isValidServerName(name)) throw invalidName(String(name ?? ''));
  if (await ctx.db.server.findUnique({ where: { name } })) throw nameTaken(name);
}

/**
 * Checks the name, then reads the document and converts the selected operations in the import worker (no side
 * effect). A request body too large for the main thread is parsed and checked there too, its name checked after.
 */
export async function planImport(
  ctx: Pick<OpenApiImportDeps, 'db' | 'generation' | 'plans'>,
  principal: Principal,
  input: ImportRequest | UnreadBody,
): Promise<PlannedImport> {
  const parsed = input instanceof UnreadBody ? undefined : input;
  // Before any fetch or parse: a taken name fails fast and cheaply.
  if (parsed) await checkName(ctx, parsed.name);
  const plan = await ctx.plans.of(principal.orgId);
  const source = input instanceof UnreadBody ? { body: input.bytes } : { request: input };
  const planned = await ctx.generation.documents.planImport(source, ctx.generation.config.openapiHosts, plan);
  if (!parsed) await checkName(ctx, planned.name);
  return planned;
}

/** Creates a server from an OpenAPI document: one tool per selected operation, change #1 with the rendered repo. */
export async function importOpenApiServer(
  ctx: OpenApiImportDeps,
  principal: Principal,
  input: ImportRequest | UnreadBody,
  requestId?: string,
) {
  requirePermission(principal, 'write');
  const { name, tools, secrets, baseUrl, description, files, title, warnings, github } = await planImport(
    ctx,
    principal,
    input,
  );
  const lines = tools.map((t) => `- \`${t.tool}\`: ${t.method} ${t.path} (${t.operation})`);
  // The document is data: its title, paths and operation ids may hold what the database cannot store (a NUL).
  const created = await provisionServer(
    ctx,
    principal,
    {
      name,
      files,
      source: 'openapi',
      description,
      title: storableText(`Create ${name} from the ${title} OpenAPI document (${tools.length} operations)`),
      body: storableText(
        [
          `Imports ${tools.length} operation(s) of ${title} as tools, calling ${baseUrl}.`,
          '',
          ...lines,
          '',
          secrets.length > 0
            ? `Set the secret(s) ${secrets.map((s) => `\`${s}\``).join(', ')} before merging (PUT /api/v1/servers/${name}/secrets/<NAME>).`
            : 'The document declares no credentials.',
          ...warningLines(warnings),
        ].join('\n'),
      ),
      ...(github ? { github } : {}),
    },
    requestId,
  );
  return { ...created, tools, secrets, warnings };
}

/** The change body's list of what the import repaired or skipped (at most 100 lines). */
function warningLines(warnings: DocumentIssue[]): string[] {
  if (warnings.length === 0) return [];
  const shown = warnings.slice(0, 100).map((w) => `- \`${w.path}\`: ${w.message}`);
  if (warnings.length > shown.length) shown.push(`- … and ${warnings.length - shown.length} more`);
  return ['', `**Warnings** (${warnings.length}): the document was read with these repairs and skips.`, '', ...shown];
}
