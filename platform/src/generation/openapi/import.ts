import { render } from '@bmms/runner-template';
import { z } from 'zod';
import type { Principal } from '../../accounts/principal.ts';
import { requirePermission } from '../../accounts/roles.ts';
import type { DocumentIssue } from '../../errors.ts';
import {
  invalidName,
  invalidRequest,
  nameTaken,
  openapiSelectionRequired,
  openapiTooManyOperations,
} from '../../errors.ts';
import { isValidServerName } from '../../services/names.ts';
import { type ProvisionDeps, provisionServer } from '../../services/servers.ts';
import type { Generation } from '../index.ts';
import { type Converted, convertDocument } from './convert.ts';
import { type ApiDocument, readDocument, validateTolerant } from './document.ts';
import { listOperations, type Operation, operationListing, selectOperations } from './operations.ts';

/** What importing an OpenAPI document needs: what creating a server needs, and the generation config. */
export interface OpenApiImportDeps extends ProvisionDeps {
  /** Its config names the hosts a document may be fetched from. */
  generation: Generation;
}

/** The body of POST /servers that imports an OpenAPI document (`name` is checked by the server-name rule). */
export const importRequestSchema = z.strictObject({
  name: z.unknown().optional(),
  openapi: z.union([z.string(), z.record(z.string(), z.unknown())]),
  operations: z.array(z.string().min(1).max(300)).min(1).max(1000).optional(),
  baseUrl: z.string().max(2000).optional(),
  description: z.string().min(1).max(2000).optional(),
  auth: z
    .strictObject({
      type: z.enum(['bearer', 'header', 'query']),
      name: z
        .string()
        .regex(/^[A-Za-z0-9_-]{1,100}$/)
        .optional(),
      secret: z.string().regex(/^[A-Z][A-Z0-9_]*$/, 'must be UPPER_SNAKE_CASE, e.g. API_TOKEN'),
    })
    .optional(),
  github: z
    .strictObject({ owner: z.string(), repo: z.string().optional(), private: z.boolean().optional() })
    .optional(),
});

/** A document read and validated, with its operations. */
export interface LoadedDocument {
  doc: ApiDocument;
  /** What was repaired or skipped to read it (JSON path and what happened). */
  warnings: DocumentIssue[];
  url: URL | undefined;
  operations: Operation[];
}

/** Reads (inline or from an allowed URL), validates and dereferences a document, and lists its operations. */
export async function loadDocument(
  ctx: Pick<OpenApiImportDeps, 'generation'>,
  input: unknown,
): Promise<LoadedDocument> {
  const raw = await readDocument(input, { allowedHosts: ctx.generation.config.openapiHosts });
  const { doc, warnings } = await validateTolerant(raw.value);
  return { doc, warnings, url: raw.url, operations: listOperations(doc) };
}

/** The selection step: every operation of a document, to pick `operations` from. */
export async function describeDocument(
  ctx: Pick<OpenApiImportDeps, 'generation' | 'plans'>,
  principal: Principal,
  input: unknown,
) {
  requirePermission(principal, 'read');
  if (input === undefined) throw invalidRequest('"openapi" is required: the document, its JSON/YAML text or its URL');
  const { doc, operations, warnings } = await loadDocument(ctx, input);
  const info = (doc.info ?? {}) as { title?: unknown; version?: unknown };
  const plan = await ctx.plans.of(principal.orgId);
  return {
    title: typeof info.title === 'string' ? info.title : '',
    version: typeof info.version === 'string' ? info.version : '',
    count: operations.length,
    maxTools: plan.maxTools,
    operations: operationListing(operations),
    warnings,
  };
}

/** A parsed import request (see `importRequestSchema`). */
export type ImportRequest = z.output<typeof importRequestSchema>;

/** Checks the name, loads the document and converts the selected operations (no side effect). */
export async function planImport(
  ctx: Pick<OpenApiImportDeps, 'db' | 'generation' | 'plans'>,
  principal: Principal,
  input: ImportRequest,
): Promise<{
  name: string;
  converted: Converted;
  files: Record<string, string>;
  title: string;
  warnings: DocumentIssue[];
}> {
  if (!isValidServerName(input.name)) throw invalidName(String(input.name ?? ''));
  const name = input.name;
  // Before any fetch or parse: a taken name fails fast and cheaply.
  if (await ctx.db.server.findUnique({ where: { name } })) throw nameTaken(name);
  const loaded = await loadDocument(ctx, input.openapi);
  const plan = await ctx.plans.of(principal.orgId);
  let selected: Operation[];
  if (input.operations === undefined) {
    if (loaded.operations.length > plan.maxTools) {
      throw openapiSelectionRequired(
        loaded.operations.length,
        plan.maxTools,
        loaded.operations.slice(0, 50).map((o) => o.id),
      );
    }
    selected = loaded.operations;
  } else {
    selected = selectOperations(loaded.operations, input.operations);
  }
  if (selected.length === 0) throw invalidRequest('the document has no operations to import');
  if (selected.length > plan.maxTools) throw openapiTooManyOperations(selected.length, plan.maxTools);
  const converted = convertDocument(
    loaded.doc,
    selected,
    name,
    plan,
    { baseUrl: input.baseUrl, auth: input.auth, description: input.description },
    loaded.url,
  );
  const info = (loaded.doc.info ?? {}) as { title?: unknown };
  const title = typeof info.title === 'string' && info.title.trim() !== '' ? info.title.trim().slice(0, 80) : 'OpenAPI';
  return { name, converted, files: render(converted.spec, converted.extras), title, warnings: loaded.warnings };
}

/** Creates a server from an OpenAPI document: one tool per selected operation, change #1 with the rendered repo. */
export async function importOpenApiServer(
  ctx: OpenApiImportDeps,
  principal: Principal,
  input: ImportRequest,
  requestId?: string,
) {
  requirePermission(principal, 'write');
  const { name, converted, files, title, warnings } = await planImport(ctx, principal, input);
  const lines = converted.tools.map((t) => `- \`${t.tool}\`: ${t.method} ${t.path} (${t.operation})`);
  const secrets = converted.spec.secrets;
  const created = await provisionServer(
    ctx,
    principal,
    {
      name,
      files,
      source: 'openapi',
      description: converted.spec.description,
      title: `Create ${name} from the ${title} OpenAPI document (${converted.tools.length} operations)`,
      body: [
        `Imports ${converted.tools.length} operation(s) of ${title} as tools, calling ${converted.baseUrl}.`,
        '',
        ...lines,
        '',
        secrets.length > 0
          ? `Set the secret(s) ${secrets.map((s) => `\`${s}\``).join(', ')} before merging (PUT /api/v1/servers/${name}/secrets/<NAME>).`
          : 'The document declares no credentials.',
        ...warningLines(warnings),
      ].join('\n'),
      ...(input.github ? { github: input.github } : {}),
    },
    requestId,
  );
  return { ...created, tools: converted.tools, secrets, warnings };
}

/** The change body's list of what the import repaired or skipped (at most 100 lines). */
function warningLines(warnings: DocumentIssue[]): string[] {
  if (warnings.length === 0) return [];
  const shown = warnings.slice(0, 100).map((w) => `- \`${w.path}\`: ${w.message}`);
  if (warnings.length > shown.length) shown.push(`- … and ${warnings.length - shown.length} more`);
  return ['', `**Warnings** (${warnings.length}): the document was read with these repairs and skips.`, '', ...shown];
}
