import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { gitEnv } from './cli.ts';
import { assertRepoName } from './names.ts';
import { type PushLimits, pushLimitsFromEnv } from './push-limits.ts';

/** The two smart-HTTP services. */
export type GitService = 'upload-pack' | 'receive-pack';

/** Whoever the lead's `authenticate` recognised; `id` becomes REMOTE_USER. */
export interface GitPrincipal {
  id: string;
}

/** One ref changed by a push. */
export interface RefUpdate {
  ref: string;
  oldSha: string;
  newSha: string;
}

/** What a principal may do with one repo. */
export interface GitAccess {
  allowed: boolean;
  canPushMain: boolean;
}

export interface GitHttpDeps<P extends GitPrincipal> {
  /** Directory holding `<name>.git` bare repos. */
  root: string;
  /** Identify the caller from the request (Basic auth); null → 401. */
  authenticate(req: IncomingMessage): Promise<P | null>;
  /** Decide whether the caller may use `service` on `repo`; not allowed → 403. */
  authorize(principal: P, request: { repo: string; service: GitService }): Promise<GitAccess>;
  /** Called after a receive-pack with exactly the refs it changed, before the response ends. */
  onPush?(repo: string, updates: RefUpdate[], principal: P): Promise<void> | void;
  /** Unexpected failures (backend crash, onPush throwing); defaults to console.error. */
  onError?(err: unknown): void;
  /** Push and repository size limits; defaults to BMMS_MAX_PUSH_BYTES / BMMS_MAX_REPO_BYTES or their defaults. */
  limits?: PushLimits;
}

const ROUTE = /^\/([a-z0-9][a-z0-9._-]*?)(?:\.git)?\/(info\/refs|git-upload-pack|git-receive-pack)$/;
const REALM = 'Basic realm="BuildMyMCPServer"';
// The pre-receive hook runs the push protection (size, binaries, credentials) with this Node.
const PUSH_SCAN = path.resolve(import.meta.dirname, 'scan/pre-receive.ts');

/** A node request handler serving smart HTTP (protocol v0/v2) through `git http-backend`; mount it at `/git`. */
export function createGitHttpHandler<P extends GitPrincipal>(
  deps: GitHttpDeps<P>,
): (req: IncomingMessage, res: ServerResponse) => void {
  const onError = deps.onError ?? ((err: unknown) => console.error(err));
  const limits = deps.limits ?? pushLimitsFromEnv(process.env);
  return (req, res) => {
    handle(deps, limits, onError, req, res).catch((err: unknown) => {
      onError(err);
      if (!res.headersSent) send(res, 500, 'Internal error while serving git.\n');
      else res.destroy();
    });
  };
}

async function handle<P extends GitPrincipal>(
  deps: GitHttpDeps<P>,
  limits: PushLimits,
  onError: (err: unknown) => void,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://git.invalid');
  const match = ROUTE.exec(url.pathname);
  if (!match) return send(res, 404, 'Not found: this server speaks smart HTTP only.\n', req);
  const repo = match[1] as string;
  const action = match[2] as string;
  const service = action === 'info/refs' ? url.searchParams.get('service') : action;
  if (service !== 'git-upload-pack' && service !== 'git-receive-pack') {
    return send(res, 403, 'Dumb HTTP is not supported; use a git client that speaks smart HTTP.\n', req);
  }
  const method = action === 'info/refs' ? 'GET' : 'POST';
  if (req.method !== method) {
    res.setHeader('Allow', method);
    return send(res, 405, `Use ${method} for ${action}.\n`, req);
  }
  const principal = await deps.authenticate(req);
  if (!principal) {
    res.setHeader('WWW-Authenticate', REALM);
    return send(res, 401, 'Authentication required: use your API key as the password.\n', req);
  }
  if (!(await repoExists(deps.root, repo))) return send(res, 404, `Repository "${repo}" not found.\n`, req);
  const gitService: GitService = service === 'git-receive-pack' ? 'receive-pack' : 'upload-pack';
  const access = await deps.authorize(principal, { repo, service: gitService });
  if (!access.allowed) {
    const verb = gitService === 'receive-pack' ? 'push to' : 'read';
    return send(res, 403, `Access denied: you may not ${verb} "${repo}".\n`, req);
  }
  const pushDir = gitService === 'receive-pack' ? await mkdtemp(path.join(os.tmpdir(), 'bmms-push-')) : null;
  try {
    const pushLog = pushDir ? path.join(pushDir, 'updates') : null;
    const env = gitEnv({
      GIT_PROJECT_ROOT: path.resolve(deps.root),
      GIT_HTTP_EXPORT_ALL: '1',
      PATH_INFO: `/${repo}.git/${action}`,
      QUERY_STRING: url.search.slice(1),
      REQUEST_METHOD: method,
      CONTENT_TYPE: header(req, 'content-type') ?? '',
      REMOTE_USER: principal.id,
      REMOTE_ADDR: req.socket.remoteAddress ?? '',
      BMMS_CAN_PUSH_MAIN: access.canPushMain ? '1' : '0',
      BMMS_NODE: process.execPath,
      BMMS_PUSH_SCAN: PUSH_SCAN,
      BMMS_MAX_PUSH_BYTES: String(limits.maxPushBytes),
      BMMS_MAX_REPO_BYTES: String(limits.maxRepoBytes),
      // A backstop for floods: receive-pack stops reading a pack this large before the hook even runs
      // (the hook refuses anything over the limit itself, with its own message).
      GIT_CONFIG_COUNT: '1',
      GIT_CONFIG_KEY_0: 'receive.maxInputSize',
      GIT_CONFIG_VALUE_0: String(limits.maxPushBytes * 2),
    });
    const length = header(req, 'content-length');
    if (length && /^\d+$/.test(length)) env.CONTENT_LENGTH = length;
    const encoding = header(req, 'content-encoding');
    if (encoding) env.HTTP_CONTENT_ENCODING = encoding;
    const protocol = header(req, 'git-protocol');
    if (protocol && /^[A-Za-z0-9=:._-]+$/.test(protocol)) env.GIT_PROTOCOL = protocol;
    if (pushLog) env.BMMS_PUSH_LOG = pushLog;

    const ok = await runBackend(env, req, res, onError);
    if (ok && pushLog && deps.onPush) {
      const updates = await readUpdates(pushLog);
      if (updates.length > 0) {
        try {
          await deps.onPush(repo, updates, principal);
        } catch (err) {
          onError(err);
        }
      }
    }
    if (!res.writableEnded) res.end();
  } finally {
    if (pushDir) await rm(pushDir, { recursive: true, force: true });
  }
}

/** Spawn `git http-backend`, stream the request in and the CGI response out (without ending it). */
function runBackend(
  env: Record<string, string>,
  req: IncomingMessage,
  res: ServerResponse,
  onError: (err: unknown) => void,
): Promise<boolean> {
  return new Promise((resolve) => {
    const child = spawn('git', ['http-backend'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let head: Buffer | null = Buffer.alloc(0);
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      if (stderr.length < 8192) stderr += d;
    });
    child.stdin.on('error', () => undefined); // the backend may stop reading early (e.g. a refused request)
    req.pipe(child.stdin);
    res.on('close', () => {
      if (!res.writableFinished) child.kill();
    });
    child.stdout.on('data', (chunk: Buffer) => {
      let body = chunk;
      if (head !== null) {
        head = Buffer.concat([head, chunk]);
        const parsed = parseCgiHead(head);
        if (!parsed) return;
        res.writeHead(parsed.status, parsed.headers);
        body = head.subarray(parsed.bodyStart);
        head = null;
      }
      if (body.length > 0 && !res.write(body)) {
        child.stdout.pause();
        res.once('drain', () => child.stdout.resume());
      }
    });
    child.on('error', (err) => {
      onError(err);
      if (!res.headersSent) send(res, 500, 'git http-backend could not start.\n');
      resolve(false);
    });
    child.on('close', (code) => {
      if (head !== null) {
        onError(new Error(`git http-backend exited ${code} without a response: ${stderr.trim()}`));
        if (!res.headersSent) send(res, 502, 'git http-backend failed.\n');
        return resolve(false);
      }
      resolve(code === 0);
    });
  });
}

/** Parse the CGI header block once it is complete: Status plus response headers. */
function parseCgiHead(buf: Buffer): { status: number; headers: Record<string, string>; bodyStart: number } | null {
  const crlf = buf.indexOf('\r\n\r\n');
  const lf = buf.indexOf('\n\n');
  let end: number;
  let sep: number;
  if (crlf !== -1 && (lf === -1 || crlf < lf)) [end, sep] = [crlf, 4];
  else if (lf !== -1) [end, sep] = [lf, 2];
  else return null;
  let status = 200;
  const headers: Record<string, string> = {};
  for (const line of buf.subarray(0, end).toString('latin1').split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    if (name.toLowerCase() === 'status') status = Number.parseInt(value, 10) || 500;
    else headers[name] = value;
  }
  return { status, headers, bodyStart: end + sep };
}

async function readUpdates(file: string): Promise<RefUpdate[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter((parts) => parts.length === 3)
    .map(([oldSha, newSha, ref]) => ({ ref: ref as string, oldSha: oldSha as string, newSha: newSha as string }));
}

async function repoExists(root: string, repo: string): Promise<boolean> {
  try {
    assertRepoName(repo);
    return (await stat(path.join(root, `${repo}.git`, 'HEAD'))).isFile();
  } catch {
    return false;
  }
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function send(res: ServerResponse, status: number, text: string, req?: IncomingMessage): void {
  req?.resume(); // drain an unread request body so the connection can be reused
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-cache' });
  res.end(text);
}
