import {
  createDocument,
  type ZodOpenApiOperationObject,
  type ZodOpenApiPathsObject,
  type ZodOpenApiResponsesObject,
} from 'zod-openapi';
import { SESSION_COOKIE } from '../accounts/sessions.ts';
import type { Operation } from './operation.ts';
import { ops } from './operations.ts';
import { errorAnswer } from './schemas.ts';

/** The errors every operation may answer, beyond its own (`Operation.errors`). */
const COMMON_ERRORS = {
  400: 'invalid_request: a parameter or the body does not fit (the message names the field); invalid_json: the body is not JSON.',
  401: 'unauthorized: no credential, or an unknown or revoked key.',
  403: "forbidden: your role may not do this; csrf_failed: a session's change without its X-CSRF-Token.",
  404: 'not_found: no such server, change or other thing in your organization.',
} as const;

const API_DESCRIPTION = [
  'The REST API of BuildMyMCPServer: servers (each a Git repository), changes (pull requests) with their checks,',
  'deploys, rollbacks, secrets, templates, generation, and accounts. JSON in, JSON out.',
  '',
  'Errors have one shape, `{"error": {"code", "message", "details"?}}`: branch on `code`. A body or parameter',
  'that does not fit its schema is `400 invalid_request`; the message names each field at fault',
  '(`body.name: expected string, got number`) and `details.issues` lists `{path, message}`. Unknown body fields',
  'are refused the same way; unknown query parameters are ignored.',
].join('\n');

/** A security requirement per credential: an API key, or a browser session (plus its CSRF token when it changes something). */
function securityOf(op: Operation): Record<string, string[]>[] {
  if (op.role === null) return [];
  return op.method === 'get' ? [{ apiKey: [] }, { session: [] }] : [{ apiKey: [] }, { session: [], csrf: [] }];
}

/** Who may call an operation, in words. */
function whoMay(op: Operation): string {
  if (op.role === null) return 'Anyone: no credential needed.';
  if (op.role === 'operator') return "Role: owner of the platform operator's organization.";
  return `Role: ${op.role} or above.`;
}

type Status = `${1 | 2 | 3 | 4 | 5}${string}`;

/** The success answers, then the failures every such operation may meet, then the operation's own. */
function responsesOf(op: Operation): ZodOpenApiResponsesObject {
  const responses: ZodOpenApiResponsesObject = {};
  for (const [status, answer] of Object.entries(op.answers)) {
    const content = answer.schema ? { [answer.mediaType ?? 'application/json']: { schema: answer.schema } } : undefined;
    responses[status as Status] = { description: answer.description, ...(content ? { content } : {}) };
  }
  const failures: Record<string, string> = {
    ...(op.params || op.query || op.body ? { 400: COMMON_ERRORS[400] } : {}),
    ...(op.role === null ? {} : { 401: COMMON_ERRORS[401], 403: COMMON_ERRORS[403] }),
    ...(op.params ? { 404: COMMON_ERRORS[404] } : {}),
    ...op.errors,
  };
  for (const [status, codes] of Object.entries(failures)) {
    responses[status as Status] = { description: codes, content: { 'application/json': { schema: errorAnswer } } };
  }
  return responses;
}

function operationObject(name: string, op: Operation): ZodOpenApiOperationObject {
  const requestParams = { ...(op.params ? { path: op.params } : {}), ...(op.query ? { query: op.query } : {}) };
  return {
    operationId: name,
    summary: op.summary,
    description: [op.description, whoMay(op)].filter(Boolean).join('\n\n'),
    tags: op.tags,
    security: securityOf(op),
    'x-bmms-role': op.role,
    ...(Object.keys(requestParams).length > 0 ? { requestParams } : {}),
    ...(op.body ? { requestBody: { required: true, content: { 'application/json': { schema: op.body } } } } : {}),
    responses: responsesOf(op),
  };
}

/** The OpenAPI 3.1 document of the REST API, from the operation table and its zod schemas. */
export function buildOpenApiDocument(table: Record<string, Operation> = ops) {
  const paths: ZodOpenApiPathsObject = {};
  for (const [name, op] of Object.entries(table)) {
    paths[op.path] = { ...paths[op.path], [op.method]: operationObject(name, op) };
  }
  return createDocument({
    openapi: '3.1.0',
    info: { title: 'BuildMyMCPServer REST API', version: '1', description: API_DESCRIPTION },
    servers: [{ url: '/api/v1' }],
    paths,
    components: {
      securitySchemes: {
        apiKey: {
          type: 'http',
          scheme: 'bearer',
          description:
            "An API key (`Authorization: Bearer bmms_…`) with scope `*` or `api`. It acts with its user's role.",
        },
        session: {
          type: 'apiKey',
          in: 'cookie',
          name: SESSION_COOKIE,
          description:
            "A signed-in browser's session cookie (set by POST /auth/login). `X-BMMS-Org: <slug>` picks the org.",
        },
        csrf: {
          type: 'apiKey',
          in: 'header',
          name: 'X-CSRF-Token',
          description:
            'With a session, every method but GET sends the CSRF token that sign-in (or GET /auth/session) returned.',
        },
      },
    },
  });
}

let cached: ReturnType<typeof buildOpenApiDocument> | undefined;

/** The document as served, with the platform's own API URL as its server. */
export function openApiDocument(baseUrl: string) {
  cached ??= buildOpenApiDocument();
  return { ...cached, servers: [{ url: `${baseUrl}/api/v1` }] };
}
