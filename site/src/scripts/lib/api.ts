/** The platform's REST API from the browser: the session cookie authenticates, X-CSRF-Token guards mutations. */

export class ApiError extends Error {
  readonly code: string;
  readonly status: number;
  readonly details: Record<string, unknown> | undefined;
  /** Seconds the API asked to wait before trying again (its Retry-After header), when it said. */
  readonly retryAfter: number | undefined;
  constructor(status: number, code: string, message: string, details?: Record<string, unknown>, retryAfter?: number) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
    this.retryAfter = retryAfter;
  }
  /** The form field the error is about, when the API named one. */
  get field(): string | undefined {
    const f = this.details?.field;
    return typeof f === 'string' ? f : undefined;
  }
}

export interface Session {
  user: { id: string; email: string; name: string };
  csrfToken: string;
}

let session: Promise<Session | null> | undefined;

/** The signed-in user and the CSRF token (null when signed out). */
export function currentSession(): Promise<Session | null> {
  session ??= fetch('/auth/session', { credentials: 'same-origin' }).then(async (r) =>
    r.ok ? ((await r.json()) as Session) : null,
  );
  return session;
}

/** Sends the browser to sign-in, to come back here afterwards. */
export function toSignIn(): never {
  location.assign(`/signin/?next=${encodeURIComponent(location.pathname + location.search)}`);
  throw new ApiError(401, 'unauthorized', 'signed out');
}

/** Calls `/api/v1${path}`; resolves the JSON answer or throws ApiError with the API's message. */
export async function api<T = Record<string, unknown>>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (method !== 'GET') {
    const s = await currentSession();
    if (!s) toSignIn();
    headers['x-csrf-token'] = s.csrfToken;
  }
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`/api/v1${path}`, {
    method,
    headers,
    credentials: 'same-origin',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (res.status === 401) toSignIn();
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    throw new ApiError(res.status, 'bad_response', `the platform answered ${res.status} without JSON`);
  }
  if (!res.ok) {
    const e = (parsed as { error?: { code?: string; message?: string; details?: Record<string, unknown> } })?.error;
    throw new ApiError(
      res.status,
      e?.code ?? 'error',
      e?.message ?? `HTTP ${res.status}`,
      e?.details,
      retryAfterSeconds(res.headers.get('retry-after')),
    );
  }
  return parsed as T;
}

/** A Retry-After header's delay in seconds (the HTTP-date form too); undefined when absent or unreadable. */
function retryAfterSeconds(header: string | null): number | undefined {
  if (!header) return undefined;
  if (/^\d+$/.test(header.trim())) return Number(header.trim());
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - Date.now()) / 1000));
}

/** A JSON POST to /auth (sign-in, sign-up, set password); throws ApiError. */
export async function auth<T>(path: string, body: unknown): Promise<T> {
  const res = await fetch(`/auth${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    credentials: 'same-origin',
    body: JSON.stringify(body),
  });
  const parsed = (await res.json().catch(() => ({}))) as {
    error?: { code: string; message: string; details?: Record<string, unknown> };
  };
  if (!res.ok)
    throw new ApiError(
      res.status,
      parsed.error?.code ?? 'error',
      parsed.error?.message ?? `HTTP ${res.status}`,
      parsed.error?.details,
    );
  session = undefined;
  return parsed as T;
}

/** Where to go after signing in: a same-site path from ?next=, else the dashboard. */
export function nextPath(): string {
  const next = new URLSearchParams(location.search).get('next') ?? '';
  return next.startsWith('/') && !next.startsWith('//') && !next.startsWith('/\\') ? next : '/dashboard/';
}

export interface Condition {
  type: string;
  status: string;
  reason: string;
  message: string;
  lastTransitionTime?: string;
}

export interface ServerView {
  name: string;
  description: string | null;
  template: string | null;
  url: string;
  gitUrl: string;
  /** Where the repository is on GitHub; null: the platform's own Git store. */
  github: { owner: string; repo: string; url: string | null } | null;
  desiredRevision: string | null;
  lastAttemptedRevision: string | null;
  observedRevision: string | null;
  conditions: Condition[];
  history: {
    revision: string;
    tree: string;
    state: string;
    reason: string | null;
    message: string | null;
    startedAt: string;
    finishedAt: string | null;
  }[];
  createdAt: string;
  updatedAt: string;
}

/** A custom domain of a server (GET /servers/<name>/domains): its state and the two DNS records it needs. */
export interface CustomDomain {
  hostname: string;
  /** The MCP URL on this domain (answers once verified). */
  url: string;
  status: 'pending' | 'verified';
  createdAt: string;
  verifiedAt: string | null;
  checkedAt: string | null;
  /** What the last verification attempt found, when it failed. */
  lastError: string | null;
  /** The record that proves the org controls the name. */
  verification: { type: 'TXT'; name: string; value: string };
  /** Where the name must point for calls to reach the platform. */
  routing: { type: 'CNAME'; name: string; value: string };
}

/** GET /usage: the org's usage this month against its plan. */
export interface UsageView {
  plan: { id: string; name: string; servers: number | null; monthlyCalls: number | null };
  period: { from: string; to: string };
  calls: number;
  quota: number | null;
  servers: { count: number; limit: number | null };
  byServer: Array<{
    server: string | null;
    serverId: string;
    calls: number;
    requests: number;
    errors: number;
    previewRequests: number;
  }>;
}

export interface CheckView {
  name: string;
  status: string;
  conclusion: string | null;
  summary: string | null;
  durationMs: number | null;
  startedAt: string | null;
  completedAt: string | null;
}

export interface ChangeView {
  number: number;
  title: string;
  body: string | null;
  state: string;
  branch: string;
  head: string;
  base: string | null;
  mergeSha: string | null;
  checkSuite: { tree: string | null; status: string; conclusion: string | null };
  checks: CheckView[];
  preview: { url: string; status: string; install: { claudeCode: string } } | null;
  /** The change's pull request on GitHub (servers on GitHub). */
  pullRequest: { number: number; url: string | null } | null;
  createdAt: string;
  updatedAt: string;
}

export interface ToolView {
  name: string;
  title?: string;
  description: string;
  inputSchema: JsonSchema;
  scopes?: string[];
  _meta?: { ui?: { resourceUri?: string; visibility?: string[] } };
}

/** An MCP Apps view (a ui:// resource of mcp.json). */
export interface ViewInfo {
  uri: string;
  name: string;
  title?: string;
  description?: string;
  _meta?: { ui?: { csp?: { connectDomains?: string[]; resourceDomains?: string[]; frameDomains?: string[] } } };
}

export interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  enum?: unknown[];
  description?: string;
  default?: unknown;
  items?: JsonSchema;
  title?: string;
  minimum?: number;
  maximum?: number;
}

const isTrue = (s: ServerView, type: string) => s.conditions.some((c) => c.type === type && c.status === 'True');

/** A server's status in one word: live, building, failed or draft. */
export function serverStatus(s: ServerView): 'live' | 'building' | 'failed' | 'draft' {
  if (!s.desiredRevision && !s.observedRevision && !s.lastAttemptedRevision) return 'draft';
  if (isTrue(s, 'Progressing')) return 'building';
  if (isTrue(s, 'Stalled') || isTrue(s, 'Degraded')) return 'failed';
  if (isTrue(s, 'Ready')) return 'live';
  return s.observedRevision ? 'building' : 'draft';
}

/** A change's status in one word, for its pill. */
export function changeStatus(c: ChangeView): string {
  if (c.state === 'merged') return 'merged';
  if (c.state === 'closed') return 'closed';
  if (c.checks.some((r) => r.status === 'completed' && r.conclusion !== 'success' && r.conclusion !== 'skipped'))
    return 'failed';
  if (c.checkSuite.conclusion === 'success') return 'live';
  return 'building';
}
