/**
 * The zod schemas of the REST API: what each route takes (parsed by `input` before a handler trusts it) and what it
 * answers. The same schemas make the OpenAPI document at /api/v1/openapi.json.
 *
 * The schemas check shapes and JSON types and refuse unknown body fields. The rules of the domain stay with the
 * services that own them (a server name, a template's existence, a password's length), and so do the error codes
 * they answer with: a field made with `checkedBy` is let through here whatever its type, even missing, because its
 * service answers a wrong value with its own code (`invalid_name`, `prompt_empty`, `invalid_secret_value`); the
 * document still shows it required (`requiring`) with the type its service wants.
 */
import { MAX_VIEW_TOOLS, SERVER_NAME, toolSpecSchema, uiResourceSchema, VIEW_PATTERNS } from '@bmms/runner-template';
import { z } from 'zod';
import { ROLES } from '../accounts/roles.ts';
import { importRequestSchema } from '../generation/openapi/request.ts';
import { SECRET_NAME } from '../secrets/store.ts';
import { VISIBILITIES } from '../services/templates.ts';
import { MAX_PATH_NUMBER } from './request.ts';

/**
 * A field whose service checks its presence and type itself, answering with its own error code; documented as
 * `doc` (a JSON Schema), it passes this layer unchecked.
 */
const checkedBy = (code: string, doc: Record<string, unknown>) =>
  z
    .unknown()
    .optional()
    .meta({ ...doc, description: `${String(doc.description ?? '')} A wrong value is \`400 ${code}\`.`.trim() });

/** Metadata that lists `fields` as required in the document: fields made with `checkedBy`, which its service requires. */
const requiring = (...fields: string[]) => ({
  override: ({ jsonSchema }: { jsonSchema: { required?: string[] } }) => {
    jsonSchema.required = [...new Set([...(jsonSchema.required ?? []), ...fields])];
  },
});

/** A timestamp as the API writes it. */
const timestamp = z.string().meta({ format: 'date-time' });
const sha = z.string().regex(/^[0-9a-f]{40}$/);
const hexRevision = z.string().regex(/^[0-9a-f]{4,40}$/, 'must be a commit SHA (hex)');
const uuid = (what: string) => z.string().meta({ description: `${what} (a UUID)` });

// ---- Path parameters. Express hands them over as strings; a malformed name or id is simply not found (404).

const serverName = z.string().meta({
  description: `The server's name: ${SERVER_NAME.source}, never "--".`,
  example: 'weather',
});
/** A change number: a whole number from 1 to 2^31-1 (anything else is 400 naming the parameter). */
export const wholeNumber = z
  .string()
  .regex(/^[0-9]{1,10}$/, 'must be a whole number')
  .transform(Number)
  .pipe(z.number().int().min(1).max(MAX_PATH_NUMBER))
  .meta({
    // Documented as what the client sends: an integer (a path or query string holds its digits).
    override: ({ jsonSchema }) => {
      delete jsonSchema.pattern;
      Object.assign(jsonSchema, { type: 'integer', minimum: 1, maximum: MAX_PATH_NUMBER });
    },
  });

export const serverPath = z.object({ name: serverName });
export const changePath = serverPath.extend({ number: wholeNumber.meta({ description: 'The change number.' }) });
export const checkPath = changePath.extend({
  check: z.string().meta({
    description: 'A check name: typecheck, security, secrets, dependencies, manifest, surface, tests, preview…',
  }),
});
export const toolPath = serverPath.extend({ tool: z.string().meta({ description: 'The tool name, as in mcp.json.' }) });
export const secretPath = serverPath.extend({
  secret: z
    .string()
    .meta({ description: 'The secret name (a wrong one is `400 invalid_secret_name`).', pattern: SECRET_NAME.source }),
});
export const domainPath = serverPath.extend({
  hostname: z.string().max(300).meta({ description: 'The custom domain, as claimed (mcp.example.com).' }),
});
export const templatePath = z.object({ ref: z.string().meta({ description: 'A published template, by id or name.' }) });
export const generationPath = z.object({ id: uuid('The generation id') });
export const keyPath = z.object({ id: uuid('The API key id') });
export const memberPath = z.object({ userId: uuid("The member's user id") });
export const invitationPath = z.object({ id: uuid('The invitation id') });
export const clientPath = z.object({ clientId: z.string().meta({ description: 'The OAuth client id.' }) });

// ---- Queries: unknown query parameters are ignored.

export const changesQuery = z.object({
  state: z.enum(['open', 'merged', 'closed']).optional().meta({ description: 'Only changes in this state.' }),
});
export const toolsQuery = z.object({
  change: wholeNumber.optional().meta({ description: "An open change: its head's tools instead of production's." }),
});
export const metricsQuery = z.object({
  period: z
    .enum(['hour', 'day', 'week', 'month'])
    .default('day')
    .meta({ description: 'hour: 60 one-minute buckets; day: 24 hours; week: 168 hours; month: 30 days.' }),
  tool: z.string().min(1).max(200).optional().meta({ description: 'Only the calls of this tool.' }),
});
export const documentQuery = z.object({
  url: z.string().min(1).meta({ description: "The OpenAPI document's URL (its host must be allowed)." }),
});

const logId = z
  .string()
  .regex(/^[0-9]{1,19}$/, 'must be a log record id (digits)')
  .meta({ description: 'A log record id (a decimal number).' });
const isoTime = z.iso.datetime({ offset: true }).meta({ description: 'An ISO 8601 time, e.g. 2026-12-03T17:00:00Z.' });
export const logsQuery = z.object({
  since: isoTime.optional().meta({ description: 'Only records at or after this time.' }),
  until: isoTime.optional().meta({ description: 'Only records before this time.' }),
  level: z.enum(['debug', 'info', 'warn', 'error']).optional().meta({ description: 'This level and above.' }),
  kind: z.enum(['call', 'output', 'deploy', 'notice']).optional().meta({ description: 'Only records of this kind.' }),
  tool: z.string().min(1).max(200).optional().meta({ description: 'Only calls of this tool.' }),
  q: z.string().min(1).max(200).optional().meta({ description: 'Text in the message or tool name (any case).' }),
  limit: z
    .string()
    .regex(/^[0-9]{1,4}$/, 'must be a whole number from 1 to 1000')
    .transform(Number)
    .pipe(z.number().int().min(1).max(1000))
    .optional()
    .meta({
      description: 'How many records (default 200): the newest ones that match.',
      override: ({ jsonSchema }) => {
        delete jsonSchema.pattern;
        Object.assign(jsonSchema, { type: 'integer', minimum: 1, maximum: 1000, default: 200 });
      },
    }),
  before: logId.optional().meta({ description: 'Only records older than this id (to page backwards).' }),
  after: logId.optional().meta({
    description:
      'The `limit` records right after this id, oldest first (to page forwards); with follow, resume after it like Last-Event-ID.',
  }),
  follow: z
    .enum(['1', 'true', '0', 'false'])
    .optional()
    .meta({ description: '1: answer with a server-sent event stream that stays open and sends new records live.' }),
});
/** The most audit events one page holds. */
export const AUDIT_PAGE_MAX = 500;
const auditTime = z
  .string()
  .refine((v) => /^\d{4}-\d{2}-\d{2}([T ][0-9:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(v) && !Number.isNaN(Date.parse(v)), {
    message: 'must be an ISO 8601 date or date-time',
  })
  .transform((v) => new Date(v))
  .meta({ override: ({ jsonSchema }) => Object.assign(jsonSchema, { type: 'string', format: 'date-time' }) });
export const auditQuery = z.object({
  action: z
    .string()
    .optional()
    .meta({ description: 'Only this action (`member.role`), or a prefix ending in `.` (`member.`).' }),
  actor: z.string().optional().meta({ description: 'Only events by this user: a user id or an email address.' }),
  targetType: z
    .string()
    .optional()
    .meta({ description: 'Only events about this kind of target (`server`, `user`, `api_key`, …).' }),
  targetId: z.string().optional().meta({ description: 'Only events about this target id.' }),
  since: auditTime.optional().meta({ description: 'Only events at or after this time (ISO 8601).' }),
  until: auditTime.optional().meta({ description: 'Only events before this time (ISO 8601).' }),
  limit: z
    .string()
    .regex(/^[0-9]{1,3}$/, `must be a whole number from 1 to ${AUDIT_PAGE_MAX}`)
    .transform(Number)
    .pipe(z.number().int().min(1).max(AUDIT_PAGE_MAX))
    .optional()
    .meta({
      description: `Events per page, 1 to ${AUDIT_PAGE_MAX} (default 100).`,
      override: ({ jsonSchema }) => {
        delete jsonSchema.pattern;
        Object.assign(jsonSchema, { type: 'integer', minimum: 1, maximum: AUDIT_PAGE_MAX, default: 100 });
      },
    }),
  before: z
    .string()
    .regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i, 'must be an event id')
    .optional()
    .meta({ description: "An event id (a previous answer's `next`): the page of events older than it." }),
  format: z.enum(['json', 'jsonl']).optional().meta({
    description:
      '`jsonl` (or `Accept: application/x-ndjson`): every matching event, newest first, one JSON object per line (an export); `limit` and `before` still apply when given.',
  }),
});

// ---- Request bodies: JSON objects; a field not listed is refused (`400 invalid_request`, naming it).

const serverNameField = checkedBy('invalid_name', {
  type: 'string',
  pattern: SERVER_NAME.source,
  description:
    'The new server\'s name: 3-40 lowercase letters, digits and single hyphens, starting with a letter (never "--").',
});

/** `"github"` of POST /servers: the server's repository goes to the org's GitHub. */
export const githubPlacement = z
  .strictObject({
    owner: z.string().meta({ description: 'The GitHub organization (or the connected user) owning the repository.' }),
    repo: z
      .string()
      .optional()
      .meta({ description: "The repository's name (default: the server's); an existing empty one is adopted." }),
    private: z.boolean().optional().meta({ description: 'Whether a new repository is private (default true).' }),
  })
  .meta({
    id: 'GitHubPlacement',
    description:
      "Create the repository in your organization's GitHub (Settings → GitHub connects it): every change is a pull request there.",
  });

/** PUT /github/connection: a fine-grained token, or an app installation. */
export const connectGitHubBody = z.union([
  z
    .strictObject({
      token: z.string().meta({ description: 'A fine-grained personal access token (github_pat_…).' }),
      webhookSecret: z.string().min(16).max(256).optional(),
    })
    .meta({ id: 'ConnectGitHubToken', title: 'A personal access token' }),
  z
    .strictObject({
      appId: z.union([z.string(), z.number().int()]).transform(String),
      privateKey: z.string().meta({ description: "The app's private key (PEM)." }),
      installationId: z.union([z.string(), z.number().int()]).transform(String),
      webhookSecret: z
        .string()
        .min(16)
        .max(256)
        .optional()
        .meta({ description: "The app's webhook secret, as set in its settings on GitHub." }),
    })
    .meta({ id: 'ConnectGitHubApp', title: 'A GitHub App installation' }),
]);

export const githubConnectionAnswer = z
  .object({
    connected: z.boolean(),
    kind: z.enum(['token', 'app']).nullable(),
    login: z
      .string()
      .nullable()
      .meta({ description: '"Connected as …": the token\'s user or the installation\'s account.' }),
    apiUrl: z.string().meta({ description: "GitHub's REST API (GITHUB_API_URL)." }),
    appId: z.string().nullable(),
    installationId: z.string().nullable(),
    problem: z.string().nullable().meta({ description: 'Why GitHub refuses the connection now; null when it works.' }),
    connectedAt: timestamp.nullable(),
    webhookUrl: z.string().meta({ description: 'Where GitHub delivers webhook events for this organization.' }),
  })
  .meta({ id: 'GitHubConnection' });

/** POST /servers from a built-in template (`template`, with `options`) or a published one (`from`). */
export const createServerBody = z
  .strictObject({
    name: serverNameField,
    template: z
      .string()
      .optional()
      .meta({ description: 'A built-in template (GET /templates): `400 unknown_template` if none.' }),
    from: z.string().optional().meta({ description: 'A published template to fork, by id or name.' }),
    options: z
      .record(z.string(), z.unknown())
      .optional()
      .meta({ description: "The built-in template's options (its JSON Schema is in GET /templates)." }),
    description: z.string().optional(),
    github: githubPlacement.optional(),
  })
  .meta({ id: 'CreateServer', title: 'From a template', ...requiring('name') });

/** POST /servers from an OpenAPI document (see the OpenAPI import docs). */
export const importServerBody = importRequestSchema
  .extend({ name: serverNameField, github: githubPlacement.optional() })
  .meta({ id: 'ImportServer', title: 'From an OpenAPI document', ...requiring('name') });

export const newServerBody = z.union([createServerBody, importServerBody]);
/** A new server's body is an import when it has `openapi`, else it is from a template. */
export const newServerShape = (body: unknown) =>
  typeof body === 'object' && body !== null && 'openapi' in body ? importServerBody : createServerBody;

export const openChangeBody = z.strictObject({
  branch: z.string().meta({ description: 'A pushed branch other than main.', example: 'add-tool' }),
  title: z.string().optional().meta({ description: 'At most 200 characters; the branch name by default.' }),
  body: z.string().optional(),
});
const viewDesignFields = {
  pattern: z.enum(VIEW_PATTERNS).meta({ description: 'One of the nine view patterns.' }),
  view: z
    .string()
    .regex(/^[a-z][a-z0-9-]{0,39}$/, 'must be a lowercase name: letters, digits and -')
    .optional()
    .meta({ description: 'The view name in ui://<server>/<view>; the pattern by default.' }),
  title: z
    .string()
    .min(1)
    .max(80)
    .optional()
    .meta({ description: "The view's heading; the first tool's title by default." }),
};
/** POST /servers/{name}/views fed by one tool (the route's first form, still taken). */
export const proposeViewOfToolBody = z
  .strictObject({
    ...viewDesignFields,
    tool: z.string().min(1).meta({ description: "The tool of main's mcp.json whose results the view shows." }),
  })
  .meta({ id: 'ProposeViewOfTool', title: 'Fed by one tool' });
/** POST /servers/{name}/views fed by several tools: the first gives the view its fields, the others return them too. */
export const proposeViewOfToolsBody = z
  .strictObject({
    ...viewDesignFields,
    tools: z
      .array(z.string().min(1))
      .min(1)
      .max(MAX_VIEW_TOOLS, `at most ${MAX_VIEW_TOOLS} tools feed one view`)
      .superRefine((names, ctx) => {
        for (const [i, name] of names.entries()) {
          if (names.indexOf(name) !== i) ctx.addIssue({ code: 'custom', path: [i], message: `names "${name}" twice` });
        }
      })
      .meta({
        uniqueItems: true,
        description: `Tools of main's mcp.json whose results the view shows (at most ${MAX_VIEW_TOOLS}, each once). The view's fields come from the first one's outputSchema; each other one must declare the fields the pattern reads with the same names and types (else 422 tool_output_incompatible). Each tool's _meta.ui.resourceUri points at the view.`,
      }),
  })
  .meta({ id: 'ProposeViewOfTools', title: 'Fed by several tools' });
export const proposeViewBody = z.union([proposeViewOfToolsBody, proposeViewOfToolBody]);
/** A view's body names its tools in `tools` when it has that field, else its one tool in `tool`. */
export const proposeViewShape = (body: unknown) =>
  typeof body === 'object' && body !== null && 'tools' in body ? proposeViewOfToolsBody : proposeViewOfToolBody;
export const viewPatternsAnswer = z.object({
  patterns: z.array(z.object({ name: z.enum(VIEW_PATTERNS), title: z.string() })),
});
export const revertBody = z.strictObject({
  sha: hexRevision.optional().meta({ description: "A commit on main (full or abbreviated); main's HEAD by default." }),
});
export const rollbackBody = z.strictObject({
  revision: hexRevision.meta({ description: "An earlier commit on main's first-parent line (at most 50 back)." }),
});
export const toolCallBody = z.strictObject({
  arguments: z.record(z.string(), z.unknown()).default({}).meta({ description: "The tool's arguments." }),
  change: z
    .number()
    .int()
    .positive()
    .optional()
    .meta({ description: "Call this open change's preview instead of production." }),
});

export const generationBody = z
  .strictObject({
    prompt: checkedBy('prompt_empty', {
      type: 'string',
      maxLength: 8000,
      description: 'What the server should do, or (with `server`) what to change.',
    }),
    server: z.string().optional().meta({ description: 'Iterate on this existing server instead of creating one.' }),
  })
  .meta(requiring('prompt'));
export const confirmBody = z.strictObject({
  spec: z
    .record(z.string(), z.unknown())
    .optional()
    .meta({ description: 'The spec, edited; the proposed one by default. An invalid spec is `400 spec_invalid`.' }),
});
export const documentBody = z.strictObject({
  openapi: z
    .union([z.string(), z.record(z.string(), z.unknown())])
    .meta({ description: 'The document (JSON object), its JSON or YAML text, or its URL.' }),
});

export const secretBody = z
  .strictObject({
    value: checkedBy('invalid_secret_value', {
      type: 'string',
      minLength: 1,
      maxLength: 65536,
      description: 'The secret value; never shown again.',
    }),
  })
  .meta(requiring('value'));

export const publishBody = z.strictObject({
  visibility: z
    .string()
    .optional()
    .meta({ enum: [...VISIBILITIES], description: '`org` (default): your org only; `public`: every org may fork it.' }),
  description: z.string().optional().meta({ maxLength: 500 }),
});
export const takedownBody = z.strictObject({ reason: z.string().optional().meta({ maxLength: 500 }) });

export const passwordBody = z.strictObject({
  password: z.string().meta({ minLength: 10, description: 'The new password.' }),
  currentPassword: z
    .string()
    .optional()
    .meta({ description: 'Required from a browser session when a password is set.' }),
});
export const deleteOrgBody = z.strictObject({
  confirm: z
    .string()
    .max(200)
    .meta({ description: "The organization's slug (GET /me shows it as `org`) or its name." }),
});
export const deleteAccountBody = z.strictObject({
  confirm: z.string().max(320).meta({ description: "Your account's email address." }),
});
export const newKeyBody = z.strictObject({
  name: z.string().meta({ maxLength: 100 }),
  scopes: z
    .array(z.string())
    .optional()
    .meta({ description: '`*` (default: all the role allows), `api`, `git` or MCP scopes such as `mcp:tools`.' }),
});
const role = z.string().meta({ enum: [...ROLES] });
export const memberRoleBody = z.strictObject({ role });
export const invitationBody = z.strictObject({
  email: z.string().meta({ format: 'email' }),
  role: role.optional().meta({ description: '`developer` by default.' }),
});

// ---- Answers.

export const errorAnswer = z
  .object({
    error: z.object({
      code: z.string().meta({ description: 'Stable, snake_case: branch on it.', example: 'invalid_request' }),
      message: z.string().meta({ description: 'What went wrong and what to do next.' }),
      details: z.record(z.string(), z.unknown()).optional().meta({
        description:
          'Structured context: `issues` ({path, message} each) and `field` for invalid input, `paths` for conflicts.',
      }),
    }),
  })
  .meta({ id: 'Error' });

const condition = z
  .object({
    type: z.enum(['Ready', 'Progressing', 'Degraded', 'Stalled']),
    status: z.enum(['True', 'False']),
    reason: z.string(),
    message: z.string(),
    lastTransitionTime: timestamp,
  })
  .meta({ id: 'Condition' });

const deployment = z
  .object({
    revision: z.string(),
    tree: z.string().nullable(),
    state: z.string().meta({ description: 'progressing, succeeded, failed or superseded' }),
    reason: z.string().nullable(),
    message: z.string().nullable(),
    instance: z.string().nullable(),
    startedAt: timestamp,
    finishedAt: timestamp.nullable(),
  })
  .meta({ id: 'Deployment' });

export const serverAnswer = z
  .object({
    name: z.string(),
    description: z.string(),
    template: z.string(),
    url: z.string().meta({ description: 'The MCP endpoint.' }),
    gitUrl: z.string(),
    github: z
      .object({ owner: z.string(), repo: z.string(), url: z.string().nullable() })
      .nullable()
      .meta({ description: "Where the repository is on GitHub (null: the platform's own Git store, at `gitUrl`)." }),
    desiredRevision: z.string().nullable(),
    lastAttemptedRevision: z.string().nullable(),
    observedRevision: z.string().nullable(),
    conditions: z.array(condition),
    history: z.array(deployment).meta({ description: 'Newest first (the last 50); empty in lists.' }),
    calls24h: z
      .number()
      .int()
      .meta({ description: 'Tool calls in the last 24 hours (the current hour and 23 before).' }),
    createdAt: timestamp,
    updatedAt: timestamp,
  })
  .meta({ id: 'Server' });

export const serverDetailAnswer = serverAnswer
  .extend({
    forkedFrom: z.object({ id: z.string(), name: z.string(), commit: z.string() }).nullable(),
    notices: z.array(
      z.object({
        code: z.string(),
        template: z.object({ id: z.string(), name: z.string() }),
        takenDownAt: timestamp,
        reason: z.string().nullable(),
        message: z.string(),
      }),
    ),
  })
  .meta({ id: 'ServerDetail' });

const checkRun = z
  .object({
    name: z.string(),
    status: z.enum(['queued', 'in_progress', 'completed']),
    conclusion: z.string().nullable().meta({ description: 'success, failure, cancelled, or null until completed' }),
    summary: z.string().nullable(),
    durationMs: z.number().nullable(),
    startedAt: timestamp.nullable(),
    completedAt: timestamp.nullable(),
  })
  .meta({ id: 'CheckRun' });

export const changeAnswer = z
  .object({
    number: z.number().int(),
    title: z.string(),
    body: z.string(),
    state: z.enum(['open', 'merged', 'closed']),
    branch: z.string(),
    head: sha,
    base: sha.nullable(),
    mergeSha: sha.nullable(),
    checkSuite: z.object({
      tree: z.string().nullable(),
      status: z.enum(['queued', 'in_progress', 'completed']),
      conclusion: z.string().nullable(),
    }),
    checks: z.array(checkRun),
    preview: z
      .object({
        url: z.string(),
        status: z.enum(['pending', 'ready', 'stopped', 'unavailable', 'removed']),
        install: z.object({
          claudeCode: z.string(),
          cursor: z.record(z.string(), z.unknown()),
          inspector: z.string(),
        }),
      })
      .nullable(),
    pullRequest: z.object({ number: z.number().int(), url: z.string().nullable() }).nullable().meta({
      description: "The change's pull request on GitHub (servers on GitHub) and its address there.",
    }),
    createdAt: timestamp,
    updatedAt: timestamp,
    mergedAt: timestamp.nullable(),
    closedAt: timestamp.nullable(),
  })
  .meta({ id: 'Change' });

export const checkLogAnswer = checkRun
  .extend({ log: z.string().nullable(), tree: z.string().nullable() })
  .meta({ id: 'CheckLog' });

export const secretAnswer = z
  .object({
    name: z.string(),
    declared: z.boolean().meta({ description: "Whether main's mcp.json names it." }),
    keyVersion: z.string(),
    createdAt: timestamp,
    updatedAt: timestamp,
  })
  .meta({ id: 'Secret' });

export const replaySettingsBody = z
  .strictObject({
    enabled: z.boolean().meta({ description: 'Whether production tool calls are recorded for the replay check.' }),
    sampleRate: z
      .number()
      .gt(0)
      .max(1)
      .optional()
      .meta({ description: 'Share of tool calls recorded, above 0 and at most 1 (default 0.1).' }),
    maxRecordings: z
      .number()
      .int()
      .min(1)
      .max(1000)
      .optional()
      .meta({ description: 'Recordings kept at most, 1 to 1000 (default 100); once full, nothing more is recorded.' }),
    retentionDays: z
      .number()
      .int()
      .min(1)
      .max(90)
      .optional()
      .meta({ description: 'Days a recording is kept, 1 to 90 (default 14).' }),
  })
  .meta({ id: 'ReplaySettingsInput' });

export const replaySettingsAnswer = z
  .object({
    enabled: z.boolean(),
    sampleRate: z.number(),
    maxRecordings: z.number().int(),
    retentionDays: z.number().int(),
    recordings: z.number().int().meta({ description: 'Recordings stored now (sealed; never shown).' }),
  })
  .meta({ id: 'ReplaySettings' });

export const domainBody = z
  .strictObject({
    hostname: z.string().max(300).meta({
      description:
        'The name to serve the server on (mcp.example.com): no scheme, port or path; an IDN is stored in its xn-- form.',
    }),
  })
  .meta({ id: 'CustomDomainInput' });

const dnsRecord = <T extends string>(type: T) =>
  z.object({ type: z.literal(type), name: z.string(), value: z.string() });

export const domainAnswer = z
  .object({
    hostname: z.string(),
    url: z.string().meta({ description: "The server's MCP URL on this domain (its own OAuth resource)." }),
    status: z.enum(['pending', 'verified']),
    createdAt: timestamp,
    verifiedAt: timestamp.nullable(),
    checkedAt: timestamp.nullable().meta({ description: 'The last verification attempt.' }),
    lastError: z.string().nullable().meta({ description: 'What the last failed verification found.' }),
    verification: dnsRecord('TXT').meta({ description: 'The TXT record that proves you control the name.' }),
    routing: dnsRecord('CNAME').meta({ description: 'Where the name must point for calls to reach the platform.' }),
  })
  .meta({ id: 'CustomDomain' });

export const domainListAnswer = z.object({ domains: z.array(domainAnswer) });

export const domainTlsQuery = z.object({
  domain: z.string().max(300).meta({ description: 'The hostname a TLS certificate is about to be issued for.' }),
});

export const publishedTemplateAnswer = z
  .object({
    kind: z.literal('published'),
    id: z.string(),
    name: z.string(),
    description: z.string(),
    visibility: z.enum(VISIBILITIES),
    yours: z.boolean(),
    sourceServer: z.string().nullable(),
    commit: z.string(),
    tree: z.string(),
    revision: z.number().int(),
    publishedAt: timestamp,
    updatedAt: timestamp,
    takenDownAt: timestamp.nullable(),
    takedownReason: z.string().nullable(),
    forks: z.number().int().optional().meta({ description: 'How many servers forked it (for its own org).' }),
  })
  .meta({ id: 'PublishedTemplate' });

const builtinTemplate = z
  .object({
    kind: z.literal('builtin'),
    name: z.string(),
    title: z.string(),
    description: z.string(),
    options: z.record(z.string(), z.unknown()).nullable().meta({ description: 'JSON Schema of the options.' }),
  })
  .meta({ id: 'BuiltinTemplate' });

export const publicTemplateListAnswer = z.object({
  templates: z.array(
    z.union([
      z.object({ kind: z.literal('builtin'), name: z.string(), title: z.string(), description: z.string() }),
      z.object({
        kind: z.literal('published'),
        name: z.string(),
        description: z.string(),
        revision: z.number().int(),
        updatedAt: z.string(),
      }),
    ]),
  ),
});
export const templateListAnswer = z.object({ templates: z.array(z.union([builtinTemplate, publishedTemplateAnswer])) });

const event = z
  .object({ seq: z.number().int(), type: z.string(), at: timestamp })
  .catchall(z.unknown())
  .meta({ id: 'GenerationEvent' });

export const generationAnswer = z
  .object({
    id: z.string(),
    kind: z.enum(['create', 'iterate']),
    status: z.enum(['planning', 'awaiting_confirmation', 'generating', 'checking', 'completed', 'failed']),
    server: z.string().nullable(),
    prompt: z.string(),
    spec: z.record(z.string(), z.unknown()).nullable(),
    change: z.number().int().nullable(),
    error: z.object({ code: z.string(), message: z.string() }).nullable(),
    events: z.array(event),
    createdAt: timestamp,
    updatedAt: timestamp,
    links: z.object({ self: z.string(), events: z.string(), confirm: z.string() }),
  })
  .meta({ id: 'Generation' });

/** What an OpenAPI import repaired or skipped to read a document. */
export const importWarnings = z
  .array(
    z.object({
      path: z.string().meta({ description: 'JSON pointer into the document, e.g. `#/paths/~1pets/get`.' }),
      message: z.string(),
    }),
  )
  .meta({ description: 'Every repair and skipped operation of the import, with where it sits in the document.' });

export const operationsAnswer = z.object({
  title: z.string(),
  version: z.string(),
  count: z.number().int(),
  maxTools: z.number().int().meta({ description: "Your plan's tool limit: select at most this many." }),
  operations: z.array(
    z.object({
      id: z.string(),
      method: z.string(),
      path: z.string(),
      summary: z.string().optional(),
      tags: z.array(z.string()).optional(),
    }),
  ),
  warnings: importWarnings,
});

export const meAnswer = z.object({
  user: z.object({ id: z.string(), email: z.string(), name: z.string(), hasPassword: z.boolean() }),
  org: z.string().nullable().meta({ description: 'The slug of the org the credential acts in.' }),
  role: z.enum(ROLES),
  orgs: z.array(z.object({ slug: z.string(), name: z.string(), role: z.enum(ROLES) })),
});

export const orgDeletedAnswer = z.object({
  deleted: z.literal(true),
  servers: z.number().int().meta({ description: 'How many servers went with it.' }),
});
export const accountDeletedAnswer = z.object({
  deleted: z.literal(true),
  orgs: z.number().int().meta({ description: 'How many organizations (where you were the only member) went with it.' }),
});

export const clientsAnswer = z.object({
  clients: z.array(
    z.object({
      clientId: z.string(),
      clientName: z.string(),
      resources: z.array(z.object({ resource: z.string(), scopes: z.array(z.string()) })),
      grantedAt: timestamp,
    }),
  ),
});

const apiKey = z
  .object({
    id: z.string(),
    name: z.string(),
    prefix: z.string(),
    scopes: z.array(z.string()),
    userId: z.string(),
    createdAt: timestamp,
    lastUsedAt: timestamp.nullable(),
  })
  .meta({ id: 'ApiKey' });
export const keysAnswer = z.object({ keys: z.array(apiKey) });
export const newKeyAnswer = z.object({
  id: z.string(),
  name: z.string(),
  prefix: z.string(),
  scopes: z.array(z.string()),
  key: z.string().meta({ description: 'The key itself: shown this once, stored only as a hash.' }),
  createdAt: timestamp,
});

export const membersAnswer = z.object({
  members: z.array(
    z.object({ userId: z.string(), email: z.string(), name: z.string(), role: z.enum(ROLES), since: timestamp }),
  ),
});
export const invitationsAnswer = z.object({
  invitations: z.array(z.object({ id: z.string(), email: z.string(), role: z.enum(ROLES), expiresAt: timestamp })),
});
export const newInvitationAnswer = z.object({
  id: z.string(),
  email: z.string(),
  role: z.enum(ROLES),
  token: z.string().meta({ description: 'The invitation token: shown this once.' }),
  signup: z.string().meta({ description: 'Where the invited person signs up with it.' }),
  expiresAt: timestamp,
});

export const diffAnswer = z.object({
  base: z.string().nullable(),
  head: z.string(),
  files: z.array(
    z.object({
      path: z.string(),
      status: z.enum(['added', 'deleted', 'modified']),
      binary: z.boolean(),
      additions: z.number().int(),
      deletions: z.number().int(),
      patch: z.string().nullable(),
    }),
  ),
  surface: z.object({
    added: z.array(z.object({ name: z.string(), description: z.string() })),
    removed: z.array(z.object({ name: z.string(), description: z.string() })),
    changed: z.array(z.object({ name: z.string(), changes: z.array(z.string()) })),
    unchanged: z.array(z.string()),
  }),
});

export const toolsAnswer = z.object({
  revision: z.string().nullable(),
  tools: z.array(
    toolSpecSchema
      .extend({ inputSchema: z.record(z.string(), z.unknown()).meta({ description: 'JSON Schema of the arguments.' }) })
      .meta({ id: 'Tool' }),
  ),
  views: z.array(uiResourceSchema.meta({ id: 'View' })).meta({
    description: "The MCP Apps views (ui:// resources) of mcp.json; a tool's _meta.ui.resourceUri opens one.",
  }),
});
export const viewPath = changePath.extend({
  view: z.string().meta({ description: 'The view name: the last segment of its ui://<server>/<view> URI.' }),
});
export const toolCallAnswer = z.object({
  revision: z.string(),
  durationMs: z.number().int(),
  result: z.record(z.string(), z.unknown()).meta({ description: 'The MCP `tools/call` result.' }),
});

// ---- Metrics

const latency = (q: string) =>
  z
    .number()
    .nullable()
    .meta({ description: `${q} latency in ms (1 decimal), as the gateway measured it; null without calls.` });
const callFigures = {
  calls: z.number().int().meta({ description: 'Tool calls (`tools/call` requests).' }),
  errors: z
    .number()
    .int()
    .meta({ description: 'Calls that failed: a tool error (`isError`), a JSON-RPC error or an HTTP error.' }),
  p50: latency('Median'),
  p95: latency('95th percentile'),
  p99: latency('99th percentile'),
};

export const metricsAnswer = z
  .object({
    period: z.enum(['hour', 'day', 'week', 'month']),
    bucket: z.enum(['minute', 'hour', 'day']).meta({ description: 'The length of each entry of `series`.' }),
    from: timestamp.meta({ description: 'The start of the first bucket.' }),
    to: timestamp.meta({ description: 'The end of the last bucket (the current one, still filling), exclusive.' }),
    totals: z.object({
      ...callFigures,
      coldStarts: z
        .number()
        .int()
        .meta({ description: 'Instances that started serving (a deploy, a wake from idle).' }),
      deploys: z.number().int().meta({ description: 'Times a new revision started serving.' }),
    }),
    series: z
      .array(z.object({ start: timestamp, ...callFigures }))
      .meta({ description: 'Every bucket of the period, oldest first; zeros where nothing was called.' }),
    tools: z
      .array(z.object({ tool: z.string(), ...callFigures }))
      .meta({ description: 'Per tool over the whole period, most called first.' }),
  })
  .meta({ id: 'ServerMetrics' });
// ---- Server logs

export const logCallAnswer = z.object({
  method: z.string().nullable(),
  tool: z.string().nullable(),
  status: z.number().int(),
  rpcErrorCode: z.number().int().nullable(),
  failed: z.boolean(),
  latencyMs: z.number(),
  requestBytes: z.number().int(),
  responseBytes: z.number().int(),
  clientName: z.string().nullable(),
  clientId: z.string(),
  requestId: z.string(),
  traceId: z.string().nullable(),
});
export const logRecordAnswer = z
  .object({
    id: z.string().meta({ description: 'Monotonic id, as a decimal string (the SSE event id).' }),
    time: z.string(),
    kind: z.enum(['call', 'output', 'deploy', 'notice']),
    level: z.enum(['debug', 'info', 'warn', 'error']),
    message: z.string(),
    preview: z.number().int().nullable(),
    revision: z.string().nullable(),
    stream: z.enum(['stdout', 'stderr']).nullable(),
    call: logCallAnswer.nullable().meta({ description: 'For a call record: what the gateway saw of the call.' }),
  })
  .meta({ id: 'LogRecord' });
export const logsAnswer = z.object({
  logs: z.array(logRecordAnswer),
  next: z
    .object({ before: z.string().optional(), after: z.string().optional() })
    .optional()
    .describe(
      'Present when the search examined as many records as one request may (200,000) before finding `limit` matches: more may match further on. Ask again with this `before` (newest-first search) or `after` (a search with `after`) to go on.',
    ),
});
const auditEvent = z
  .object({
    id: z.string(),
    time: timestamp,
    action: z.string().meta({ description: 'What was done: `server.create`, `member.role`, `secret.set`, …' }),
    actor: z
      .object({
        userId: z.string().nullable(),
        email: z.string().nullable(),
        apiKeyId: z.string().nullable().meta({ description: 'The API key used (null: a browser session).' }),
      })
      .nullable()
      .meta({ description: 'Who did it; null for the platform itself or an anonymized actor.' }),
    target: z.object({ type: z.string(), id: z.string().nullable() }),
    ip: z.string().nullable().meta({ description: "The caller's address (through the trusted proxies)." }),
    requestId: z.string().nullable(),
    data: z
      .record(z.string(), z.unknown())
      .meta({ description: 'What changed: `before`/`after` where a value changed; never a secret or key.' }),
  })
  .meta({ id: 'AuditEvent' });
export const auditAnswer = z.object({
  events: z.array(auditEvent).meta({ description: 'Newest first.' }),
  next: z.string().nullable().meta({ description: 'Pass as `before` for the next (older) page; null at the end.' }),
});

const limit = (what: string) =>
  z
    .number()
    .int()
    .nullable()
    .meta({ description: `${what}; null: no limit.` });
export const usageAnswer = z
  .object({
    plan: z.object({
      id: z.enum(['hobby', 'pro', 'team', 'enterprise', 'self-hosted']),
      name: z.string(),
      servers: limit('Servers the organization may have'),
      monthlyCalls: limit('Successful tool calls to production servers a month'),
    }),
    period: z.object({
      from: timestamp.meta({ description: 'The start of the calendar month (UTC).' }),
      to: timestamp.meta({ description: 'The start of the next month, when the count starts again (exclusive).' }),
    }),
    calls: z.number().int().meta({ description: 'Successful tool calls to production servers this month.' }),
    quota: limit("The plan's monthly calls"),
    servers: z.object({ count: z.number().int(), limit: limit('Servers the plan allows') }),
    byServer: z.array(
      z.object({
        server: z.string().nullable().meta({ description: "The server's name; null once it was deleted." }),
        serverId: z.string(),
        calls: z.number().int().meta({ description: 'Successful tool calls (what the quota counts).' }),
        requests: z.number().int().meta({ description: 'Every MCP request to production, whatever its answer.' }),
        errors: z.number().int().meta({ description: 'Requests answered with an HTTP status of 400 or more.' }),
        previewRequests: z.number().int().meta({ description: "Requests to the server's previews (not billed)." }),
        tools: z.array(z.object({ tool: z.string(), calls: z.number().int() })),
      }),
    ),
  })
  .meta({ id: 'Usage' });

export const billingAnswer = z
  .object({
    configured: z
      .boolean()
      .meta({ description: 'Whether this platform takes payments (Stripe); false: billing pages say so.' }),
    message: z.string().meta({ description: 'What a billing page shows.' }),
    plan: z.object({ id: z.string(), name: z.string() }),
    defaultPlan: z.string().meta({ description: "The operator's default plan (BMMS_DEFAULT_PLAN)." }),
    notice: z.string().nullable().meta({
      description:
        'Why something is blocked: more servers than the plan allows (they keep running, new ones are refused). Null: nothing is.',
    }),
    subscription: z
      .object({ id: z.string(), status: z.string(), currentPeriodEnd: z.string().nullable() })
      .nullable()
      .meta({ description: "The organization's current Stripe subscription, as its last webhook said; null: none." }),
    checkout: z
      .object({
        publishableKey: z.string(),
        plans: z.array(z.object({ id: z.string(), name: z.string(), eurPerMonth: z.number() })),
      })
      .nullable()
      .meta({ description: 'What Embedded Checkout sells (null without billing).' }),
  })
  .meta({ id: 'Billing' });

export const checkoutBody = z.strictObject({
  plan: z.enum(['pro', 'team']).meta({ description: 'The plan to pay for.' }),
});

export const checkoutAnswer = z
  .object({
    clientSecret: z.string().meta({ description: "Stripe.js's initEmbeddedCheckout takes it." }),
    sessionId: z.string(),
    publishableKey: z.string(),
  })
  .meta({ id: 'CheckoutSession' });

export const portalAnswer = z
  .object({ url: z.string().meta({ description: 'The customer portal; send the person there.' }) })
  .meta({ id: 'PortalSession' });

export const invoicesAnswer = z
  .object({
    invoices: z.array(
      z.object({
        id: z.string(),
        number: z.string().nullable(),
        created: z.string(),
        status: z.string().nullable(),
        total: z.number().int().meta({ description: 'In the smallest unit of the currency (cents).' }),
        currency: z.string(),
        hostedUrl: z.string().nullable(),
        pdfUrl: z.string().nullable(),
      }),
    ),
  })
  .meta({ id: 'Invoices' });

export const webhookAnswer = z
  .object({
    received: z.literal(true),
    event: z.string(),
    type: z.string(),
    status: z.enum(['applied', 'ignored', 'replayed']),
    outcome: z.string(),
  })
  .meta({ id: 'WebhookReceipt' });
