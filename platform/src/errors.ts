/**
 * Every failure a user can see, with its wire code and HTTP status. Handlers throw these; the
 * error middleware renders `{"error":{"code","message"}}` in one place.
 */
export class ApiError extends Error {
  readonly code: string;
  readonly status: number;
  readonly details: Record<string, unknown> | undefined;
  readonly headers: Record<string, string> | undefined;
  constructor(
    code: string,
    status: number,
    message: string,
    extra?: { details?: Record<string, unknown>; headers?: Record<string, string> },
  ) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.status = status;
    this.details = extra?.details;
    this.headers = extra?.headers;
  }
}

export const invalidRequest = (message: string, details?: Record<string, unknown>) =>
  new ApiError('invalid_request', 400, message, details ? { details } : undefined);
export const invalidJson = (message: string) => new ApiError('invalid_json', 400, message);
export const invalidName = (name: string) =>
  new ApiError(
    'invalid_name',
    400,
    `"${name}" is not a valid server name: use 3–40 lowercase letters, digits and single hyphens, starting with a letter and not ending with a hyphen`,
  );
export const unknownTemplate = (name: string, known: string[]) =>
  new ApiError('unknown_template', 400, `unknown template "${name}"; known templates: ${known.join(', ')}`);
export const unauthorized = (message = 'missing or invalid API key: send "Authorization: Bearer <key>"') =>
  new ApiError('unauthorized', 401, message, { headers: { 'WWW-Authenticate': 'Bearer realm="BuildMyMCPServer"' } });
export const forbidden = (message: string) => new ApiError('forbidden', 403, message);
export const notFound = (what: string) => new ApiError('not_found', 404, `${what} not found`);
export const nameTaken = (name: string) =>
  new ApiError('name_taken', 409, `a server named "${name}" already exists; choose another name`);
export const checksNotPassed = (message: string) => new ApiError('checks_not_passed', 409, message);
export const changeNotOpen = (number: number, state: string) =>
  new ApiError(
    'change_not_open',
    409,
    `change #${number} is ${state}; only open changes can be merged, closed or re-checked`,
  );
export const changeExists = (branch: string, number: number) =>
  new ApiError('change_exists', 409, `branch "${branch}" already has open change #${number}`);
export const mergeConflict = (paths: string[]) =>
  new ApiError('merge_conflict', 409, `the change conflicts with main in: ${paths.join(', ') || 'unknown paths'}`, {
    details: { paths },
  });
export const revertConflict = (paths: string[]) =>
  new ApiError(
    'revert_conflict',
    409,
    `the revert conflicts with later commits in: ${paths.join(', ') || 'unknown paths'}; revert those first or edit by hand`,
    { details: { paths } },
  );
export const concurrentUpdate = (message: string) => new ApiError('concurrent_update', 409, message);
export const serverUnavailable = (message: string, retryAfterSeconds: number) =>
  new ApiError('server_unavailable', 503, message, { headers: { 'Retry-After': String(retryAfterSeconds) } });
export const invalidTemplateOptions = (template: string, issues: { path: string; message: string }[]) =>
  new ApiError(
    'invalid_template_options',
    400,
    `options for template "${template}" are invalid: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
    { details: { issues } },
  );
export const unknownPublishedTemplate = (ref: string) =>
  new ApiError(
    'unknown_template',
    400,
    `no published template "${ref}" is visible to you; GET /api/v1/templates lists the templates you can fork`,
  );
export const templateNotFound = (ref: string) =>
  new ApiError('template_not_found', 404, `published template "${ref}" not found`);
export const templateTakenDown = (name: string) =>
  new ApiError(
    'template_taken_down',
    410,
    `template "${name}" was taken down by an admin and can no longer be forked; servers forked from it keep running`,
  );
export const templateNameTaken = (name: string, why: string) =>
  new ApiError(
    'template_name_taken',
    409,
    `a template named "${name}" already exists (${why}); rename the server first`,
  );
export const templateTooLarge = (bytes: number, max: number) =>
  new ApiError(
    'template_too_large',
    413,
    `the server's files take ${bytes} bytes; a template may hold at most ${max}: remove large files first`,
  );
export const invalidSetupLink = () =>
  new ApiError(
    'invalid_setup_link',
    400,
    'this link is unknown, used or expired: get a new one with POST /api/v1/me/setup-link and your API key',
  );
export const toolCallFailed = (why: string) => new ApiError('tool_call_failed', 502, `the call failed: ${why}`);
