import type { GitProvider } from '@bmms/gitserver';
import type { PrismaClient } from '@bmms/prisma';
import {
  type BundleCache,
  type Instance,
  probeInstance,
  type RouteTable,
  type Runtime,
  SandboxUnavailableError,
  unixRequest,
} from '@bmms/reconciler';
import { type Manifest, parseManifest } from '@bmms/runner-template';
import { Ajv } from 'ajv';
import type { CheckOutcome } from './checks/types.ts';
import type { Logger } from './logger.ts';

const PREVIEW = /^([a-z][a-z0-9-]*[a-z0-9])--pr-([1-9][0-9]{0,8})$/;

/** The route (and URL segment) of change `number`'s preview: `/s/<server>--pr-<number>/mcp`. */
export function previewName(server: string, number: number): string {
  return `${server}--pr-${number}`;
}

/** Splits a preview name into its server and change number, or null for a plain server name. */
export function parsePreviewName(name: string): { server: string; number: number } | null {
  const m = PREVIEW.exec(name);
  return m?.[1] && m[2] ? { server: m[1], number: Number(m[2]) } : null;
}

export interface PreviewDeps {
  db: PrismaClient;
  git: GitProvider;
  runtime: Runtime;
  bundles: BundleCache;
  routes: RouteTable;
  log: Logger;
  /** The gateway's internal credentials: previews verify them like production instances. */
  credentials?: { env(): Record<string, string>; probeHeaders(server: string): Record<string, string> };
}

interface PreviewInstance {
  instance: Instance;
  manifest: Manifest;
}

/**
 * Preview deployments: a change's head tree runs in a throw-away instance (never the production
 * one), smoke-tested, and routed at `/s/<server>--pr-<N>/mcp` for every open change whose head has
 * that tree. Instances no open change needs are stopped.
 */
export class PreviewManager {
  readonly #deps: PreviewDeps;
  readonly #instances = new Map<string, PreviewInstance>();
  readonly #locks = new Map<string, Promise<unknown>>();
  /** Preview instances started but not yet smoke-tested. */
  readonly #starting = new Set<string>();
  /** Previews no change needs any more, on their way down. */
  readonly #stopping = new Set<string>();

  constructor(deps: PreviewDeps) {
    this.#deps = deps;
  }

  /** Builds the bundle of `commitSha`'s tree (building runs nothing of it: safe before the checks passed). */
  async prepare(serverName: string, commitSha: string): Promise<void> {
    const { git, bundles } = this.#deps;
    const tree = await git.treeOf(serverName, commitSha);
    await bundles.ensure(tree, (dir) => git.checkout(serverName, commitSha, dir));
  }

  /** Deploys `commitSha`'s tree to a preview instance and smoke-tests it; the `preview` check's result. */
  async deploy(serverName: string, commitSha: string, signal?: AbortSignal): Promise<CheckOutcome> {
    return this.#serialized(serverName, async () => {
      const { git, runtime, bundles } = this.#deps;
      const tree = await git.treeOf(serverName, commitSha);
      const key = `${serverName}\0${tree}`;
      const existing = this.#instances.get(key);
      if (existing && runtime.list().some((i) => i.id === existing.instance.id)) {
        await this.#sync(serverName);
        return ok(existing.manifest, 'reused the running preview of this tree');
      }
      const text = await git.readFile(serverName, commitSha, 'mcp.json');
      if (text === null) return fail('mcp.json is missing: there is nothing to preview');
      const manifest = parseManifest(text);
      let instance: Instance | undefined;
      try {
        const bundle = await bundles.ensure(tree, (dir) => git.checkout(serverName, commitSha, dir));
        if (signal?.aborted) return fail('cancelled');
        instance = await runtime.start({
          serverName,
          revision: commitSha,
          treeSha: tree,
          bundlePath: bundle.path,
          env: { BMMS_PREVIEW: '1', ...this.#deps.credentials?.env() },
          kind: 'preview',
          limits: {
            memoryMb: manifest.limits.memoryMb,
            cpu: manifest.limits.cpu,
            timeoutMs: manifest.limits.timeoutMs,
          },
        });
        const started = instance.id;
        this.#starting.add(started);
        const auth = this.#deps.credentials?.probeHeaders(serverName) ?? {};
        const report = await smokeTest(instance.socketPath, manifest, auth).finally(() =>
          this.#starting.delete(started),
        );
        this.#instances.set(key, { instance, manifest });
        await this.#sync(serverName);
        return ok(manifest, report.join('; '));
      } catch (err) {
        if (instance) await runtime.stop(instance.id, { graceMs: 500 }).catch(() => {});
        const message = err instanceof Error ? err.message : String(err);
        if (err instanceof SandboxUnavailableError) {
          return { conclusion: 'skipped', summary: `no preview: ${message}`, log: message };
        }
        return fail(`the preview did not pass its smoke test: ${message}`);
      }
    });
  }

  /**
   * Points each open change of `serverName` at the preview of its head tree, removes the routes of
   * changes that are no longer open, and stops previews no open change needs. Serialized with deploys
   * of the same server, so a sync never undoes a preview that is being routed.
   */
  sync(serverName: string): Promise<void> {
    return this.#serialized(serverName, () => this.#sync(serverName));
  }

  /** sync() under the server's lock (deploy holds it already). */
  async #sync(serverName: string): Promise<void> {
    const { db, git, routes, runtime } = this.#deps;
    const server = await db.server.findUnique({ where: { name: serverName } });
    const changes = server ? await db.changeRequest.findMany({ where: { serverId: server.id } }) : [];
    const needed = new Set<string>();
    for (const change of changes) {
      const route = previewName(serverName, change.number);
      const tree = change.state === 'open' ? await git.treeOf(serverName, change.headSha).catch(() => null) : null;
      const preview = tree ? this.#instances.get(`${serverName}\0${tree}`) : undefined;
      if (preview && tree) {
        needed.add(`${serverName}\0${tree}`);
        if (routes.get(route)?.instanceId !== preview.instance.id) {
          routes.set(route, {
            instanceId: preview.instance.id,
            revision: change.headSha,
            treeSha: tree,
            socketPath: preview.instance.socketPath,
          });
        }
      } else routes.remove(route);
    }
    for (const name of routes.servers()) {
      if (name.startsWith(`${serverName}--pr-`) && !changes.some((c) => previewName(serverName, c.number) === name)) {
        routes.remove(name);
      }
    }
    for (const [key, preview] of this.#instances) {
      if (!key.startsWith(`${serverName}\0`) || needed.has(key)) continue;
      this.#instances.delete(key);
      // Unrouted already: nobody waits for the instance to stop (a swarm task takes about a second).
      const id = preview.instance.id;
      this.#stopping.add(id);
      void runtime
        .stop(id, { graceMs: 2000 })
        .catch(() => {})
        .finally(() => this.#stopping.delete(id));
    }
  }

  /** Whether `instanceId` is a preview (not a production instance). */
  isPreviewInstance(instanceId: string): boolean {
    if (this.#starting.has(instanceId) || this.#stopping.has(instanceId)) return true;
    for (const p of this.#instances.values()) if (p.instance.id === instanceId) return true;
    return false;
  }

  /** Whether change `number` of `serverName` has a preview serving now. */
  isServing(serverName: string, number: number): boolean {
    const route = this.#deps.routes.get(previewName(serverName, number));
    return route !== undefined && this.#deps.runtime.list().some((i) => i.id === route.instanceId);
  }

  /** After a restart: previews of open changes whose checks passed come back. */
  async resume(): Promise<void> {
    const { db, git, log } = this.#deps;
    const open = await db.changeRequest.findMany({ where: { state: 'open' }, include: { server: true } });
    for (const change of open) {
      const tree = await git.treeOf(change.server.name, change.headSha).catch(() => null);
      if (!tree) continue;
      const suite = await db.checkSuite.findUnique({
        where: { serverId_treeSha: { serverId: change.serverId, treeSha: tree } },
        include: { runs: true },
      });
      const preview = suite?.runs.find((r) => r.name === 'preview');
      if (preview?.conclusion !== 'success') continue;
      const outcome = await this.deploy(change.server.name, change.headSha);
      if (outcome.conclusion !== 'success') {
        log.warn('preview did not come back', {
          server: change.server.name,
          change: change.number,
          why: outcome.summary,
        });
      }
    }
  }

  async #serialized<T>(serverName: string, task: () => Promise<T>): Promise<T> {
    const previous = this.#locks.get(serverName) ?? Promise.resolve();
    const run = previous.catch(() => {}).then(task);
    this.#locks.set(serverName, run);
    try {
      return await run;
    } finally {
      if (this.#locks.get(serverName) === run) this.#locks.delete(serverName);
    }
  }
}

/**
 * The preview smoke test: health, MCP initialize, tools/list equal to mcp.json, every inputSchema
 * a valid JSON Schema, and a call with invalid arguments answered with a JSON-RPC error (not a crash).
 */
async function smokeTest(socketPath: string, manifest: Manifest, auth: Record<string, string>): Promise<string[]> {
  const probed = await probeInstance(socketPath, manifest, { headers: auth });
  const report = [
    `initialize answered (protocol ${probed.protocolVersion})`,
    `tools/list = mcp.json (${probed.tools.length} tools)`,
  ];
  const list = await rpc(socketPath, auth, { jsonrpc: '2.0', id: 2, method: 'tools/list', params: {} });
  const tools = (list.result?.tools ?? []) as { name: string; inputSchema?: unknown }[];
  const ajv = new Ajv({ strict: false, allErrors: true });
  for (const tool of tools) {
    try {
      ajv.compile(tool.inputSchema as object);
    } catch (err) {
      throw new Error(`the inputSchema of tool "${tool.name}" is not valid JSON Schema: ${(err as Error).message}`);
    }
  }
  report.push(`${tools.length} input schema(s) valid`);
  const first = tools[0];
  if (first) {
    const bad = await rpc(socketPath, auth, {
      jsonrpc: '2.0',
      id: 3,
      method: 'tools/call',
      params: { name: first.name, arguments: 'not an object' },
    });
    if (!bad.error) throw new Error(`a call of "${first.name}" with invalid arguments did not get a JSON-RPC error`);
    const health = await unixRequest(socketPath, { method: 'GET', path: '/healthz' });
    if (health.status !== 200) throw new Error('the server stopped answering after a call with invalid arguments');
    report.push(`invalid arguments answered with JSON-RPC error ${bad.error.code}`);
  }
  return report;
}

interface RpcReply {
  result?: { tools?: unknown[] };
  error?: { code: number; message: string };
}

async function rpc(
  socketPath: string,
  auth: Record<string, string>,
  message: Record<string, unknown>,
): Promise<RpcReply> {
  const res = await unixRequest(socketPath, {
    method: 'POST',
    path: '/mcp',
    headers: {
      ...auth,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': '2025-06-18',
    },
    body: JSON.stringify(message),
  });
  const text = res.body.toString('utf8');
  const json = text.startsWith('{') ? text : (/^data: (.*)$/m.exec(text)?.[1] ?? '{}');
  return JSON.parse(json) as RpcReply;
}

function ok(manifest: Manifest, detail: string): CheckOutcome {
  const summary = `preview deployed and smoke-tested: ${detail}. Tools: ${manifest.tools.map((t) => t.name).join(', ') || 'none'}.`;
  return { conclusion: 'success', summary, log: `${summary}\n` };
}

function fail(summary: string): CheckOutcome {
  return { conclusion: 'failure', summary, log: `${summary}\n` };
}
