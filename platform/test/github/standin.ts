/**
 * A local stand-in for the GitHub REST endpoints the platform uses (repositories, git data, refs, pulls, merges,
 * check runs, statuses, installation tokens), reached by Octokit through its `baseUrl`. Objects are stored with
 * real Git SHAs. Every response is validated against GitHub's OpenAPI description (`./openapi.ts`): one that does
 * not validate is answered 500 and recorded in `violations`, which a test asserts empty. GETs carry an ETag and
 * answer 304 to a matching If-None-Match. With `webhook` set, ref moves, merges and closed pull requests are
 * delivered as GitHub delivers them: payloads validated against GitHub's webhook schemas, signed HMAC-SHA256.
 */
import { createHash, createHmac, randomBytes, randomUUID, verify as verifySignature } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type Request, type Response } from 'express';
import {
  declares,
  instanceOf,
  responseSchemaPointer,
  validateResponse,
  validateWebhook,
  webhookInstance,
} from './openapi.ts';

type Json = ReturnType<typeof instanceOf>;

interface TreeEntry {
  path: string;
  mode: string;
  type: 'blob' | 'tree';
  sha: string;
}
interface CommitObject {
  tree: string;
  parents: string[];
  message: string;
  author: { name: string; email: string; date: string };
}
interface PullState {
  number: number;
  id: number;
  title: string;
  body: string | null;
  head: string;
  base: string;
  state: 'open' | 'closed';
  merged: boolean;
  mergeSha: string | null;
  createdAt: string;
}
interface CheckRunState {
  id: number;
  headSha: string;
  name: string;
  status: string;
  conclusion: string | null;
  title: string | null;
  summary: string | null;
  text: string | null;
  detailsUrl: string | null;
  externalId: string | null;
}
interface RepoState {
  id: number;
  owner: string;
  name: string;
  private: boolean;
  /** The branch GitHub calls the default: the owner's setting when the repository was created, until changed. */
  defaultBranch: string;
  blobs: Map<string, Buffer>;
  trees: Map<string, TreeEntry[]>;
  commits: Map<string, CommitObject>;
  refs: Map<string, string>;
  pulls: PullState[];
  checkRuns: CheckRunState[];
  statuses: {
    id: number;
    sha: string;
    state: string;
    context: string;
    description: string | null;
    targetUrl: string | null;
    at: string;
  }[];
}

/** A recorded response that did not validate against GitHub's description. */
export interface Violation {
  operationId: string | null;
  status: number;
  problems: string[];
}

/** Options of the stand-in: the accounts it knows and the tokens it accepts. */
export interface GitHubStandInOptions {
  /** Personal access tokens accepted, mapped to their user's login. */
  tokens?: Record<string, string>;
  /** Tokens without the checks permission (check runs answer 403, as for a fine-grained token without it). */
  withoutChecks?: string[];
  /**
   * GitHub Apps, by app id: the public key their JWTs are verified with (RS256) and their installations (id → the
   * account installed on). Without it, /app routes take any caller.
   */
  apps?: Record<string, { publicKey: string; installations: Record<string, string> }>;
  /** The default branch of repositories created for an owner (GitHub's account setting; default `main`). */
  defaultBranches?: Record<string, string>;
}

const now = () => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
const gitSha = (type: string, body: Buffer) =>
  createHash('sha1').update(`${type} ${body.length}\0`).update(body).digest('hex');

/** One webhook delivery as it was sent, and what the receiver answered. */
export interface SentDelivery {
  id: string;
  event: string;
  body: string;
  signature: string;
  status: number;
  /** When it was sent (ms since the epoch). */
  sentAt: number;
}

const ZERO = '0'.repeat(40);

/** A commit's author from a request body (GitHub fills what is missing from the token's user). */
const authorOf = (body: { name?: unknown; email?: unknown; date?: unknown } | undefined) => ({
  name: String(body?.name ?? 'nobody'),
  email: String(body?.email ?? 'nobody@example.invalid'),
  date: String(body?.date ?? now()),
});

/** The operation of a Git data request, by method and the path after `/git/` (its answer is validated as that). */
function gitDataOperation(method: string, path: string): string | null {
  const [kind] = path.split('/').filter(Boolean);
  const of: Record<string, Record<string, string>> = {
    blobs: { POST: 'git/create-blob', GET: 'git/get-blob' },
    trees: { POST: 'git/create-tree', GET: 'git/get-tree' },
    commits: { POST: 'git/create-commit', GET: 'git/get-commit' },
    ref: { GET: 'git/get-ref' },
    'matching-refs': { GET: 'git/list-matching-refs' },
    refs: { POST: 'git/create-ref', PATCH: 'git/update-ref', DELETE: 'git/delete-ref' },
  };
  return of[kind ?? '']?.[method] ?? null;
}

/** The stand-in: `url` is Octokit's `baseUrl`; `violations` lists responses that broke GitHub's schemas. */
export class GitHubStandIn {
  readonly violations: Violation[] = [];
  /** Where events are delivered (a repository or app webhook); null: webhooks are off. */
  webhook: { url: string; secret: string } | null = null;
  /** Every delivery sent, in order. */
  readonly deliveries: SentDelivery[] = [];
  /** Conditional GETs answered 304 Not Modified (what polling with ETags saves). */
  notModified = 0;
  /** Repositories renamed or transferred: their old `owner/name` → their id (GitHub redirects the old name). */
  readonly #moved = new Map<string, number>();
  /** The installation tokens handed out, by installation (revoked when it is uninstalled). */
  readonly #installationTokens = new Map<string, Set<string>>();
  readonly #inFlight = new Set<Promise<void>>();
  readonly #protected = new Set<string>();
  readonly repos = new Map<string, RepoState>();
  url = '';
  readonly #tokens = new Map<string, string>();
  readonly #withoutChecks = new Set<string>();
  readonly #apps: NonNullable<GitHubStandInOptions['apps']> | undefined;
  readonly #defaultBranches: Record<string, string>;
  readonly #app = express();
  #server: Server | undefined;
  #ids = 1000;
  /** Test hook: an operation whose next response loses this field (to prove validation catches drift). */
  breakNext: { operationId: string; field: string } | undefined;

  constructor(options: GitHubStandInOptions = {}) {
    for (const [token, login] of Object.entries(options.tokens ?? {})) this.#tokens.set(token, login);
    for (const token of options.withoutChecks ?? []) this.#withoutChecks.add(token);
    this.#apps = options.apps;
    this.#defaultBranches = options.defaultBranches ?? {};
    this.#routes();
  }

  /** Protects a branch: updating its ref directly is refused (422), as GitHub's branch protection does; merges of pull requests go through. */
  protect(owner: string, name: string, branch: string): void {
    this.#protected.add(`${owner}/${name}:refs/heads/${branch}`.toLowerCase());
  }

  /** Renames a repository, as its owner would on github.com: the old name redirects, `repository` `renamed` is sent. */
  renameRepo(owner: string, name: string, newName: string): void {
    const { repo, before } = this.#move(owner, name, owner, newName);
    this.deliver('repository', 'repository-renamed', {
      action: 'renamed',
      changes: { repository: { name: { from: before.name } } },
      repository: this.#hookRepository(repo),
    });
  }

  /** Transfers a repository to another owner, as on github.com: the old place redirects, `repository` `transferred` is sent. */
  transferRepo(owner: string, name: string, newOwner: string): void {
    const { repo, before } = this.#move(owner, name, newOwner, name);
    this.deliver('repository', 'repository-transferred', {
      action: 'transferred',
      changes: { owner: { from: { user: { ...this.#userFields(before.owner, 4), gravatar_id: '' } } } },
      repository: this.#hookRepository(repo),
    });
  }

  #move(owner: string, name: string, newOwner: string, newName: string) {
    const key = `${owner}/${name}`.toLowerCase();
    const repo = this.repos.get(key);
    if (!repo) throw new Error(`no repository ${owner}/${name}`);
    const before = { owner: repo.owner, name: repo.name };
    this.repos.delete(key);
    Object.assign(repo, { owner: newOwner, name: newName });
    this.repos.set(`${newOwner}/${newName}`.toLowerCase(), repo);
    this.#moved.set(key, repo.id);
    return { repo, before };
  }

  /**
   * Uninstalls an app installation, as the account's owner would on github.com: its tokens stop working at once, no
   * new one is handed out, and `installation` `deleted` is sent.
   */
  uninstall(installationId: string): void {
    const [appId, account] = this.#installation(installationId);
    for (const token of this.#installationTokens.get(installationId) ?? []) this.#tokens.delete(token);
    this.#installationTokens.delete(installationId);
    delete this.#apps?.[appId]?.installations[installationId];
    this.#installationEvent('deleted', appId, installationId, account);
  }

  /** Installs app `appId` on `account` (again): a new installation id, sent as `installation` `created`. */
  install(appId: string, account: string): string {
    const app = this.#apps?.[appId];
    if (!app) throw new Error(`no app ${appId}`);
    const installationId = String(this.#ids++);
    app.installations[installationId] = account;
    this.#installationEvent('created', appId, installationId, account);
    return installationId;
  }

  /** The app and the account of an installation. */
  #installation(installationId: string): [string, string] {
    for (const [appId, app] of Object.entries(this.#apps ?? {})) {
      const account = app.installations[installationId];
      if (account !== undefined) return [appId, account];
    }
    throw new Error(`no installation ${installationId}`);
  }

  #installationEvent(action: 'created' | 'deleted', appId: string, installationId: string, account: string): void {
    this.deliver('installation', `installation-${action}`, {
      action,
      installation: this.#installationBody(appId, installationId, account),
      repositories: [],
    });
  }

  /** Deletes a repository, as its owner would on github.com. */
  deleteRepo(owner: string, name: string): void {
    this.repos.delete(`${owner}/${name}`.toLowerCase());
  }

  /** Accepts one more personal access token, of `login`. */
  addToken(token: string, login: string): void {
    this.#tokens.set(token, login);
  }

  /** Revokes a token: from now on it is answered 401 Bad credentials (a revoked or expired token). */
  revoke(token: string): void {
    this.#tokens.delete(token);
  }

  /** The app id a request's JWT proves (RS256 over header.payload, `iss` the app, not expired), or undefined. */
  #appOf(req: Request): string | undefined {
    const jwt = (req.headers.authorization ?? '').replace(/^bearer\s+/i, '');
    const [header, payload, signature] = jwt.split('.');
    if (!header || !payload || !signature) return undefined;
    let claims: { iss?: unknown; exp?: unknown };
    try {
      claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    } catch {
      return undefined;
    }
    const app = this.#apps?.[String(claims.iss)];
    if (!app || typeof claims.exp !== 'number' || claims.exp * 1000 < Date.now()) return undefined;
    const signed = Buffer.from(`${header}.${payload}`);
    return verifySignature('RSA-SHA256', signed, app.publicKey, Buffer.from(signature, 'base64url'))
      ? String(claims.iss)
      : undefined;
  }

  /** Listens on 127.0.0.1 (a free port). */
  async start(): Promise<this> {
    await new Promise<void>((resolve) => {
      this.#server = this.#app.listen(0, '127.0.0.1', () => resolve());
    });
    const address = this.#server?.address() as AddressInfo | null | undefined;
    this.url = `http://127.0.0.1:${address?.port ?? 0}`;
    return this;
  }

  async stop(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Resolves once every delivery sent so far was answered. */
  async settled(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
  }

  /**
   * Delivers event `event` (GitHub's `X-GitHub-Event`) as GitHub would: a payload of the webhook schema `key` with
   * `fields`, validated (a violation otherwise), signed with the secret (`X-Hub-Signature-256`), a new delivery id.
   */
  deliver(event: string, key: string, fields: Record<string, unknown>): void {
    const hook = this.webhook;
    if (!hook) return;
    const payload = webhookInstance(key, { sender: this.#user('octocat', 3), ...fields });
    const problems = validateWebhook(key, payload);
    if (problems.length > 0) {
      this.violations.push({ operationId: `webhook ${key}`, status: 0, problems });
      return;
    }
    const body = JSON.stringify(payload);
    const signature = `sha256=${createHmac('sha256', hook.secret).update(body).digest('hex')}`;
    const id = randomUUID();
    const sentAt = Date.now();
    const sent = fetch(hook.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'user-agent': 'GitHub-Hookshot/standin',
        'x-github-event': event,
        'x-github-delivery': id,
        'x-hub-signature-256': signature,
      },
      body,
    })
      .then(async (r) => {
        await r.arrayBuffer();
        this.deliveries.push({ id, event, body, signature, status: r.status, sentAt });
      })
      .catch(() => {
        this.deliveries.push({ id, event, body, signature, status: 0, sentAt });
      })
      .finally(() => this.#inFlight.delete(sent));
    this.#inFlight.add(sent);
  }

  /** A `push` delivery for a ref that moved from `before` to `after` (zeros: created or deleted). */
  #pushed(repo: RepoState, ref: string, before: string, after: string, forced = false): void {
    if (!ref.startsWith('refs/heads/')) return;
    this.deliver('push', 'push', {
      ref,
      before,
      after,
      created: before === ZERO,
      deleted: after === ZERO,
      forced,
      base_ref: null,
      compare: `https://github.com/${repo.owner}/${repo.name}/compare/${before.slice(0, 12)}...${after.slice(0, 12)}`,
      commits: [],
      head_commit: null,
      pusher: { name: 'octocat', email: 'octocat@example.invalid' },
      repository: this.#hookRepository(repo),
    });
  }

  /** A `pull_request` delivery with `action` (closed: merged or not). */
  #pullEvent(repo: RepoState, pull: PullState, action: string): void {
    this.deliver('pull_request', `pull-request-${action}`, {
      action,
      number: pull.number,
      pull_request: this.#pullBody(repo, pull),
      repository: this.#hookRepository(repo),
    });
  }

  /** Someone clicks "Re-run" on a check run in GitHub's UI: a `check_run` `rerequested` delivery. */
  rerequest(owner: string, name: string, checkRunId: number): void {
    const repo = this.repos.get(`${owner}/${name}`.toLowerCase());
    const run = repo?.checkRuns.find((r) => r.id === checkRunId);
    if (!repo || !run) throw new Error(`no check run ${checkRunId} in ${owner}/${name}`);
    this.deliver('check_run', 'check-run-rerequested', {
      action: 'rerequested',
      check_run: this.#checkRunBody(repo, run),
      repository: this.#hookRepository(repo),
    });
  }

  #hookRepository(repo: RepoState): Json {
    const full = `${repo.owner}/${repo.name}`;
    return this.#repository(repo, 'repository', {
      git_url: `git://github.com/${full}.git`,
      owner: instanceOf('simple-user', { ...this.#userFields(repo.owner), gravatar_id: '' }),
    });
  }

  /** Sends `body` as the answer of `operationId`, after validating it against GitHub's schema for `status`. */
  #send(res: Response, operationId: string | null, status: number, body?: unknown): void {
    if (res.req.method === 'GET' && status === 200 && body !== undefined) {
      const etag = `"${createHash('sha1').update(JSON.stringify(body)).digest('hex')}"`;
      res.setHeader('ETag', etag);
      if (res.req.headers['if-none-match'] === etag) {
        this.notModified++;
        res.status(304).end();
        return;
      }
    }
    let payload = body;
    if (this.breakNext?.operationId === operationId && typeof payload === 'object' && payload !== null) {
      const { [this.breakNext.field]: _dropped, ...rest } = payload as Record<string, unknown>;
      payload = rest;
      this.breakNext = undefined;
    }
    const problems = validateResponse(operationId, status, payload);
    if (problems.length > 0) {
      this.violations.push({ operationId, status, problems });
      res.status(500).json({ message: `stand-in response of ${operationId} does not validate: ${problems[0]}` });
      return;
    }
    if (payload === undefined) res.status(status).end();
    else res.status(status).json(payload);
  }

  #error(res: Response, operationId: string | null, status: number, message: string) {
    // An error GitHub documents without a body (delete-ref's 422, "an attempt was made to delete the default
    // branch") is sent as documented.
    if (operationId && declares(operationId, status) && responseSchemaPointer(operationId, status) === null) {
      return this.#send(res, operationId, status);
    }
    this.#send(res, operationId, status, {
      message,
      documentation_url: 'https://docs.github.com/rest',
      status: String(status),
    });
  }

  #login(req: Request): string | undefined {
    const header = req.headers.authorization ?? '';
    const token = header.replace(/^(token|bearer)\s+/i, '');
    return this.#tokens.get(token);
  }

  #repo(req: Request, res: Response, operationId: string): RepoState | undefined {
    const repo = this.repos.get(`${req.params.owner}/${req.params.repo}`.toLowerCase());
    if (!repo) this.#error(res, operationId, 404, 'Not Found');
    return repo;
  }

  #user(login: string, id = 1): Json {
    return instanceOf('simple-user', this.#userFields(login, id));
  }

  #userFields(login: string, id = 1): Record<string, unknown> {
    return {
      login,
      id,
      node_id: `U_${id}`,
      type: 'User',
      url: `${this.url}/users/${encodeURIComponent(login)}`,
      html_url: `https://github.com/${encodeURIComponent(login)}`,
      avatar_url: 'https://avatars.githubusercontent.com/u/1',
    };
  }

  #repository(repo: RepoState, component = 'full-repository', extra: Record<string, unknown> = {}): Json {
    const fullName = `${repo.owner}/${repo.name}`;
    return instanceOf(component, {
      id: repo.id,
      node_id: `R_${repo.id}`,
      name: repo.name,
      full_name: fullName,
      private: repo.private,
      visibility: repo.private ? 'private' : 'public',
      owner: this.#user(repo.owner),
      html_url: `https://github.com/${fullName}`,
      url: `${this.url}/repos/${fullName}`,
      clone_url: `https://github.com/${fullName}.git`,
      default_branch: repo.defaultBranch,
      size: 0,
      created_at: now(),
      updated_at: now(),
      pushed_at: now(),
      ...extra,
    });
  }

  #routes(): void {
    const app = this.#app;
    // /repositories/<id>/… (where a moved repository's old name redirects) is the repository under its current name.
    app.use((req, _res, next) => {
      const match = /^\/repositories\/(\d+)(\/[^?]*)?(\?.*)?$/.exec(req.url);
      const repo = match ? [...this.repos.values()].find((r) => r.id === Number(match[1])) : undefined;
      if (match && repo) req.url = `/repos/${repo.owner}/${repo.name}${match[2] ?? ''}${match[3] ?? ''}`;
      next();
    });
    app.use(express.json({ limit: '20mb' }));
    app.use((req, res, next) => {
      if (req.path.startsWith('/app/')) return next();
      if (!this.#login(req)) return this.#error(res, null, 401, 'Bad credentials');
      next();
    });

    // With apps configured, /app routes need the app's JWT and a known installation of that app.
    app.use('/app/installations/:id', (req, res, next) => {
      if (!this.#apps) return next();
      const appId = this.#appOf(req);
      if (!appId) return this.#error(res, null, 401, 'A JSON web token could not be decoded');
      if (!this.#apps[appId]?.installations[String(req.params.id)]) {
        return this.#error(res, 'apps/get-installation', 404, 'Not Found');
      }
      next();
    });
    app.get('/app/installations/:id', (req, res) => {
      const id = String(req.params.id);
      const [appId, account] = Object.entries(this.#apps ?? {})
        .map(([appId, a]) => [appId, a.installations[id]] as const)
        .find(([, login]) => login !== undefined) ?? ['1', 'acme'];
      this.#send(res, 'apps/get-installation', 200, this.#installationBody(appId, id, account ?? 'acme'));
    });
    app.post('/app/installations/:id/access_tokens', (req, res) => {
      const token = `ghs_${randomBytes(18).toString('hex')}`;
      this.#tokens.set(token, 'bmms-app[bot]');
      const installation = String(req.params.id);
      this.#installationTokens.set(installation, (this.#installationTokens.get(installation) ?? new Set()).add(token));
      this.#send(res, 'apps/create-installation-access-token', 201, {
        token,
        expires_at: new Date(Date.now() + 3_600_000).toISOString(),
        permissions: { contents: 'write', pull_requests: 'write', checks: 'write', statuses: 'write' },
        repository_selection: 'selected',
      });
    });
    this.#repoRoutes();
  }

  #installationBody(appId: string, installationId: string, account: string): Json {
    const id = Number(installationId);
    return instanceOf('installation', {
      id,
      app_id: Number(appId),
      app_slug: 'bmms-app',
      target_id: 1,
      target_type: 'Organization',
      account: this.#user(account ?? 'acme'),
      repository_selection: 'all',
      access_tokens_url: `${this.url}/app/installations/${id}/access_tokens`,
      html_url: `https://github.com/organizations/${account}/settings/installations/${id}`,
      repositories_url: `${this.url}/installation/repositories`,
      events: ['pull_request', 'push', 'check_run'],
      permissions: { contents: 'write', pull_requests: 'write', checks: 'write', statuses: 'write' },
      created_at: now(),
      updated_at: now(),
    });
  }

  #repoRoutes(): void {
    const app = this.#app;
    // The old name of a renamed or transferred repository redirects to its new place: 301 for a GET, 307 otherwise.
    app.use('/repos/:owner/:repo', (req, res, next) => {
      const key = `${req.params.owner}/${req.params.repo}`.toLowerCase();
      const id = this.#moved.get(key);
      if (this.repos.has(key) || id === undefined) return next();
      const location = `${this.url}/repositories/${id}${req.url === '/' ? '' : req.url}`;
      const get = req.method === 'GET' || req.method === 'HEAD';
      res.setHeader('Location', location);
      this.#send(res, get && req.path === '/' ? 'repos/get' : null, get ? 301 : 307, {
        message: get ? 'Moved Permanently' : 'Temporary Redirect',
        url: location,
        documentation_url: 'https://docs.github.com/rest/guides/best-practices-for-using-the-rest-api#follow-redirects',
      });
    });

    const createRepo = (operationId: string, owner: string) => (req: Request, res: Response) => {
      const name = String(req.body?.name ?? '');
      if (!/^[A-Za-z0-9._-]{1,100}$/.test(name))
        return this.#error(res, operationId, 422, 'Repository creation failed.');
      const key = `${owner}/${name}`.toLowerCase();
      if (this.repos.has(key)) return this.#error(res, operationId, 422, 'Repository creation failed.');
      const repo: RepoState = {
        id: this.#ids++,
        owner,
        name,
        private: req.body?.private === true,
        defaultBranch: this.#defaultBranches[owner.toLowerCase()] ?? 'main',
        blobs: new Map(),
        trees: new Map(),
        commits: new Map(),
        refs: new Map(),
        pulls: [],
        checkRuns: [],
        statuses: [],
      };
      this.repos.set(key, repo);
      this.#send(res, operationId, 201, this.#repository(repo));
    };
    app.post('/orgs/:org/repos', (req, res) => createRepo('repos/create-in-org', String(req.params.org))(req, res));
    app.post('/user/repos', (req, res) =>
      createRepo('repos/create-for-authenticated-user', this.#login(req) ?? 'nobody')(req, res),
    );
    app.get('/user', (req, res) => {
      const login = this.#login(req) ?? 'nobody';
      this.#send(res, 'users/get-authenticated', 200, instanceOf('private-user', this.#userFields(login)));
    });
    app.get('/repos/:owner/:repo', (req, res) => {
      const repo = this.#repo(req, res, 'repos/get');
      if (repo) this.#send(res, 'repos/get', 200, this.#repository(repo));
    });
    app.patch('/repos/:owner/:repo', (req, res) => this.#updateRepo(req, res));

    this.#contentsRoutes();
    this.#gitDataRoutes();
    this.#pullRoutes();
    this.#checkRoutes();
  }

  /** Settings of a repository an admin changes on github.com: its default branch and its visibility. */
  #updateRepo(req: Request, res: Response) {
    const op = 'repos/update';
    const repo = this.#repo(req, res, op);
    if (!repo) return;
    const branch = req.body?.default_branch;
    if (branch !== undefined) {
      if (!repo.refs.has(`refs/heads/${String(branch)}`)) return this.#error(res, op, 422, 'Validation Failed');
      repo.defaultBranch = String(branch);
    }
    if (typeof req.body?.private === 'boolean') repo.private = req.body.private;
    this.#send(res, op, 200, this.#repository(repo));
  }

  #contentsRoutes(): void {
    this.#app.put('/repos/:owner/:repo/contents/*path', (req, res) => this.#putContents(req, res));
  }

  /**
   * Creates or updates one file, one commit on a branch (the default one unless named): on GitHub the only way to
   * write the first commit of an empty repository. Updating a file needs its blob's `sha`, as GitHub's does.
   */
  #putContents(req: Request, res: Response) {
    const op = 'repos/create-or-update-file-contents';
    const repo = this.#repo(req, res, op);
    if (!repo) return;
    const path = (req.params as { path: string[] }).path.join('/');
    const branch = String(req.body?.branch ?? repo.defaultBranch);
    const ref = `refs/heads/${branch}`;
    const head = repo.refs.get(ref);
    if (head === undefined && repo.refs.size > 0) return this.#error(res, op, 404, `Branch ${branch} not found`);
    const files = new Map<string, TreeEntry>();
    const headTree = head ? repo.commits.get(head)?.tree : undefined;
    if (headTree) for (const e of this.#flatten(repo, headTree, '', true)) if (e.type === 'blob') files.set(e.path, e);
    const existing = files.get(path);
    const given = req.body?.sha as string | undefined;
    if (existing && given === undefined) return this.#error(res, op, 422, `"sha" wasn't supplied.`);
    if (given !== undefined && existing?.sha !== given) {
      return this.#error(res, op, 409, `${path} does not match ${given}`);
    }
    const content = Buffer.from(String(req.body?.content ?? ''), 'base64');
    const blob = gitSha('blob', content);
    repo.blobs.set(blob, content);
    files.set(path, { path, mode: '100644', type: 'blob', sha: blob });
    const sha = this.#storeCommit(repo, {
      tree: this.#writeTree(repo, [...files.values()], ''),
      parents: head ? [head] : [],
      message: String(req.body?.message ?? ''),
      author: authorOf(req.body?.author ?? req.body?.committer),
    });
    repo.refs.set(ref, sha);
    const full = `${repo.owner}/${repo.name}`;
    const api = `${this.url}/repos/${full}`;
    this.#send(
      res,
      op,
      existing ? 200 : 201,
      instanceOf('file-commit', {
        content: {
          name: path.split('/').pop(),
          path,
          sha: blob,
          size: content.length,
          url: `${api}/contents/${path}?ref=${branch}`,
          html_url: `https://github.com/${full}/blob/${branch}/${path}`,
          git_url: `${api}/git/blobs/${blob}`,
          download_url: `https://raw.githubusercontent.com/${full}/${branch}/${path}`,
          type: 'file',
          _links: { self: `${api}/contents/${path}?ref=${branch}`, git: `${api}/git/blobs/${blob}` },
        },
        commit: this.#commitBody(repo, sha),
      }),
    );
    this.#pushed(repo, ref, head ?? ZERO, sha);
  }

  #gitDataRoutes(): void {
    const app = this.#app;
    const base = '/repos/:owner/:repo/git';
    // A repository without commits takes no Git data request: only the contents API can make its first commit.
    app.use(base, (req, res, next) => {
      const repo = this.repos.get(`${req.params.owner}/${req.params.repo}`.toLowerCase());
      if (!repo || repo.refs.size > 0) return next();
      this.#error(res, gitDataOperation(req.method, req.path), 409, 'Git Repository is empty.');
    });
    app.post(`${base}/blobs`, (req, res) => {
      const repo = this.#repo(req, res, 'git/create-blob');
      if (!repo) return;
      const content = Buffer.from(String(req.body?.content ?? ''), req.body?.encoding === 'base64' ? 'base64' : 'utf8');
      const sha = gitSha('blob', content);
      repo.blobs.set(sha, content);
      this.#send(res, 'git/create-blob', 201, {
        sha,
        url: `${this.url}/repos/${repo.owner}/${repo.name}/git/blobs/${sha}`,
      });
    });
    app.get(`${base}/blobs/:sha`, (req, res) => {
      const repo = this.#repo(req, res, 'git/get-blob');
      if (!repo) return;
      const blob = repo.blobs.get(String(req.params.sha));
      if (!blob) return this.#error(res, 'git/get-blob', 404, 'Not Found');
      this.#send(res, 'git/get-blob', 200, {
        sha: req.params.sha,
        node_id: `B_${req.params.sha}`,
        size: blob.length,
        url: `${this.url}/repos/${repo.owner}/${repo.name}/git/blobs/${req.params.sha}`,
        content: blob.toString('base64'),
        encoding: 'base64',
      });
    });
    app.post(`${base}/trees`, (req, res) => this.#createTree(req, res));
    app.get(`${base}/trees/:sha`, (req, res) => {
      const repo = this.#repo(req, res, 'git/get-tree');
      if (!repo) return;
      const sha = String(req.params.sha);
      const entries = repo.trees.has(sha) ? this.#flatten(repo, sha, '', req.query.recursive !== undefined) : null;
      if (!entries) return this.#error(res, 'git/get-tree', 404, 'Not Found');
      this.#send(res, 'git/get-tree', 200, this.#treeBody(repo, sha, entries));
    });
    app.post(`${base}/commits`, (req, res) => {
      const repo = this.#repo(req, res, 'git/create-commit');
      if (!repo) return;
      const tree = String(req.body?.tree ?? '');
      const parents = (req.body?.parents ?? []) as string[];
      if (!repo.trees.has(tree) || parents.some((p) => !repo.commits.has(p))) {
        return this.#error(res, 'git/create-commit', 422, 'Tree or parent SHA does not exist');
      }
      const sha = this.#storeCommit(repo, {
        tree,
        parents,
        message: String(req.body?.message ?? ''),
        author: authorOf(req.body?.author),
      });
      this.#send(res, 'git/create-commit', 201, this.#commitBody(repo, sha));
    });
    app.get(`${base}/commits/:sha`, (req, res) => {
      const repo = this.#repo(req, res, 'git/get-commit');
      if (!repo) return;
      if (!repo.commits.has(String(req.params.sha))) return this.#error(res, 'git/get-commit', 404, 'Not Found');
      this.#send(res, 'git/get-commit', 200, this.#commitBody(repo, String(req.params.sha)));
    });
    app.get(`${base}/ref/*ref`, (req, res) => {
      const repo = this.#repo(req, res, 'git/get-ref');
      if (!repo) return;
      const ref = `refs/${(req.params as { ref: string[] }).ref.join('/')}`;
      const sha = repo.refs.get(ref);
      if (!sha) return this.#error(res, 'git/get-ref', 404, 'Not Found');
      this.#send(res, 'git/get-ref', 200, this.#refBody(repo, ref, sha));
    });
    app.get(`${base}/matching-refs/*ref`, (req, res) => {
      const repo = this.#repo(req, res, 'git/list-matching-refs');
      if (!repo) return;
      const prefix = `refs/${(req.params as { ref: string[] }).ref.join('/')}`;
      const refs = [...repo.refs].filter(([ref]) => ref.startsWith(prefix)).sort(([a], [b]) => (a < b ? -1 : 1));
      this.#send(
        res,
        'git/list-matching-refs',
        200,
        refs.map(([ref, sha]) => this.#refBody(repo, ref, sha)),
      );
    });
    app.post(`${base}/refs`, (req, res) => {
      const repo = this.#repo(req, res, 'git/create-ref');
      if (!repo) return;
      const ref = String(req.body?.ref ?? '');
      const sha = String(req.body?.sha ?? '');
      if (!ref.startsWith('refs/') || repo.refs.has(ref)) {
        return this.#error(res, 'git/create-ref', 422, 'Reference already exists');
      }
      if (!repo.commits.has(sha)) return this.#error(res, 'git/create-ref', 422, 'Object does not exist');
      repo.refs.set(ref, sha);
      this.#send(res, 'git/create-ref', 201, this.#refBody(repo, ref, sha));
      this.#pushed(repo, ref, ZERO, sha);
    });
    app.patch(`${base}/refs/*ref`, (req, res) => {
      const repo = this.#repo(req, res, 'git/update-ref');
      if (!repo) return;
      const ref = `refs/${(req.params as { ref: string[] }).ref.join('/')}`;
      const sha = String(req.body?.sha ?? '');
      const current = repo.refs.get(ref);
      if (!current) return this.#error(res, 'git/update-ref', 422, 'Reference does not exist');
      if (!repo.commits.has(sha)) return this.#error(res, 'git/update-ref', 422, 'Object does not exist');
      if (this.#protected.has(`${repo.owner}/${repo.name}:${ref}`.toLowerCase())) {
        return this.#error(res, 'git/update-ref', 422, `Protected branch update failed for ${ref}.`);
      }
      if (req.body?.force !== true && !this.#isAncestor(repo, current, sha)) {
        return this.#error(res, 'git/update-ref', 422, 'Update is not a fast forward');
      }
      repo.refs.set(ref, sha);
      this.#send(res, 'git/update-ref', 200, this.#refBody(repo, ref, sha));
      if (current !== sha) this.#pushed(repo, ref, current, sha, req.body?.force === true);
    });
    app.delete(`${base}/refs/*ref`, (req, res) => {
      const repo = this.#repo(req, res, 'git/delete-ref');
      if (!repo) return;
      const ref = `refs/${(req.params as { ref: string[] }).ref.join('/')}`;
      const current = repo.refs.get(ref);
      if (ref === `refs/heads/${repo.defaultBranch}`) {
        return this.#error(res, 'git/delete-ref', 422, 'Cannot delete the default branch');
      }
      if (!current || !repo.refs.delete(ref))
        return this.#error(res, 'git/delete-ref', 422, 'Reference does not exist');
      this.#send(res, 'git/delete-ref', 204);
      this.#pushed(repo, ref, current, ZERO);
    });
  }

  /** Stores a commit object under the SHA git gives it. */
  #storeCommit(repo: RepoState, commit: CommitObject): string {
    const { author } = commit;
    const seconds = Math.floor(new Date(author.date).getTime() / 1000);
    const text = [
      `tree ${commit.tree}`,
      ...commit.parents.map((p) => `parent ${p}`),
      `author ${author.name} <${author.email}> ${seconds} +0000`,
      `committer ${author.name} <${author.email}> ${seconds} +0000`,
      '',
      commit.message,
    ].join('\n');
    const sha = gitSha('commit', Buffer.from(text));
    repo.commits.set(sha, commit);
    return sha;
  }

  #createTree(req: Request, res: Response) {
    const repo = this.#repo(req, res, 'git/create-tree');
    if (!repo) return;
    const files = new Map<string, TreeEntry>();
    const baseTree = req.body?.base_tree as string | undefined;
    if (baseTree) {
      if (!repo.trees.has(baseTree)) return this.#error(res, 'git/create-tree', 422, 'base_tree is not a tree');
      for (const e of this.#flatten(repo, baseTree, '', true)) if (e.type === 'blob') files.set(e.path, e);
    }
    for (const item of (req.body?.tree ?? []) as Record<string, unknown>[]) {
      const path = String(item.path ?? '');
      if (item.sha === null) {
        for (const key of [...files.keys()]) if (key === path || key.startsWith(`${path}/`)) files.delete(key);
        continue;
      }
      let sha = item.sha as string | undefined;
      if (typeof item.content === 'string') {
        const content = Buffer.from(item.content);
        sha = gitSha('blob', content);
        repo.blobs.set(sha, content);
      }
      if (!sha || !repo.blobs.has(sha)) return this.#error(res, 'git/create-tree', 422, `${path}: no such blob`);
      files.set(path, { path, mode: String(item.mode ?? '100644'), type: 'blob', sha });
    }
    const sha = this.#writeTree(repo, [...files.values()], '');
    this.#send(res, 'git/create-tree', 201, this.#treeBody(repo, sha, this.#flatten(repo, sha, '', false)));
  }

  /** Writes nested tree objects for blob entries under `prefix`; returns the tree's sha. */
  #writeTree(repo: RepoState, files: TreeEntry[], prefix: string): string {
    const direct: TreeEntry[] = [];
    const dirs = new Map<string, TreeEntry[]>();
    for (const f of files) {
      const rest = f.path.slice(prefix.length);
      const slash = rest.indexOf('/');
      if (slash === -1) direct.push({ ...f, path: rest });
      else {
        const dir = rest.slice(0, slash);
        dirs.set(dir, [...(dirs.get(dir) ?? []), f]);
      }
    }
    for (const [dir, inside] of dirs) {
      direct.push({ path: dir, mode: '040000', type: 'tree', sha: this.#writeTree(repo, inside, `${prefix}${dir}/`) });
    }
    direct.sort((a, b) => {
      const ka = a.type === 'tree' ? `${a.path}/` : a.path;
      const kb = b.type === 'tree' ? `${b.path}/` : b.path;
      return ka < kb ? -1 : ka > kb ? 1 : 0;
    });
    const body = Buffer.concat(
      direct.map((e) =>
        Buffer.concat([
          Buffer.from(`${e.mode === '040000' ? '40000' : e.mode} ${e.path}\0`),
          Buffer.from(e.sha, 'hex'),
        ]),
      ),
    );
    const sha = gitSha('tree', body);
    repo.trees.set(sha, direct);
    return sha;
  }

  /** The entries of a tree (paths from its root), recursively when asked. */
  #flatten(repo: RepoState, sha: string, prefix: string, recursive: boolean): TreeEntry[] {
    const out: TreeEntry[] = [];
    for (const e of repo.trees.get(sha) ?? []) {
      out.push({ ...e, path: `${prefix}${e.path}` });
      if (recursive && e.type === 'tree') out.push(...this.#flatten(repo, e.sha, `${prefix}${e.path}/`, true));
    }
    return out;
  }

  #treeBody(repo: RepoState, sha: string, entries: TreeEntry[]): Json {
    const url = `${this.url}/repos/${repo.owner}/${repo.name}/git`;
    return {
      sha,
      url: `${url}/trees/${sha}`,
      truncated: false,
      tree: entries.map((e) => ({
        path: e.path,
        mode: e.mode,
        type: e.type,
        sha: e.sha,
        url: `${url}/${e.type}s/${e.sha}`,
        ...(e.type === 'blob' ? { size: repo.blobs.get(e.sha)?.length ?? 0 } : {}),
      })),
    };
  }

  #commitBody(repo: RepoState, sha: string): Json {
    const c = repo.commits.get(sha) as CommitObject;
    const url = `${this.url}/repos/${repo.owner}/${repo.name}/git`;
    return instanceOf('git-commit', {
      sha,
      node_id: `C_${sha}`,
      url: `${url}/commits/${sha}`,
      html_url: `https://github.com/${repo.owner}/${repo.name}/commit/${sha}`,
      author: c.author,
      committer: c.author,
      message: c.message,
      tree: { sha: c.tree, url: `${url}/trees/${c.tree}` },
      parents: c.parents.map((p) => ({
        sha: p,
        url: `${url}/commits/${p}`,
        html_url: `https://github.com/${repo.owner}/${repo.name}/commit/${p}`,
      })),
      verification: { verified: false, reason: 'unsigned', signature: null, payload: null, verified_at: null },
    });
  }

  #refBody(repo: RepoState, ref: string, sha: string): Json {
    return instanceOf('git-ref', {
      ref,
      node_id: `REF_${ref}`,
      url: `${this.url}/repos/${repo.owner}/${repo.name}/git/${ref}`,
      object: { type: 'commit', sha, url: `${this.url}/repos/${repo.owner}/${repo.name}/git/commits/${sha}` },
    });
  }

  #isAncestor(repo: RepoState, ancestor: string, descendant: string): boolean {
    const seen = new Set<string>();
    const queue = [descendant];
    while (queue.length > 0) {
      const sha = queue.shift() as string;
      if (sha === ancestor) return true;
      if (seen.has(sha)) continue;
      seen.add(sha);
      queue.push(...(repo.commits.get(sha)?.parents ?? []));
    }
    return false;
  }

  #pullRoutes(): void {
    const app = this.#app;
    const base = '/repos/:owner/:repo/pulls';
    app.post(base, (req, res) => {
      const repo = this.#repo(req, res, 'pulls/create');
      if (!repo) return;
      const head = String(req.body?.head ?? '');
      const baseRef = String(req.body?.base ?? 'main');
      if (!repo.refs.has(`refs/heads/${head}`) || !repo.refs.has(`refs/heads/${baseRef}`)) {
        return this.#error(res, 'pulls/create', 422, 'Validation Failed');
      }
      const pull: PullState = {
        number: repo.pulls.length + 1,
        id: this.#ids++,
        title: String(req.body?.title ?? ''),
        body: typeof req.body?.body === 'string' ? req.body.body : null,
        head,
        base: baseRef,
        state: 'open',
        merged: false,
        mergeSha: null,
        createdAt: now(),
      };
      repo.pulls.push(pull);
      this.#send(res, 'pulls/create', 201, this.#pullBody(repo, pull));
      this.#pullEvent(repo, pull, 'opened');
    });
    app.get(base, (req, res) => {
      const repo = this.#repo(req, res, 'pulls/list');
      if (!repo) return;
      const state = String(req.query.state ?? 'open');
      const pulls = repo.pulls.filter((p) => state === 'all' || p.state === state);
      this.#send(
        res,
        'pulls/list',
        200,
        pulls.map((p) => this.#pullBody(repo, p, 'pull-request-simple')),
      );
    });
    app.get(`${base}/:number`, (req, res) => {
      const repo = this.#repo(req, res, 'pulls/get');
      if (!repo) return;
      const pull = repo.pulls.find((p) => p.number === Number(req.params.number));
      if (!pull) return this.#error(res, 'pulls/get', 404, 'Not Found');
      this.#send(res, 'pulls/get', 200, this.#pullBody(repo, pull));
    });
    app.patch(`${base}/:number`, (req, res) => {
      const repo = this.#repo(req, res, 'pulls/update');
      const pull = repo?.pulls.find((p) => p.number === Number(req.params.number));
      if (!repo || !pull) return repo ? this.#error(res, 'pulls/update', 422, 'Validation Failed') : undefined;
      if (typeof req.body?.title === 'string') pull.title = req.body.title;
      if (typeof req.body?.body === 'string') pull.body = req.body.body;
      const closing = req.body?.state === 'closed' && pull.state === 'open';
      if (req.body?.state === 'closed' || req.body?.state === 'open') pull.state = req.body.state;
      this.#send(res, 'pulls/update', 200, this.#pullBody(repo, pull));
      if (closing) this.#pullEvent(repo, pull, 'closed');
    });
    app.put(`${base}/:number/merge`, (req, res) => this.#mergePull(req, res));
    app.post('/repos/:owner/:repo/merges', (req, res) => {
      const repo = this.#repo(req, res, 'repos/merge');
      if (!repo) return;
      const baseRef = `refs/heads/${String(req.body?.base ?? '')}`;
      const baseSha = repo.refs.get(baseRef);
      const headSha = repo.refs.get(`refs/heads/${String(req.body?.head ?? '')}`) ?? String(req.body?.head ?? '');
      if (!baseSha || !repo.commits.has(headSha)) return this.#error(res, 'repos/merge', 404, 'Base or head not found');
      if (this.#isAncestor(repo, headSha, baseSha)) return this.#send(res, 'repos/merge', 204);
      const sha = this.#mergeCommit(repo, baseSha, headSha, String(req.body?.commit_message ?? 'Merge'));
      if (!sha) return this.#error(res, 'repos/merge', 409, 'Merge conflict');
      repo.refs.set(baseRef, sha);
      this.#send(res, 'repos/merge', 201, this.#commitSummary(repo, sha));
      this.#pushed(repo, baseRef, baseSha, sha);
    });
  }

  #mergePull(req: Request, res: Response) {
    const repo = this.#repo(req, res, 'pulls/merge');
    if (!repo) return;
    const pull = repo.pulls.find((p) => p.number === Number(req.params.number));
    if (!pull) return this.#error(res, 'pulls/merge', 404, 'Not Found');
    const baseRef = `refs/heads/${pull.base}`;
    const baseSha = repo.refs.get(baseRef) as string;
    const headSha = repo.refs.get(`refs/heads/${pull.head}`) as string;
    if (pull.state !== 'open') return this.#send(res, 'pulls/merge', 405, { message: 'Pull Request is not mergeable' });
    if (req.body?.sha && req.body.sha !== headSha) {
      return this.#send(res, 'pulls/merge', 409, {
        message: 'Head branch was modified. Review and try the merge again.',
      });
    }
    const sha = this.#mergeCommit(repo, baseSha, headSha, `Merge pull request #${pull.number}\n\n${pull.title}`);
    if (!sha) return this.#send(res, 'pulls/merge', 405, { message: 'Pull Request is not mergeable' });
    repo.refs.set(baseRef, sha);
    Object.assign(pull, { state: 'closed', merged: true, mergeSha: sha });
    this.#send(res, 'pulls/merge', 200, { sha, merged: true, message: 'Pull Request successfully merged' });
    this.#pushed(repo, baseRef, baseSha, sha);
    this.#pullEvent(repo, pull, 'closed');
  }

  /** A merge commit of head into base when base is an ancestor of head (its tree is head's); null otherwise. */
  #mergeCommit(repo: RepoState, baseSha: string, headSha: string, message: string): string | null {
    if (!this.#isAncestor(repo, baseSha, headSha)) return null;
    const head = repo.commits.get(headSha) as CommitObject;
    const author = { name: 'GitHub', email: 'noreply@github.com', date: now() };
    const text = `tree ${head.tree}\nparent ${baseSha}\nparent ${headSha}\nauthor GitHub <noreply@github.com> ${Date.now()}\n\n${message}`;
    const sha = gitSha('commit', Buffer.from(text));
    repo.commits.set(sha, { tree: head.tree, parents: [baseSha, headSha], message, author });
    return sha;
  }

  #commitSummary(repo: RepoState, sha: string): Json {
    const c = repo.commits.get(sha) as CommitObject;
    const full = `${repo.owner}/${repo.name}`;
    return instanceOf('commit', {
      sha,
      node_id: `C_${sha}`,
      url: `${this.url}/repos/${full}/commits/${sha}`,
      html_url: `https://github.com/${full}/commit/${sha}`,
      comments_url: `${this.url}/repos/${full}/commits/${sha}/comments`,
      commit: {
        url: `${this.url}/repos/${full}/git/commits/${sha}`,
        author: c.author,
        committer: c.author,
        message: c.message,
        comment_count: 0,
        tree: { sha: c.tree, url: `${this.url}/repos/${full}/git/trees/${c.tree}` },
      },
      parents: c.parents.map((p) => ({ sha: p, url: `${this.url}/repos/${full}/commits/${p}` })),
    });
  }

  #pullBody(repo: RepoState, pull: PullState, component = 'pull-request'): Json {
    const full = `${repo.owner}/${repo.name}`;
    const api = `${this.url}/repos/${full}`;
    const side = (ref: string) => ({
      label: `${repo.owner}:${ref}`,
      ref,
      sha: repo.refs.get(`refs/heads/${ref}`) ?? pull.mergeSha ?? '',
      user: this.#user(repo.owner),
      repo: this.#repository(repo, 'repository'),
    });
    const link = (href: string) => ({ href });
    return instanceOf(component, {
      id: pull.id,
      node_id: `PR_${pull.id}`,
      number: pull.number,
      state: pull.state,
      locked: false,
      title: pull.title,
      body: pull.body,
      user: this.#user('bmms-app[bot]', 2),
      url: `${api}/pulls/${pull.number}`,
      html_url: `https://github.com/${full}/pull/${pull.number}`,
      diff_url: `https://github.com/${full}/pull/${pull.number}.diff`,
      patch_url: `https://github.com/${full}/pull/${pull.number}.patch`,
      issue_url: `${api}/issues/${pull.number}`,
      commits_url: `${api}/pulls/${pull.number}/commits`,
      review_comments_url: `${api}/pulls/${pull.number}/comments`,
      review_comment_url: `${api}/pulls/comments{/number}`,
      comments_url: `${api}/issues/${pull.number}/comments`,
      statuses_url: `${api}/statuses/${repo.refs.get(`refs/heads/${pull.head}`) ?? ''}`,
      created_at: pull.createdAt,
      updated_at: now(),
      merged: pull.merged,
      merge_commit_sha: pull.mergeSha,
      merged_at: pull.merged ? now() : null,
      closed_at: pull.state === 'closed' ? now() : null,
      mergeable: pull.state === 'open' ? true : null,
      head: side(pull.head),
      base: side(pull.base),
      _links: {
        self: link(`${api}/pulls/${pull.number}`),
        html: link(`https://github.com/${full}/pull/${pull.number}`),
        issue: link(`${api}/issues/${pull.number}`),
        comments: link(`${api}/issues/${pull.number}/comments`),
        review_comments: link(`${api}/pulls/${pull.number}/comments`),
        review_comment: link(`${api}/pulls/comments{/number}`),
        commits: link(`${api}/pulls/${pull.number}/commits`),
        statuses: link(`${api}/statuses/${pull.head}`),
      },
      author_association: 'NONE',
      draft: false,
    });
  }

  #checkRoutes(): void {
    const app = this.#app;
    app.use('/repos/:owner/:repo/check-runs', (req, res, next) => {
      const token = (req.headers.authorization ?? '').replace(/^(token|bearer)\s+/i, '');
      if (!this.#withoutChecks.has(token)) return next();
      this.#error(res, null, 403, 'Resource not accessible by personal access token');
    });
    app.post('/repos/:owner/:repo/check-runs', (req, res) => {
      const repo = this.#repo(req, res, 'checks/create');
      if (!repo) return;
      const run: CheckRunState = {
        id: this.#ids++,
        headSha: String(req.body?.head_sha ?? ''),
        name: String(req.body?.name ?? ''),
        status: String(req.body?.status ?? 'queued'),
        conclusion: req.body?.conclusion ?? null,
        title: req.body?.output?.title ?? null,
        summary: req.body?.output?.summary ?? null,
        text: req.body?.output?.text ?? null,
        detailsUrl: req.body?.details_url ?? null,
        externalId: req.body?.external_id ?? null,
      };
      if (run.conclusion) run.status = 'completed';
      repo.checkRuns.push(run);
      this.#send(res, 'checks/create', 201, this.#checkRunBody(repo, run));
    });
    app.patch('/repos/:owner/:repo/check-runs/:id', (req, res) => {
      const repo = this.#repo(req, res, 'checks/update');
      if (!repo) return;
      const run = repo.checkRuns.find((r) => r.id === Number(req.params.id));
      if (!run) return this.#error(res, 'checks/update', 404, 'Not Found');
      if (req.body?.status) run.status = req.body.status;
      if (req.body?.conclusion) Object.assign(run, { conclusion: req.body.conclusion, status: 'completed' });
      if (req.body?.output) {
        run.title = req.body.output.title ?? run.title;
        run.summary = req.body.output.summary ?? run.summary;
        run.text = req.body.output.text ?? run.text;
      }
      if (req.body?.details_url) run.detailsUrl = req.body.details_url;
      this.#send(res, 'checks/update', 200, this.#checkRunBody(repo, run));
    });
    app.get('/repos/:owner/:repo/commits/:ref/check-runs', (req, res) => {
      const repo = this.#repo(req, res, 'checks/list-for-ref');
      if (!repo) return;
      const sha = repo.refs.get(`refs/heads/${req.params.ref}`) ?? String(req.params.ref);
      const runs = repo.checkRuns.filter((r) => r.headSha === sha);
      this.#send(res, 'checks/list-for-ref', 200, {
        total_count: runs.length,
        check_runs: runs.map((r) => this.#checkRunBody(repo, r)),
      });
    });
    app.post('/repos/:owner/:repo/statuses/:sha', (req, res) => {
      const repo = this.#repo(req, res, 'repos/create-commit-status');
      if (!repo) return;
      const status = {
        id: this.#ids++,
        sha: String(req.params.sha),
        state: String(req.body?.state ?? 'pending'),
        context: String(req.body?.context ?? 'default'),
        description: req.body?.description ?? null,
        targetUrl: req.body?.target_url ?? null,
        at: now(),
      };
      repo.statuses.push(status);
      this.#send(res, 'repos/create-commit-status', 201, this.#statusBody(repo, status));
    });
    app.get('/repos/:owner/:repo/commits/:ref/status', (req, res) => {
      const repo = this.#repo(req, res, 'repos/get-combined-status-for-ref');
      if (!repo) return;
      const sha = repo.refs.get(`refs/heads/${req.params.ref}`) ?? String(req.params.ref);
      const latest = new Map<string, RepoState['statuses'][number]>();
      for (const s of repo.statuses) if (s.sha === sha) latest.set(s.context, s);
      const statuses = [...latest.values()];
      const state = statuses.some((s) => s.state === 'failure' || s.state === 'error')
        ? 'failure'
        : statuses.length > 0 && statuses.every((s) => s.state === 'success')
          ? 'success'
          : 'pending';
      this.#send(
        res,
        'repos/get-combined-status-for-ref',
        200,
        instanceOf('combined-commit-status', {
          state,
          sha,
          total_count: statuses.length,
          statuses: statuses.map((s) => this.#statusBody(repo, s, 'simple-commit-status')),
          repository: this.#repository(repo, 'minimal-repository'),
          commit_url: `${this.url}/repos/${repo.owner}/${repo.name}/commits/${sha}`,
          url: `${this.url}/repos/${repo.owner}/${repo.name}/commits/${sha}/status`,
        }),
      );
    });
  }

  #checkRunBody(repo: RepoState, run: CheckRunState): Json {
    const api = `${this.url}/repos/${repo.owner}/${repo.name}`;
    return instanceOf('check-run', {
      id: run.id,
      node_id: `CR_${run.id}`,
      head_sha: run.headSha,
      name: run.name,
      status: run.status,
      conclusion: run.conclusion,
      external_id: run.externalId,
      url: `${api}/check-runs/${run.id}`,
      html_url: `https://github.com/${repo.owner}/${repo.name}/runs/${run.id}`,
      details_url: run.detailsUrl,
      started_at: now(),
      completed_at: run.status === 'completed' ? now() : null,
      output: {
        title: run.title,
        summary: run.summary,
        text: run.text,
        annotations_count: 0,
        annotations_url: `${api}/check-runs/${run.id}/annotations`,
      },
      check_suite: { id: run.id },
      app: null,
      pull_requests: [],
    });
  }

  #statusBody(repo: RepoState, s: RepoState['statuses'][number], component = 'status'): Json {
    return instanceOf(component, {
      id: s.id,
      node_id: `S_${s.id}`,
      url: `${this.url}/repos/${repo.owner}/${repo.name}/statuses/${s.sha}`,
      avatar_url: null,
      state: s.state,
      context: s.context,
      description: s.description,
      target_url: s.targetUrl,
      created_at: s.at,
      updated_at: s.at,
      creator: this.#user('bmms-app[bot]', 2),
    });
  }
}
