import type { LogRecord } from '../logs/records.ts';

export type { LogRecord };

// The typed REST client the CLI uses: one small method per /api/v1 endpoint, nothing else. It is kept apart from
// the commands so that it can be replaced by a client generated from GET /api/v1/openapi.json once that document
// lands; the commands only see these method names and types.

/** The error shape of every /api/v1 answer. */
export interface ApiErrorBody {
  error: { code: string; message: string; details?: Record<string, unknown> };
}

/** An answer that was not 2xx: the HTTP status and the API's `{error:{code,message}}` (or a synthesized one). */
export class RemoteError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: Record<string, unknown> | undefined;
  constructor(status: number, code: string, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = 'RemoteError';
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

/** A server as the API returns it. */
export interface Server {
  name: string;
  description: string;
  template: string | null;
  url: string;
  gitUrl: string;
  desiredRevision: string | null;
  lastAttemptedRevision: string | null;
  observedRevision: string | null;
  conditions: { type: string; status: string; reason: string; message: string; lastTransitionTime: string }[];
  history: { revision: string; state: string; reason: string; message: string; startedAt: string }[];
  createdAt: string;
  updatedAt: string;
}

/** Calls, errors and latency percentiles in ms (null without calls). */
export interface CallFigures {
  calls: number;
  errors: number;
  p50: number | null;
  p95: number | null;
  p99: number | null;
}

/** A server's call metrics over a period, as GET /servers/:name/metrics answers. */
export interface ServerMetrics {
  period: 'hour' | 'day' | 'week' | 'month';
  bucket: 'minute' | 'hour' | 'day';
  from: string;
  to: string;
  totals: CallFigures & { coldStarts: number; deploys: number };
  series: (CallFigures & { start: string })[];
  tools: (CallFigures & { tool: string })[];
}

/** One check run of a change. */
export interface CheckRun {
  name: string;
  status: string;
  conclusion: string | null;
  summary: string | null;
  durationMs: number | null;
}

/** A change (pull request) as the API returns it. */
export interface Change {
  number: number;
  title: string;
  body: string;
  state: 'open' | 'merged' | 'closed';
  branch: string;
  head: string;
  base: string | null;
  mergeSha: string | null;
  checkSuite: { tree: string; status: string; conclusion: string | null } | null;
  checks: CheckRun[];
  preview: { url: string; status: string } | null;
  createdAt: string;
  updatedAt: string;
}

/** A secret's metadata (the API never returns values). */
export interface Secret {
  name: string;
  declared: boolean;
  keyVersion: string;
  createdAt: string;
  updatedAt: string;
}

/** An API key's metadata. */
export interface ApiKey {
  id: string;
  name: string;
  prefix: string;
  scopes: string[];
  userId: string;
  createdAt: string;
  lastUsedAt: string | null;
}

/** One event of a generation's stream. */
export interface GenerationEvent {
  seq: number;
  type: string;
  [field: string]: unknown;
}

/** A generation as the API returns it. */
export interface Generation {
  id: string;
  kind: string;
  status: string;
  server: string | null;
  change: number | null;
  spec: Record<string, unknown> | null;
  error: { code: string; message: string } | null;
  events: GenerationEvent[];
}

/** Who the key acts for. */
export interface Me {
  user: { id: string; email: string; name: string | null; hasPassword: boolean };
  org: string | null;
  role: string;
  orgs: { slug: string; name: string; role: string }[];
}

/** The filters of a log query (all optional). */
export type LogQuery = Partial<
  Record<'since' | 'until' | 'level' | 'kind' | 'tool' | 'q' | 'limit' | 'before', string>
>;

/** Where the client talks to and with which key. */
export interface ClientOptions {
  url: string;
  key: string;
  /** The fetch to use (tests and proxies may pass their own). */
  fetch?: typeof fetch;
}

const seg = encodeURIComponent;

/** One audit event as GET /audit returns it. */
export interface AuditEvent {
  id: string;
  time: string;
  action: string;
  actor: { userId: string | null; email: string | null; apiKeyId: string | null } | null;
  target: { type: string; id: string | null };
  ip: string | null;
  requestId: string | null;
  data: Record<string, unknown>;
}

/** A page of the audit log; `next` is the `before` of the following (older) page. */
export interface AuditPage {
  events: AuditEvent[];
  next: string | null;
}

/** A typed client for /api/v1. */
export class BmmsClient {
  readonly #base: string;
  readonly #key: string;
  readonly #fetch: typeof fetch;

  constructor(options: ClientOptions) {
    this.#base = `${options.url.replace(/\/+$/, '')}/api/v1`;
    this.#key = options.key;
    this.#fetch = options.fetch ?? fetch;
  }

  /** Sends one request; a network failure becomes a RemoteError with code `unreachable`. */
  async #send(path: string, init: RequestInit): Promise<Response> {
    try {
      return await this.#fetch(`${this.#base}${path}`, init);
    } catch (err) {
      const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : '';
      throw new RemoteError(0, 'unreachable', `cannot reach ${this.#base}${cause}`);
    }
  }

  async #call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.#send(path, {
      method,
      headers: {
        authorization: `Bearer ${this.#key}`,
        accept: 'application/json',
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    if (!res.ok) {
      const e = (parsed as ApiErrorBody | undefined)?.error;
      if (e && typeof e.code === 'string') throw new RemoteError(res.status, e.code, e.message, e.details);
      throw new RemoteError(res.status, `http_${res.status}`, `${method} ${path} answered ${res.status}`);
    }
    return parsed as T;
  }

  /** GET /me */
  me(): Promise<Me> {
    return this.#call('GET', '/me');
  }

  /** GET /servers */
  listServers(): Promise<{ servers: Server[] }> {
    return this.#call('GET', '/servers');
  }

  /** POST /servers (a template, a published template with `from`, or an `openapi` document) */
  createServer(body: Record<string, unknown>): Promise<{ server: Server; change: Change }> {
    return this.#call('POST', '/servers', body);
  }

  /** GET /servers/:name */
  getServer(name: string): Promise<Server> {
    return this.#call('GET', `/servers/${seg(name)}`);
  }

  /** GET /servers/:name/metrics */
  serverMetrics(name: string, period?: string, tool?: string): Promise<ServerMetrics> {
    const query = new URLSearchParams({ ...(period ? { period } : {}), ...(tool ? { tool } : {}) }).toString();
    return this.#call('GET', `/servers/${seg(name)}/metrics${query ? `?${query}` : ''}`);
  }

  /** DELETE /servers/:name */
  async deleteServer(name: string): Promise<void> {
    await this.#call('DELETE', `/servers/${seg(name)}`);
  }

  /** GET /servers/:name/changes */
  listChanges(server: string, state?: string): Promise<{ changes: Change[] }> {
    return this.#call('GET', `/servers/${seg(server)}/changes${state ? `?state=${seg(state)}` : ''}`);
  }

  /** GET /servers/:name/changes/:number */
  getChange(server: string, n: string): Promise<Change> {
    return this.#call('GET', `/servers/${seg(server)}/changes/${seg(n)}`);
  }

  /** POST /servers/:name/changes/:number/merge */
  mergeChange(server: string, n: string): Promise<{ sha: string; change: Change }> {
    return this.#call('POST', `/servers/${seg(server)}/changes/${seg(n)}/merge`);
  }

  /** POST /servers/:name/changes/:number/close */
  closeChange(server: string, n: string): Promise<Change> {
    return this.#call('POST', `/servers/${seg(server)}/changes/${seg(n)}/close`);
  }

  /** POST /servers/:name/revert */
  revert(server: string, sha?: string): Promise<{ sha: string; reverted: string }> {
    return this.#call('POST', `/servers/${seg(server)}/revert`, sha ? { sha } : {});
  }

  /** GET /servers/:name/secrets */
  listSecrets(server: string): Promise<{ secrets: Secret[]; missing: string[] }> {
    return this.#call('GET', `/servers/${seg(server)}/secrets`);
  }

  /** PUT /servers/:name/secrets/:secret */
  setSecret(server: string, name: string, value: string): Promise<Secret> {
    return this.#call('PUT', `/servers/${seg(server)}/secrets/${seg(name)}`, { value });
  }

  /** DELETE /servers/:name/secrets/:secret */
  async deleteSecret(server: string, name: string): Promise<void> {
    await this.#call('DELETE', `/servers/${seg(server)}/secrets/${seg(name)}`);
  }

  /** GET /keys */
  listKeys(): Promise<{ keys: ApiKey[] }> {
    return this.#call('GET', '/keys');
  }

  /** POST /keys (the key itself is in the answer, once) */
  createKey(name: string, scopes?: string[]): Promise<Omit<ApiKey, 'userId' | 'lastUsedAt'> & { key: string }> {
    return this.#call('POST', '/keys', scopes ? { name, scopes } : { name });
  }

  /** DELETE /keys/:id */
  async revokeKey(id: string): Promise<void> {
    await this.#call('DELETE', `/keys/${seg(id)}`);
  }

  /** GET /audit: a page of the org's audit log, newest first (owners and admins). */
  listAudit(query: Record<string, string | undefined>): Promise<AuditPage> {
    return this.#call('GET', `/audit${queryString(query)}`);
  }

  /** DELETE /org (`confirm`: the org's slug or name) */
  deleteOrg(confirm: string): Promise<{ deleted: true; servers: number }> {
    return this.#call('DELETE', '/org', { confirm });
  }

  /** DELETE /me (`confirm`: the account's email) */
  deleteAccount(confirm: string): Promise<{ deleted: true; orgs: number }> {
    return this.#call('DELETE', '/me', { confirm });
  }

  /** POST /generations */
  startGeneration(body: { prompt: string; server?: string }): Promise<Generation> {
    return this.#call('POST', '/generations', body);
  }

  /** GET /generations/:id */
  getGeneration(id: string): Promise<Generation> {
    return this.#call('GET', `/generations/${seg(id)}`);
  }

  /** POST /generations/:id/confirm */
  confirmGeneration(id: string, spec?: Record<string, unknown>): Promise<Generation> {
    return this.#call('POST', `/generations/${seg(id)}/confirm`, spec ? { spec } : {});
  }

  /** GET /servers/:name/logs */
  serverLogs(
    server: string,
    query: LogQuery,
  ): Promise<{ logs: LogRecord[]; next?: { before?: string; after?: string } }> {
    return this.#call('GET', `/servers/${seg(server)}/logs${queryString(query)}`);
  }

  /**
   * GET /servers/:name/logs?follow=1: yields records as they come, from `lastEventId` on when given, until the
   * stream ends (the platform went away); an error answer throws a RemoteError.
   */
  async *followLogs(server: string, query: LogQuery, lastEventId?: string): AsyncGenerator<LogRecord> {
    const res = await this.#send(`/servers/${seg(server)}/logs${queryString({ ...query, follow: '1' })}`, {
      headers: {
        authorization: `Bearer ${this.#key}`,
        accept: 'text/event-stream',
        ...(lastEventId ? { 'last-event-id': lastEventId } : {}),
      },
    });
    if (!res.ok || !res.body) {
      const parsed = (await res.json().catch(() => undefined)) as ApiErrorBody | undefined;
      throw new RemoteError(res.status, parsed?.error?.code ?? `http_${res.status}`, parsed?.error?.message ?? '');
    }
    for await (const data of sseData(res.body)) yield JSON.parse(data) as LogRecord;
  }

  /** GET /generations/:id/events: yields server-sent events until the generation ends (the stream closes). */
  async *generationEvents(id: string, after = -1): AsyncGenerator<GenerationEvent> {
    const res = await this.#send(`/generations/${seg(id)}/events`, {
      headers: {
        authorization: `Bearer ${this.#key}`,
        accept: 'text/event-stream',
        ...(after >= 0 ? { 'last-event-id': String(after) } : {}),
      },
    });
    if (!res.ok || !res.body) {
      const parsed = (await res.json().catch(() => undefined)) as ApiErrorBody | undefined;
      throw new RemoteError(res.status, parsed?.error?.code ?? `http_${res.status}`, parsed?.error?.message ?? '');
    }
    for await (const data of sseData(res.body)) yield JSON.parse(data) as GenerationEvent;
  }
}

/** `?a=1&b=2` of the defined values, or nothing. */
function queryString(query: Record<string, string | undefined>): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined) params.set(k, v);
  const text = params.toString();
  return text ? `?${text}` : '';
}

/** The `data` of each event of a server-sent event stream. */
async function* sseData(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let buffer = '';
  const decoder = new TextDecoder();
  for await (const chunk of body) {
    buffer += decoder.decode(chunk, { stream: true });
    for (let end = buffer.indexOf('\n\n'); end !== -1; end = buffer.indexOf('\n\n')) {
      const frame = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = frame
        .split('\n')
        .filter((line) => line.startsWith('data: '))
        .map((line) => line.slice(6))
        .join('\n');
      if (data) yield data;
    }
  }
}
