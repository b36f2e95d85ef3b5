/**
 * Every failure a user can see, in one table: its wire code (snake_case), its HTTP status and how the arguments
 * of a call become its message (and `details`, headers). Handlers throw an ApiError made from this table; the
 * error middleware renders `{"error":{"code","message","details"?}}` in one place. The REST API's error table
 * (site/src/content/docs/api.md) documents every code, and test/error-table.test.ts holds the two together.
 */

/** What one entry makes of a call's arguments: the message, and optionally `details` and response headers. */
export interface RenderedError {
  message: string;
  details?: Record<string, unknown> | undefined;
  headers?: Record<string, string> | undefined;
}

/** One wire error: the HTTP status it answers with, and how its message is made. */
interface ErrorEntry {
  status: number;
  render: (...args: never) => string | RenderedError;
}

/** One problem in an input: a path (`tools[0].name`, `#/paths/~1pets/get`) and what is wrong there. */
export interface ErrorIssue {
  path: string;
  message: string;
}

/** Why one tool cannot feed a view: the field of its result the view reads (`rows[].title`) and what is wrong there. */
export interface ToolFieldIssue {
  tool: string;
  field: string;
  message: string;
}

/** One problem in an imported OpenAPI document: a JSON path (`#/paths/~1pets/get`) and what is wrong there. */
export type DocumentIssue = ErrorIssue;

const listIssues = (issues: ErrorIssue[], max = issues.length) =>
  issues
    .slice(0, max)
    .map((i) => `${i.path}: ${i.message}`)
    .join('; ') + (issues.length > max ? `; and ${issues.length - max} more` : '');

/** The most characters of a name from a request (a URL segment, a field) that a message repeats. */
const MAX_ECHO = 100;

/** `text` as a message repeats it: at most `max` characters, then "…" (a surrogate pair is never cut in two). */
export function echoed(text: string, max = MAX_ECHO): string {
  if (text.length <= max) return text;
  const code = text.charCodeAt(max - 1);
  return `${text.slice(0, code >= 0xd800 && code <= 0xdbff ? max - 1 : max)}…`;
}

/**
 * What was not found, as a 404 says it: each quoted name cut to MAX_ECHO characters, the whole to twice that, so an
 * unknown name of 5,000 characters in a URL does not come back whole.
 */
const notFoundSubject = (what: string) =>
  echoed(
    what.replace(/"([^"]*)"/g, (_, name: string) => `"${echoed(name)}"`),
    2 * MAX_ECHO,
  );

/** `Retry-After` in whole seconds. */
const retryAfter = (seconds: number) => ({ 'Retry-After': String(seconds) });

/** The table. Keep it grouped by status and in step with the error table of the REST API docs. */
export const ERRORS = {
  // 400: the request is wrong; the message names what to change.
  invalid_request: {
    status: 400,
    render: (message: string, details?: Record<string, unknown>) => ({ message, details }),
  },
  invalid_json: { status: 400, render: (message: string) => message },
  invalid_domain: {
    status: 400,
    render: (problem: string) => ({
      message: `not a custom domain this platform can serve: ${problem}`,
      details: { field: 'hostname' },
    }),
  },
  webhook_signature_invalid: {
    status: 400,
    render: (why: string) =>
      `the webhook's Stripe-Signature does not verify: ${why} (is STRIPE_WEBHOOK_SECRET the signing secret of this endpoint?)`,
  },
  invalid_name: {
    status: 400,
    render: (name: string) =>
      `"${echoed(name)}" is not a valid server name: use 3–40 lowercase letters, digits and single hyphens, starting with a letter and not ending with a hyphen`,
  },
  unknown_template: {
    status: 400,
    render: (template: { name: string; known: string[] } | { published: string }) =>
      'published' in template
        ? `no published template "${echoed(template.published)}" is visible to you; GET /api/v1/templates lists the templates you can fork`
        : `unknown template "${echoed(template.name)}"; known templates: ${template.known.join(', ')}`,
  },
  invalid_template_options: {
    status: 400,
    render: (template: string, issues: ErrorIssue[]) => ({
      message: `options for template "${template}" are invalid: ${listIssues(issues)}`,
      details: { issues },
    }),
  },
  branch_not_found: {
    status: 400,
    render: (server: string, branch: string) =>
      `branch "${branch}" does not exist in ${server}.git: push it first (git push origin ${branch})`,
  },
  unknown_revision: { status: 400, render: (revision: string, why: string) => `${revision} ${why}` },
  invalid_secret_name: {
    status: 400,
    render: (name: string) =>
      `"${name.slice(0, 80)}" is not a valid secret name: use 1–64 of A-Z, 0-9 and _, starting with a letter (e.g. API_KEY)`,
  },
  invalid_secret_value: {
    status: 400,
    render: (reason: string) => `invalid secret value: ${reason}; send {"value": "<1 byte to 64 KiB>"}`,
  },
  invalid_invitation: {
    status: 400,
    render: (forEmail?: string) =>
      forEmail === undefined
        ? 'the invitation is unknown, used or expired: ask for a new one'
        : `this invitation is for ${forEmail}`,
  },
  invalid_setup_link: {
    status: 400,
    render: () =>
      'this link is unknown, used or expired: get a new one with POST /api/v1/me/setup-link and your API key',
  },
  openapi_invalid: {
    status: 400,
    render: (issues: DocumentIssue[]) => ({
      message: `the OpenAPI document is invalid: ${listIssues(issues, 10)}`,
      details: { issues: issues.slice(0, 50) },
    }),
  },
  openapi_unreadable: {
    status: 400,
    render: (why: string) => `the OpenAPI document cannot be read: ${why}`,
  },
  openapi_host_not_allowed: {
    status: 400,
    render: (host: string, allowed: readonly string[]) =>
      `"${host}" is not an allowed host for OpenAPI documents (${allowed.length > 0 ? `allowed: ${allowed.join(', ')}` : 'none are configured'}); paste the document itself as "openapi", or ask an operator to add the host to BMMS_OPENAPI_HOSTS`,
  },
  openapi_selection_required: {
    status: 400,
    render: (count: number, max: number, sample: string[]) => ({
      message: `the document has ${count} operations, more than the ${max} tools a server may have: pass "operations" with up to ${max} operation ids (or "METHOD /path"); list them with POST /api/v1/openapi/operations {"openapi": …}`,
      details: { count, max, operations: sample },
    }),
  },
  openapi_too_many_operations: {
    status: 400,
    render: (count: number, max: number) =>
      `${count} operations selected, but a server may have at most ${max} tools on your plan: select fewer`,
  },
  openapi_unknown_operations: {
    status: 400,
    render: (unknown: string[]) => ({
      message: `no operation matches ${unknown.map((u) => `"${u}"`).join(', ')}: use an operationId or "METHOD /path" as listed by POST /api/v1/openapi/operations`,
      details: { unknown },
    }),
  },
  openapi_no_server: {
    status: 400,
    render: () => 'the document names no absolute server URL: pass "baseUrl" (e.g. "https://api.example.com/v1")',
  },
  openapi_bad_base_url: {
    status: 400,
    render: (url: string, why: string) => `the API base URL "${url}" cannot be used: ${why}`,
  },
  openapi_over_budget: {
    status: 400,
    render: (tokens: number, budget: number) =>
      `the selected operations need ${tokens} description tokens even when trimmed, over the budget of ${budget}: select fewer operations`,
  },
  prompt_empty: { status: 400, render: () => '"prompt" is required: describe the server or the change' },
  prompt_too_long: {
    status: 400,
    render: (length: number, max: number) => `"prompt" has ${length} characters; the limit is ${max}: say it shorter`,
  },
  prompt_contains_secret: {
    status: 400,
    render: (kinds: string[], what: 'prompt' | 'spec') =>
      `the ${what} contains a credential (${kinds.join(', ')}); it was not sent or stored. Remove it, describe the secret by name (e.g. "uses the API key WEATHER_API_KEY"), and set its value as a named secret: PUT /api/v1/servers/<server>/secrets/<NAME>`,
  },
  spec_invalid: { status: 400, render: (problems: string[]) => `"spec" is invalid: ${problems.join('; ')}` },
  github_credentials_refused: {
    status: 400,
    render: (what: string, status: number, why: string) =>
      `GitHub refused ${what} (${status} ${why}): use a fine-grained token with Contents, Pull requests, Checks, Commit statuses and Webhooks (read and write), or the app's id, private key and installation id`,
  },

  // 401: who is calling is unknown; the challenge says how to authenticate.
  unauthorized: {
    status: 401,
    render: (
      message = 'missing or invalid API key: send "Authorization: Bearer <key>"',
      challenge = 'Bearer realm="BuildMyMCPServer"',
    ) => ({ message, headers: { 'WWW-Authenticate': challenge } }),
  },
  github_webhook_unverified: {
    status: 401,
    render: () =>
      "the delivery is not signed with this organization's webhook secret (X-Hub-Signature-256): it was not read; set the secret GitHub signs with to the one the connection gave",
  },
  invalid_token: {
    status: 401,
    render: (message: string, challenge: string) => ({ message, headers: { 'WWW-Authenticate': challenge } }),
  },

  // 403: known caller, not allowed.
  forbidden: { status: 403, render: (message: string) => message },
  csrf_failed: {
    status: 403,
    render: () => 'send the X-CSRF-Token your sign-in returned (GET /auth/session)',
  },
  insufficient_scope: {
    status: 403,
    render: (missing: string[], challenge?: (message: string) => string) => {
      const message = `this call needs scope ${[...new Set(missing)].join(' ')}`;
      return { message, headers: challenge ? { 'WWW-Authenticate': challenge(message) } : undefined };
    },
  },
  forbidden_origin: { status: 403, render: (message: string) => message },
  plan_limit_reached: {
    status: 403,
    render: (plan: { id: string; name: string; servers: number }, count: number, larger: string[]) => ({
      message: `the ${plan.name} plan allows ${plan.servers} server${plan.servers === 1 ? '' : 's'} and your organization has ${count}: delete one, or move to a larger plan${larger.length ? ` (${larger.join(', ')})` : ''} in the organization's settings (/settings/#billing)`,
      details: { plan: plan.id, servers: count, limit: plan.servers, upgrade: '/settings/#billing' },
    }),
  },
  plan_feature_missing: {
    status: 403,
    render: (plan: { id: string; name: string }, feature: string, larger: string[]) => ({
      message: `the ${plan.name} plan does not include ${feature}: move to a plan that does${larger.length ? ` (${larger.join(', ')})` : ''} in the organization's settings (/settings/#billing)`,
      details: { plan: plan.id, feature, upgrade: '/settings/#billing' },
    }),
  },

  // 404
  not_found: {
    status: 404,
    render: (what: string, hint?: string) =>
      hint ? `${notFoundSubject(what)} not found: ${hint}` : `${notFoundSubject(what)} not found`,
  },
  secret_not_found: {
    status: 404,
    render: (server: string, name: string) => `server "${echoed(server)}" has no secret "${echoed(name)}"`,
  },
  template_not_found: { status: 404, render: (ref: string) => `published template "${echoed(ref)}" not found` },

  // 409: the request conflicts with the current state; the message says what to do first.
  name_taken: {
    status: 409,
    render: (name: string) => `a server named "${name}" already exists; choose another name`,
  },
  domain_taken: {
    status: 409,
    render: (hostname: string) =>
      `${hostname} already serves another server on this platform: remove it from that server first (its DNS records alone do not move it)`,
  },
  domain_limit_reached: {
    status: 409,
    render: (max: number) => `a server may answer on at most ${max} custom domains: remove one first`,
  },
  email_taken: {
    status: 409,
    render: (where: 'signup' | 'setup') =>
      where === 'signup'
        ? 'an account with this email exists: sign in instead'
        : { message: 'another account uses this email: choose another', details: { field: 'email' } },
  },
  last_owner: {
    status: 409,
    render: () => 'an organization keeps at least one owner: make someone else owner first',
  },
  operator_org: {
    status: 409,
    render: () =>
      "the platform operator's organization cannot be deleted (it administers the platform): delete the platform's data dir instead",
  },
  org_has_members: {
    status: 409,
    render: (org: string) => ({
      message: `you are the last owner of "${org}", which has other members: make one of them owner, or delete the organization first`,
      details: { org },
    }),
  },
  change_exists: {
    status: 409,
    render: (branch: string, number: number) => `branch "${branch}" already has open change #${number}`,
  },
  checks_not_passed: { status: 409, render: (message: string) => message },
  change_not_open: {
    status: 409,
    render: (number: number, state: string) =>
      `change #${number} is ${state}; only open changes can be merged, closed or re-checked`,
  },
  merge_conflict: {
    status: 409,
    render: (paths: string[]) => ({
      message: `the change conflicts with main in: ${paths.join(', ') || 'unknown paths'}`,
      details: { paths },
    }),
  },
  revert_conflict: {
    status: 409,
    render: (paths: string[]) => ({
      message: `the revert conflicts with later commits in: ${paths.join(', ') || 'unknown paths'}; revert those first or edit by hand`,
      details: { paths },
    }),
  },
  nothing_to_revert: {
    status: 409,
    render: (mainAt: string | null) => (mainAt === null ? 'main has no commits yet' : `main is already at ${mainAt}`),
  },
  concurrent_update: { status: 409, render: (message: string) => message },
  webhook_replayed: {
    status: 409,
    render: (id: string) => `delivery ${id} was already received and acted on; a delivery is acted on once`,
  },
  github_not_connected: {
    status: 409,
    render: () =>
      'your organization has not connected GitHub: connect it in Settings → GitHub (PUT /api/v1/github/connection) first',
  },
  github_repo_not_empty: {
    status: 409,
    render: (repo: string) =>
      `the GitHub repository ${repo} already has commits: name a new repository (or an empty one) in "github.repo"`,
  },
  billing_not_configured: {
    status: 409,
    render: () =>
      "billing is not configured on this platform (it needs STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET, STRIPE_PUBLISHABLE_KEY, STRIPE_PRICE_PRO and STRIPE_PRICE_TEAM): every organization stays on the operator's plan",
  },
  subscription_exists: {
    status: 409,
    render: (plan: string) => ({
      message: `your organization already pays for ${plan}: change the plan, the payment method or cancel in the customer portal (Manage billing in /settings/#billing, or POST /api/v1/billing/portal)`,
      details: { plan, portal: '/api/v1/billing/portal' },
    }),
  },
  no_billing_account: {
    status: 409,
    render: () =>
      'your organization has no billing account yet: choose a plan first (/settings/#billing, or POST /api/v1/billing/checkout)',
  },
  template_name_taken: {
    status: 409,
    render: (name: string, why: string) =>
      `a template named "${name}" already exists (${why}); rename the server first`,
  },
  server_not_merged: {
    status: 409,
    render: (server: string) =>
      `"${server}" has nothing on main yet: merge its first change, then describe what to change`,
  },
  generation_not_awaiting_confirmation: {
    status: 409,
    render: (status: string) =>
      `this generation is ${status}; only a generation whose spec is ready (awaiting_confirmation) can be confirmed`,
  },

  // 410, 413, 422, 429
  template_taken_down: {
    status: 410,
    render: (name: string) =>
      `template "${name}" was taken down by an admin and can no longer be forked; servers forked from it keep running`,
  },
  payload_too_large: { status: 413, render: (limit: string) => `the request body is larger than ${limit}` },
  template_too_large: {
    status: 413,
    render: (bytes: number, max: number) =>
      `the server's files take ${bytes} bytes; a template may hold at most ${max}: remove large files first`,
  },
  openapi_too_large: {
    status: 413,
    render: (memoryMb: number) =>
      `reading the OpenAPI document needed more than ${memoryMb} MB of memory, the limit: import a smaller document (only the paths you need), or ask an operator to raise BMMS_OPENAPI_MEMORY_MB`,
  },
  openapi_timeout: {
    status: 422,
    render: (seconds: number) =>
      `reading and converting the OpenAPI document took longer than ${seconds} s, the limit: import a smaller document (only the paths you need), or ask an operator to raise BMMS_OPENAPI_TIMEOUT_SECONDS`,
  },
  nothing_changed: {
    status: 422,
    render: () => 'the edit changes no file; describe the change more precisely',
  },
  domain_not_verified: {
    status: 422,
    render: (hostname: string, record: { name: string; value: string }, found: string) => ({
      message: `${hostname} is not verified yet: ${found}. Add a TXT record named ${record.name} with the value ${record.value} at your DNS provider, wait for it to be published, then verify again`,
      details: { hostname, record: { type: 'TXT', ...record } },
    }),
  },
  tool_output_incompatible: {
    status: 422,
    render: (view: string, source: string, problems: ToolFieldIssue[]) => {
      const tools = [...new Set(problems.map((p) => p.tool))];
      const named = tools.join(', ');
      return {
        message: `${view} shows the fields ${source} returns, and ${named} ${tools.length === 1 ? 'does' : 'do'} not return them alike: ${problems.map((p) => `${p.tool}: ${p.field} ${p.message}`).join('; ')}. Declare those fields in the outputSchema of ${named} with the names and types of ${source}, or leave ${tools.length === 1 ? 'it' : 'them'} out`,
        details: { tools, problems },
      };
    },
  },
  too_many_followers: {
    status: 429,
    render: (max: number) => ({
      message: `your organization already follows ${max} log streams; close one (or retry in a minute)`,
      headers: retryAfter(60),
    }),
  },
  too_many_log_searches: {
    status: 429,
    render: (max: number) => ({
      message: `your organization already has ${max} log reads running; retry when one has answered`,
      headers: retryAfter(1),
    }),
  },
  domain_check_too_soon: {
    status: 429,
    render: (hostname: string, waitSeconds: number) => ({
      message: `${hostname} was looked up a moment ago; DNS answers take a while to change: retry in ${waitSeconds} s`,
      headers: retryAfter(waitSeconds),
    }),
  },
  too_many_attempts: {
    status: 429,
    render: (waitSeconds: number) => ({
      message: `too many failed sign-ins; retry in ${waitSeconds} s`,
      headers: retryAfter(waitSeconds),
    }),
  },

  // 500: the platform's side. A generation's record carries the two generation_* codes as its `error`.
  internal_error: {
    status: 500,
    render: (requestId: string) => `something went wrong on our side; quote request id ${requestId} when reporting it`,
  },
  unknown_key_version: {
    status: 500,
    render: (version: string, known: string[]) =>
      `a secret is encrypted under master key "${version}", which is not configured (known: ${known.join(', ')}); add it to BMMS_MASTER_KEY`,
  },
  secret_tampered: {
    status: 500,
    render: (name: string) =>
      `secret "${name}" failed authentication: its stored ciphertext was altered or does not belong here`,
  },
  generation_failed: { status: 500, render: () => 'the generation failed unexpectedly; try again' },
  generation_interrupted: {
    status: 500,
    render: () => 'the platform restarted during this generation; start it again',
  },

  // 502: something the platform called failed.
  bad_gateway: { status: 502, render: (why: string) => `the server's instance failed: ${why}` },
  tool_call_failed: { status: 502, render: (why: string) => `the call failed: ${why}` },
  openapi_unreachable: {
    status: 502,
    render: (url: string, why: string) => `the OpenAPI document at ${url} could not be fetched: ${why}`,
  },
  model_rejected: { status: 502, render: (why: string) => `the model request was refused: ${why}` },
  github_request_failed: {
    status: 502,
    render: (what: string, status: number | null, why: string) =>
      `GitHub ${status === null ? 'could not be reached' : `answered ${status}`} while ${what}: ${why}`,
  },
  payment_provider_failed: {
    status: 502,
    render: (why: string) => `the payment provider (Stripe) failed: ${why}; try again in a moment`,
  },
  model_output_invalid: {
    status: 502,
    render: (attempts: number, problems: string[]) => ({
      message: `the model's answer was still invalid after ${attempts} attempt(s): ${problems.slice(0, 5).join('; ')}; rephrase the prompt or try again`,
      details: { problems: problems.slice(0, 20) },
    }),
  },

  // 503: not now; Retry-After says when to try again.
  server_unavailable: {
    status: 503,
    render: (message: string, retryAfterSeconds: number) => ({ message, headers: retryAfter(retryAfterSeconds) }),
  },
  shutting_down: {
    status: 503,
    render: (retryAfterSeconds: number) => ({
      message:
        'the platform is shutting down and takes no new calls: retry shortly (another replica, or this one once restarted)',
      headers: { ...retryAfter(retryAfterSeconds), Connection: 'close' },
    }),
  },
  openapi_busy: {
    status: 503,
    render: (reading: number, retryAfterSeconds: number) => ({
      message: `the platform is already reading ${reading} OpenAPI documents and has more waiting: retry in ${retryAfterSeconds} s`,
      headers: retryAfter(retryAfterSeconds),
    }),
  },
  model_not_configured: {
    status: 503,
    render: () =>
      'generation from a prompt needs a model: set ANTHROPIC_API_KEY (and optionally ANTHROPIC_BASE_URL and BMMS_MODEL) and restart; templates and OpenAPI import work without it',
  },
  model_unavailable: {
    status: 503,
    render: (why: string) => ({
      message: `the model did not answer: ${why}; try again later`,
      headers: retryAfter(30),
    }),
  },
} satisfies Record<string, ErrorEntry>;

/** Every wire code. */
export type ErrorCode = keyof typeof ERRORS;
/** The arguments the table entry of `C` makes its message from. */
export type ErrorArgs<C extends ErrorCode> = Parameters<(typeof ERRORS)[C]['render']>;

/** A failure a user sees: made from the table entry of `code`, rendered by the error middleware. */
export class ApiError<C extends ErrorCode = ErrorCode> extends Error {
  readonly code: C;
  readonly status: number;
  readonly details: Record<string, unknown> | undefined;
  readonly headers: Record<string, string> | undefined;
  constructor(code: C, ...args: ErrorArgs<C>) {
    const entry = ERRORS[code];
    const out = (entry.render as (...a: ErrorArgs<C>) => string | RenderedError)(...args);
    const rendered = typeof out === 'string' ? { message: out } : out;
    super(rendered.message);
    this.name = 'ApiError';
    this.code = code;
    this.status = entry.status;
    this.details = rendered.details;
    this.headers = rendered.headers;
  }

  /** The `{code, message}` a record (a failed generation) keeps of this error. */
  toRecord(): { code: C; message: string } {
    return { code: this.code, message: this.message };
  }
}

/** An ApiError as plain data, to cross to another thread (the OpenAPI import worker answers with one). */
export interface SentApiError {
  code: ErrorCode;
  message: string;
  details?: Record<string, unknown> | undefined;
  headers?: Record<string, string> | undefined;
}

/** What another thread sends of an ApiError it threw. */
export const sentError = (err: ApiError): SentApiError => ({
  code: err.code,
  message: err.message,
  details: err.details,
  headers: err.headers,
});

/** The ApiError another thread threw (see `sentError`), rendered there: code, status, message and details as sent. */
export function revivedError(sent: SentApiError): ApiError {
  const error = new ApiError('invalid_request', sent.message, sent.details);
  // Rendered already, from arguments that stayed in the other thread: only the entry's status is looked up here.
  return Object.assign(error, { code: sent.code, status: ERRORS[sent.code].status, headers: sent.headers });
}

/** The error of `code`, made from the arguments its table entry takes. */
export const apiError = <C extends ErrorCode>(code: C, ...args: ErrorArgs<C>): ApiError<C> =>
  new ApiError(code, ...args);

// Named constructors, one per way a handler fails; each is a thin call into the table.

export const invalidRequest = (message: string, details?: Record<string, unknown>) =>
  apiError('invalid_request', message, details);
export const invalidJson = (message: string) => apiError('invalid_json', message);
export const invalidName = (name: string) => apiError('invalid_name', name);
export const unknownTemplate = (name: string, known: string[]) => apiError('unknown_template', { name, known });
export const unknownPublishedTemplate = (ref: string) => apiError('unknown_template', { published: ref });
export const invalidTemplateOptions = (template: string, issues: ErrorIssue[]) =>
  apiError('invalid_template_options', template, issues);
export const branchNotFound = (server: string, branch: string) => apiError('branch_not_found', server, branch);
export const unknownRevision = (revision: string, why: string) => apiError('unknown_revision', revision, why);
export const invalidInvitation = (forEmail?: string) => apiError('invalid_invitation', forEmail);
export const invalidSetupLink = () => apiError('invalid_setup_link');
export const openapiInvalid = (issues: DocumentIssue[]) => apiError('openapi_invalid', issues);
export const openapiUnreadable = (why: string) => apiError('openapi_unreadable', why);
export const openapiHostNotAllowed = (host: string, allowed: readonly string[]) =>
  apiError('openapi_host_not_allowed', host, allowed);
export const openapiSelectionRequired = (count: number, max: number, sample: string[]) =>
  apiError('openapi_selection_required', count, max, sample);
export const openapiTooManyOperations = (count: number, max: number) =>
  apiError('openapi_too_many_operations', count, max);
export const openapiUnknownOperations = (unknown: string[]) => apiError('openapi_unknown_operations', unknown);
export const openapiNoServer = () => apiError('openapi_no_server');
export const openapiBadBaseUrl = (url: string, why: string) => apiError('openapi_bad_base_url', url, why);
export const openapiTooLarge = (memoryMb: number) => apiError('openapi_too_large', memoryMb);
export const openapiTimeout = (seconds: number) => apiError('openapi_timeout', seconds);
export const openapiBusy = (reading: number, retryAfterSeconds: number) =>
  apiError('openapi_busy', reading, retryAfterSeconds);
export const openapiOverBudget = (tokens: number, budget: number) => apiError('openapi_over_budget', tokens, budget);
export const promptEmpty = () => apiError('prompt_empty');
export const promptTooLong = (length: number, max: number) => apiError('prompt_too_long', length, max);
export const promptContainsSecret = (kinds: string[], what: 'prompt' | 'spec' = 'prompt') =>
  apiError('prompt_contains_secret', kinds, what);
export const specInvalid = (problems: string[]) => apiError('spec_invalid', problems);
export const unauthorized = (message?: string, challenge?: string) => apiError('unauthorized', message, challenge);
export const invalidToken = (message: string, challenge: string) => apiError('invalid_token', message, challenge);
export const forbidden = (message: string) => apiError('forbidden', message);
export const csrfFailed = () => apiError('csrf_failed');
export const insufficientScope = (missing: string[], challenge?: (message: string) => string) =>
  apiError('insufficient_scope', missing, challenge);
export const forbiddenOrigin = (message: string) => apiError('forbidden_origin', message);
export const planLimitReached = (
  plan: { id: string; name: string; servers: number },
  count: number,
  larger: string[],
) => apiError('plan_limit_reached', plan, count, larger);
export const notFound = (what: string, hint?: string) => apiError('not_found', what, hint);
export const invalidDomain = (problem: string) => apiError('invalid_domain', problem);
export const planFeatureMissing = (plan: { id: string; name: string }, feature: string, larger: string[]) =>
  apiError('plan_feature_missing', plan, feature, larger);
export const domainTaken = (hostname: string) => apiError('domain_taken', hostname);
export const domainCheckTooSoon = (hostname: string, waitSeconds: number) =>
  apiError('domain_check_too_soon', hostname, waitSeconds);
export const domainLimitReached = (max: number) => apiError('domain_limit_reached', max);
export const domainNotVerified = (hostname: string, record: { name: string; value: string }, found: string) =>
  apiError('domain_not_verified', hostname, record, found);
export const webhookSignatureInvalid = (why: string) => apiError('webhook_signature_invalid', why);
export const billingNotConfigured = () => apiError('billing_not_configured');
export const subscriptionExists = (plan: string) => apiError('subscription_exists', plan);
export const noBillingAccount = () => apiError('no_billing_account');
export const paymentProviderFailed = (why: string) => apiError('payment_provider_failed', why);
export const templateNotFound = (ref: string) => apiError('template_not_found', ref);
export const nameTaken = (name: string) => apiError('name_taken', name);
export const emailTaken = (where: 'signup' | 'setup') => apiError('email_taken', where);
export const lastOwner = () => apiError('last_owner');
export const operatorOrg = () => apiError('operator_org');
export const orgHasMembers = (org: string) => apiError('org_has_members', org);
export const changeExists = (branch: string, number: number) => apiError('change_exists', branch, number);
export const checksNotPassed = (message: string) => apiError('checks_not_passed', message);
export const changeNotOpen = (number: number, state: string) => apiError('change_not_open', number, state);
export const mergeConflict = (paths: string[]) => apiError('merge_conflict', paths);
export const revertConflict = (paths: string[]) => apiError('revert_conflict', paths);
export const nothingToRevert = (mainAt: string | null) => apiError('nothing_to_revert', mainAt);
export const concurrentUpdate = (message: string) => apiError('concurrent_update', message);
export const githubCredentialsRefused = (what: string, status: number, why: string) =>
  apiError('github_credentials_refused', what, status, why);
export const githubNotConnected = () => apiError('github_not_connected');
export const githubWebhookUnverified = () => apiError('github_webhook_unverified');
export const webhookReplayed = (id: string) => apiError('webhook_replayed', id);
export const githubRepoNotEmpty = (repo: string) => apiError('github_repo_not_empty', repo);
export const githubRequestFailed = (what: string, status: number | null, why: string) =>
  apiError('github_request_failed', what, status, why);
export const templateNameTaken = (name: string, why: string) => apiError('template_name_taken', name, why);
export const serverNotMerged = (server: string) => apiError('server_not_merged', server);
export const generationNotAwaitingConfirmation = (status: string) =>
  apiError('generation_not_awaiting_confirmation', status);
export const templateTakenDown = (name: string) => apiError('template_taken_down', name);
export const payloadTooLarge = (limit: string) => apiError('payload_too_large', limit);
export const templateTooLarge = (bytes: number, max: number) => apiError('template_too_large', bytes, max);
export const nothingChanged = () => apiError('nothing_changed');
export const toolOutputIncompatible = (view: string, source: string, problems: ToolFieldIssue[]) =>
  apiError('tool_output_incompatible', view, source, problems);
export const tooManyFollowers = (max: number) => apiError('too_many_followers', max);
export const tooManyLogSearches = (max: number) => apiError('too_many_log_searches', max);
export const tooManyAttempts = (waitSeconds: number) => apiError('too_many_attempts', waitSeconds);
export const internalError = (requestId: string) => apiError('internal_error', requestId);
export const generationFailed = () => apiError('generation_failed');
export const generationInterrupted = () => apiError('generation_interrupted');
export const badGateway = (why: string) => apiError('bad_gateway', why);
export const toolCallFailed = (why: string) => apiError('tool_call_failed', why);
export const openapiUnreachable = (url: string, why: string) => apiError('openapi_unreachable', url, why);
export const modelRejected = (why: string) => apiError('model_rejected', why);
export const modelOutputInvalid = (attempts: number, problems: string[]) =>
  apiError('model_output_invalid', attempts, problems);
export const serverUnavailable = (message: string, retryAfterSeconds: number) =>
  apiError('server_unavailable', message, retryAfterSeconds);
export const shuttingDown = (retryAfterSeconds: number) => apiError('shutting_down', retryAfterSeconds);
export const modelNotConfigured = () => apiError('model_not_configured');
export const modelUnavailable = (why: string) => apiError('model_unavailable', why);
