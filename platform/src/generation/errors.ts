import { ApiError } from '../errors.ts';

/** One problem in an imported document: a JSON path (`#/paths/~1pets/get`) and what is wrong there. */
export interface DocumentIssue {
  path: string;
  message: string;
}

const listIssues = (issues: DocumentIssue[]) =>
  issues
    .slice(0, 10)
    .map((i) => `${i.path}: ${i.message}`)
    .join('; ') + (issues.length > 10 ? `; and ${issues.length - 10} more` : '');

export const openapiInvalid = (issues: DocumentIssue[]) =>
  new ApiError('openapi_invalid', 400, `the OpenAPI document is invalid: ${listIssues(issues)}`, {
    details: { issues: issues.slice(0, 50) },
  });
export const openapiUnreadable = (message: string) =>
  new ApiError('openapi_unreadable', 400, `the OpenAPI document cannot be read: ${message}`);
export const openapiHostNotAllowed = (host: string, allowed: readonly string[]) =>
  new ApiError(
    'openapi_host_not_allowed',
    400,
    `"${host}" is not an allowed host for OpenAPI documents (${allowed.length > 0 ? `allowed: ${allowed.join(', ')}` : 'none are configured'}); paste the document itself as "openapi", or ask an operator to add the host to BMMS_OPENAPI_HOSTS`,
  );
export const openapiUnreachable = (url: string, why: string) =>
  new ApiError('openapi_unreachable', 502, `the OpenAPI document at ${url} could not be fetched: ${why}`);
export const openapiSelectionRequired = (count: number, max: number, sample: string[]) =>
  new ApiError(
    'openapi_selection_required',
    400,
    `the document has ${count} operations, more than the ${max} tools a server may have: pass "operations" with up to ${max} operation ids (or "METHOD /path"); list them with POST /api/v1/openapi/operations {"openapi": …}`,
    { details: { count, max, operations: sample } },
  );
export const openapiTooManyOperations = (count: number, max: number) =>
  new ApiError(
    'openapi_too_many_operations',
    400,
    `${count} operations selected, but a server may have at most ${max} tools on your plan: select fewer`,
  );
export const openapiUnknownOperations = (unknown: string[]) =>
  new ApiError(
    'openapi_unknown_operations',
    400,
    `no operation matches ${unknown.map((u) => `"${u}"`).join(', ')}: use an operationId or "METHOD /path" as listed by POST /api/v1/openapi/operations`,
    { details: { unknown } },
  );
export const openapiNoServer = () =>
  new ApiError(
    'openapi_no_server',
    400,
    'the document names no absolute server URL: pass "baseUrl" (e.g. "https://api.example.com/v1")',
  );
export const openapiBadBaseUrl = (url: string, why: string) =>
  new ApiError('openapi_bad_base_url', 400, `the API base URL "${url}" cannot be used: ${why}`);
export const openapiOverBudget = (tokens: number, budget: number) =>
  new ApiError(
    'openapi_over_budget',
    400,
    `the selected operations need ${tokens} description tokens even when trimmed, over the budget of ${budget}: select fewer operations`,
  );
