import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { createTestDatabase, type TestDatabase } from '@bmms/prisma/testing';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { type Platform, type PlatformParts, startPlatform } from '../src/boot.ts';
import type { Config } from '../src/config.ts';
import { type Logger, silentLogger } from '../src/logger.ts';

const run = promisify(execFile);

/** Whether bubblewrap is installed: without it the tests run instances in insecure mode. */
export const HAS_BWRAP = ['/usr/bin/bwrap', '/bin/bwrap', '/usr/local/bin/bwrap'].some((p) => existsSync(p));

export interface ApiResponse<T = Record<string, unknown>> {
  status: number;
  headers: Headers;
  body: T;
}

/** A real platform on a random port, a fresh database and data dir, and helpers to drive it over HTTP. */
export class TestStack {
  /** Undefined until `boot` (a stack from `empty` is not started). */
  platform!: Platform;
  key = '';
  /** Where the platform logs (tests that inspect logs pass a capturing logger to `start`). */
  log: Logger = silentLogger;
  readonly dataDir: string;
  readonly db: TestDatabase;
  readonly #scratch: string;

  private constructor(dataDir: string, db: TestDatabase, scratch: string) {
    this.dataDir = dataDir;
    this.db = db;
    this.#scratch = scratch;
  }

  /** Starts a stack; `overrides` tweak the configuration. */
  static async start(
    overrides: Partial<Config> = {},
    parts: PlatformParts = {},
    log: Logger = silentLogger,
  ): Promise<TestStack> {
    const db = await createTestDatabase();
    const scratch = await mkdtemp(path.join(os.tmpdir(), 'bmms-e2e-'));
    const stack = new TestStack(path.join(scratch, 'data'), db, scratch);
    stack.log = log;
    await stack.boot(overrides, parts);
    return stack;
  }

  /** A stack with a new empty data dir and database, not started (a restore fills them before `boot`). */
  static async empty(log: Logger = silentLogger): Promise<TestStack> {
    const db = await createTestDatabase();
    const scratch = await mkdtemp(path.join(os.tmpdir(), 'bmms-e2e-'));
    const stack = new TestStack(path.join(scratch, 'data'), db, scratch);
    stack.log = log;
    return stack;
  }

  /** (Re)starts the platform on the same data dir and database. */
  async boot(overrides: Partial<Config> = {}, parts: PlatformParts = {}): Promise<void> {
    const config: Config = {
      port: 0,
      host: '127.0.0.1',
      dataDir: this.dataDir,
      databaseUrl: this.db.url,
      publicUrl: undefined,
      runtime: 'process',
      dockerImage: undefined,
      swarmConstraints: [],
      insecureNoSandbox: !HAS_BWRAP,
      resyncMs: 2000,
      rollbackWindowMs: 300_000,
      idleMs: 0,
      ...overrides,
    };
    this.platform = await startPlatform(config, this.log, parts);
    // A restored data dir has no first-start key file: the test sets `key` itself.
    const keyFile = await readFile(path.join(this.dataDir, 'owner-api-key'), 'utf8').catch(() => undefined);
    if (keyFile !== undefined) this.key = keyFile.trim();
  }

  get url(): string {
    return this.platform.url;
  }

  /** Stops the platform, keeping its data. */
  async stop(): Promise<void> {
    await this.platform.close();
  }

  /** Stops the platform and removes its data and database. */
  async destroy(): Promise<void> {
    await this.platform?.close().catch(() => {});
    await this.db.drop().catch(() => {});
    await rm(this.#scratch, { recursive: true, force: true });
  }

  /** A JSON API call; `body` as a string is sent verbatim. */
  async api<T = Record<string, unknown>>(
    method: string,
    pathname: string,
    body?: unknown,
    options: { key?: string | null; headers?: Record<string, string> } = {},
  ): Promise<ApiResponse<T>> {
    const key = options.key === undefined ? this.key : options.key;
    const headers: Record<string, string> = { ...options.headers };
    if (key) headers.authorization = `Bearer ${key}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${this.url}${pathname}`, {
      method,
      headers,
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON: keep the text
    }
    return { status: res.status, headers: res.headers, body: parsed as T };
  }

  /** Waits until every check of change `n` completed; returns the change. */
  async waitChecks(server: string, n: number, timeoutMs = 120_000): Promise<ChangeBody> {
    return poll(
      async () => {
        const r = await this.api<ChangeBody>('GET', `/api/v1/servers/${server}/changes/${n}`);
        // The suite's own conclusion, not just the runs listed so far: `preview` is only listed once the
        // static checks passed, so "every listed run completed" can hold before the suite is done.
        const done =
          r.status === 200 &&
          r.body.checkSuite?.conclusion != null &&
          r.body.checks.length > 0 &&
          r.body.checks.every((c) => c.status === 'completed');
        return done ? r.body : undefined;
      },
      timeoutMs,
      `checks of ${server} change #${n}`,
    );
  }

  /** Waits until the server is Ready at `sha` (default: its desired revision). */
  async waitReady(server: string, sha?: string, timeoutMs = 60_000): Promise<ServerBody> {
    return poll(
      async () => {
        const r = await this.api<ServerBody>('GET', `/api/v1/servers/${server}`);
        const want = sha ?? r.body.desiredRevision;
        const ready = r.body.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
        return want && r.body.observedRevision === want && ready ? r.body : undefined;
      },
      timeoutMs,
      `${server} Ready at ${sha ?? 'desired revision'}`,
    );
  }

  /** Opens a change for a pushed branch (expects 201) and returns its number. */
  async openChange(server: string, branch: string, title = branch): Promise<number> {
    const opened = await this.api<{ number: number }>('POST', `/api/v1/servers/${server}/changes`, { branch, title });
    if (opened.status !== 201) throw new Error(`open ${branch}: ${opened.status} ${JSON.stringify(opened.body)}`);
    return opened.body.number;
  }

  /** Waits until condition `type` of `server` is True with `reason`; returns the server. */
  async waitCondition(server: string, type: string, reason: string, timeoutMs = 60_000): Promise<ServerBody> {
    return poll(
      async () => {
        const r = await this.api<ServerBody>('GET', `/api/v1/servers/${server}`);
        return r.body.conditions?.some((c) => c.type === type && c.status === 'True' && c.reason === reason)
          ? r.body
          : undefined;
      },
      timeoutMs,
      `${server}: ${type}=True (${reason})`,
    );
  }

  /** The check suite of `sha`'s tree of `server`, straight from the platform. */
  async suiteOf(server: string, sha: string) {
    const { db, checks, git } = this.platform.ctx;
    const row = await db.server.findUniqueOrThrow({ where: { name: server } });
    return checks.suiteForTree(row.id, await git.treeOf(server, sha));
  }

  /** Creates a server from a template, merges change #1 and waits until it serves. */
  async createAndDeploy(name: string, template = 'echo'): Promise<ServerBody> {
    const created = await this.api('POST', '/api/v1/servers', { name, template });
    if (created.status !== 201) throw new Error(`create ${name}: ${created.status} ${JSON.stringify(created.body)}`);
    await this.waitChecks(name, 1);
    const merged = await this.api('POST', `/api/v1/servers/${name}/changes/1/merge`);
    if (merged.status !== 200) throw new Error(`merge ${name}: ${merged.status} ${JSON.stringify(merged.body)}`);
    return this.waitReady(name, (merged.body as { sha: string }).sha);
  }

  /** An official SDK client connected to a server's MCP URL with the owner key. */
  async mcpClient(url: string, key = this.key): Promise<Client> {
    const transport = new StreamableHTTPClientTransport(new URL(url), {
      requestInit: { headers: { Authorization: `Bearer ${key}` } },
    });
    const client = new Client({ name: 'e2e', version: '1.0.0' });
    await client.connect(transport);
    return client;
  }

  /** Clones a server's repo over smart HTTP into a new working copy. */
  async clone(server: string): Promise<GitWorkdir> {
    const dir = await mkdtemp(path.join(this.#scratch, `${server}-`));
    const url = new URL(`${this.url}/git/${server}.git`);
    url.username = 'e2e';
    url.password = this.key;
    const wd = new GitWorkdir(dir, this.#scratch);
    await wd.git('clone', '-q', url.toString(), '.');
    await wd.git('config', 'user.email', 'e2e@example.com');
    await wd.git('config', 'user.name', 'e2e');
    return wd;
  }
}

/** A git working copy driven by the real git CLI, isolated from the machine's git config. */
export class GitWorkdir {
  readonly dir: string;
  readonly #home: string;

  constructor(dir: string, home: string) {
    this.dir = dir;
    this.#home = home;
  }

  /** Commits everything in the working copy and pushes it to `ref` on the platform; returns the commit. */
  async commitAndPush(message: string, ref: string): Promise<string> {
    await this.git('add', '-A');
    await this.git('commit', '-qm', message);
    await this.git('push', '-q', 'origin', `HEAD:${ref}`);
    return this.git('rev-parse', 'HEAD');
  }

  /** Runs git in the working copy; rejects with its stderr on failure. */
  async git(...args: string[]): Promise<string> {
    const { stdout } = await run('git', ['-c', 'protocol.version=2', ...args], {
      cwd: this.dir,
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: this.#home,
        GIT_CONFIG_NOSYSTEM: '1',
        GIT_TERMINAL_PROMPT: '0',
      },
    });
    return stdout.trim();
  }
}

export interface CheckBody {
  name: string;
  status: string;
  conclusion: string | null;
  summary: string;
}

export interface ChangeBody {
  number: number;
  state: string;
  head: string;
  base: string | null;
  checks: CheckBody[];
  checkSuite: { tree: string | null; status: string; conclusion: string | null };
  preview: { url: string; status: string; install: { claudeCode: string } } | null;
}

export interface ServerBody {
  name: string;
  url: string;
  desiredRevision: string | null;
  observedRevision: string | null;
  conditions: { type: string; status: string; reason: string; message: string }[];
  history: { revision: string; state: string; reason: string; message: string; instance: string | null }[];
}

/** Polls `probe` until it returns a value, or fails naming what it waited for. */
export async function poll<T>(probe: () => Promise<T | undefined>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`);
}

/** The text of the first content item of a tool result. */
export function textOf(result: unknown): string {
  const content = (result as { content?: { type: string; text?: string }[] }).content ?? [];
  return content.find((c) => c.type === 'text')?.text ?? '';
}

/** Adds a `multiply` tool to a working copy: manifest entry, tool module, registration. */
export async function addMultiplyTool(wd: GitWorkdir): Promise<void> {
  const manifestPath = path.join(wd.dir, 'mcp.json');
  const manifest = JSON.parse(await readFile(manifestPath, 'utf8'));
  manifest.tools.push({
    name: 'multiply',
    title: 'Multiply',
    description: 'Multiplies two numbers.',
    inputSchema: {
      type: 'object',
      properties: { a: { type: 'number' }, b: { type: 'number' } },
      required: ['a', 'b'],
    },
  });
  await writeFile(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
  await writeFile(
    path.join(wd.dir, 'src/tools/multiply.ts'),
    `import { defineTool } from '@bmms/runner-template/runtime';
import { z } from 'zod';

export default defineTool({
  name: 'multiply',
  input: { a: z.number(), b: z.number() },
  handler: ({ a, b }) => String(a * b),
});
`,
  );
  const serverPath = path.join(wd.dir, 'src/server.ts');
  const server = await readFile(serverPath, 'utf8');
  await writeFile(
    serverPath,
    server
      .replace(
        "import add from './tools/add.ts';",
        "import add from './tools/add.ts';\nimport multiply from './tools/multiply.ts';",
      )
      .replace('tools: [echo, add]', 'tools: [echo, add, multiply]'),
  );
}

/**
 * Calls `add(a, n)` over and over on an MCP client (n counting up), checking every answer, until `stop()`:
 * a steady load whose failures a deploy must not cause.
 */
export class CallingClient {
  calls = 0;
  readonly failures: string[] = [];
  #stopped = false;
  readonly #loop: Promise<void>;

  constructor(client: Client, a = 1) {
    this.#loop = (async () => {
      while (!this.#stopped) {
        const b = this.calls;
        try {
          const r = await client.callTool({ name: 'add', arguments: { a, b } });
          if (textOf(r) !== String(a + b)) this.failures.push(`wrong answer ${textOf(r)} to ${a}+${b}`);
        } catch (err) {
          this.failures.push(String(err));
        }
        this.calls = b + 1;
      }
    })();
  }

  /** Waits until `more` further calls answered (so calls kept flowing through whatever just happened). */
  async flowing(more: number, timeoutMs = 20_000): Promise<void> {
    const target = this.calls + more;
    await poll(async () => (this.calls >= target ? true : undefined), timeoutMs, `${more} more calls`);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#loop;
  }
}
