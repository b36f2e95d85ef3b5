import { isServerName, render } from '@bmms/runner-template';
import { parsedBody } from '../../api/operation.ts';
import {
  type DocumentIssue,
  invalidName,
  invalidRequest,
  openapiSelectionRequired,
  openapiTooManyOperations,
  payloadTooLarge,
} from '../../errors.ts';
import type { Plan } from '../../plans.ts';
import { type Converted, convertDocument } from './convert.ts';
import { type ApiDocument, readDocument, validateTolerant } from './document.ts';
import { listOperations, type Operation, operationListing, selectOperations } from './operations.ts';
import {
  describeRequestSchema,
  type ImportRequest,
  importRequestSchema,
  MAIN_THREAD_BODY_BYTES,
  parseJsonBody,
} from './request.ts';

// The CPU- and memory-heavy part of an OpenAPI import: reading, validating, dereferencing and converting a document.
// It runs in the import worker (worker.ts), never on the main thread; everything in and out is plain data.

/** What to describe: the document as given in `openapi` (object, text or URL), or a request body still unread. */
export type DescribeSource = { openapi: unknown } | { body: Uint8Array };
/** What to import: a request parsed on the main thread, or a request body still unread. */
export type ImportSource = { request: ImportRequest } | { body: Uint8Array };

/** One job for the import worker. */
export type DocumentJob =
  | { kind: 'describe'; source: DescribeSource; allowedHosts: string[] }
  | { kind: 'import'; source: ImportSource; allowedHosts: string[]; plan: Plan };

/** The selection step's answer, less what the main thread adds (the plan's `maxTools`). */
export interface DescribedDocument {
  title: string;
  version: string;
  count: number;
  operations: ReturnType<typeof operationListing>;
  warnings: DocumentIssue[];
}

/** An import worked out: the repo's files and what the change and the API answer say about it. */
export interface PlannedImport {
  name: string;
  /** The rendered repo. */
  files: Record<string, string>;
  /** The document's title (or "OpenAPI"). */
  title: string;
  description: string;
  tools: Converted['tools'];
  secrets: string[];
  baseUrl: string;
  warnings: DocumentIssue[];
  /** Where the repository is created, when on GitHub (the request's `github`). */
  github: ImportRequest['github'];
}

/** Runs one job; throws the ApiError the API answers with. */
export function runJob(job: DocumentJob): Promise<DescribedDocument | PlannedImport> {
  return job.kind === 'describe'
    ? describe(job.source, job.allowedHosts)
    : planImport(job.source, job.allowedHosts, job.plan);
}

async function load(openapi: unknown, allowedHosts: string[]) {
  const raw = await readDocument(openapi, { allowedHosts });
  const { doc, warnings } = await validateTolerant(raw.value);
  return { doc, warnings, url: raw.url, operations: listOperations(doc) };
}

function titleOf(doc: ApiDocument): string {
  const info = (doc.info ?? {}) as { title?: unknown };
  return typeof info.title === 'string' ? info.title : '';
}

async function describe(source: DescribeSource, allowedHosts: string[]): Promise<DescribedDocument> {
  const openapi =
    'body' in source ? parsedBody(describeRequestSchema, parseJsonBody(source.body)).openapi : source.openapi;
  const { doc, operations, warnings } = await load(openapi, allowedHosts);
  const info = (doc.info ?? {}) as { version?: unknown };
  return {
    title: titleOf(doc),
    version: typeof info.version === 'string' ? info.version : '',
    count: operations.length,
    operations: operationListing(operations),
    warnings,
  };
}

/** The import request of a body read here: its shape checked as the route would have. */
function importRequestOf(bytes: Uint8Array): ImportRequest {
  const body = parseJsonBody(bytes);
  // Only an import may be this large; every other body of the route fits in the main thread's limit.
  if (typeof body !== 'object' || body === null || !('openapi' in body)) {
    throw payloadTooLarge(`${MAIN_THREAD_BODY_BYTES / (1024 * 1024)} MB`);
  }
  return parsedBody(importRequestSchema, body);
}

async function planImport(source: ImportSource, allowedHosts: string[], plan: Plan): Promise<PlannedImport> {
  const input = 'request' in source ? source.request : importRequestOf(source.body);
  if (!isServerName(input.name)) throw invalidName(String(input.name ?? ''));
  const name = input.name;
  const loaded = await load(input.openapi, allowedHosts);
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
  const title = titleOf(loaded.doc).trim();
  return {
    name,
    files: render(converted.spec, converted.extras),
    title: title === '' ? 'OpenAPI' : title.slice(0, 80),
    description: converted.spec.description,
    tools: converted.tools,
    secrets: converted.spec.secrets,
    baseUrl: converted.baseUrl,
    warnings: loaded.warnings,
    github: input.github,
  };
}
