import type { GitProvider } from '@bmms/gitserver';
import type { PrismaClient } from '@bmms/prisma';
import {
  type BundleCache,
  type PreviewOutcome,
  parsePreviewName,
  previewName,
  probeInstance,
  type Reconciler,
  type RouteTable,
  type Runtime,
  unixRequest,
} from '@bmms/reconciler';
import { type Manifest, parseManifest } from '@bmms/runner-template';
import { Ajv } from 'ajv';
import type { CheckOutcome } from './checks/types.ts';

// The naming rule lives with the reconciler's targets; the gateway and the API read it through here.
export { parsePreviewName, previewName };

export interface PreviewDeps {
  db: PrismaClient;
  git: GitProvider;
  runtime: Runtime;
  bundles: BundleCache;
  routes: RouteTable;
  /** The reconciler, which owns every instance: previews are its targets. */
  reconciler: () => Reconciler;
  /**
   * How long a trial preview (main's own suite: no open change has the tree) keeps serving after its smoke test for
   * the checks that call it (default 0: stopped at once); the suite's end releases it sooner.
   */
  trialHoldMs?: number;
  /** Headers of a call the checks make to a preview: the gateway's credential for a caller with every scope. */
  callHeaders?: (server: string) => Record<string, string>;
}

/** Where a check reaches the preview of a tree: its instance's socket, and the headers each call carries. */
export interface PreviewEndpoint {
  socketPath: string;
  /** Fresh headers for one call (credentials are short-lived). */
  headers(): Record<string, string>;
}

/**
 * The platform's side of previews: the `preview` check asks the reconciler for a preview target per open change
 * whose head has the checked tree, and waits on that target's conditions. Nothing here starts or routes an
 * instance; closing, merging or moving a change tells the reconciler, which removes or re-points the target.
 */
export class PreviewManager {
  readonly #deps: PreviewDeps;

  constructor(deps: PreviewDeps) {
    this.#deps = deps;
  }

  /** Builds the bundle of `commitSha`'s tree (building runs nothing of it: safe before the checks passed). */
  async prepare(serverName: string, commitSha: string): Promise<void> {
    const { git, bundles } = this.#deps;
    const tree = await git.treeOf(serverName, commitSha);
    await bundles.ensure(tree, (dir) => git.checkout(serverName, commitSha, dir));
  }

  /** The `preview` check: the reconciler deploys `commitSha`'s tree as a preview; its conditions are the result. */
  async deploy(serverName: string, commitSha: string, signal?: AbortSignal): Promise<CheckOutcome> {
    const { db, git } = this.#deps;
    const reconciler = this.#deps.reconciler();
    const server = await db.server.findUnique({ where: { name: serverName } });
    if (!server) return fail('the server was deleted');
    const text = await git.readFile(serverName, commitSha, 'mcp.json');
    if (text === null) return fail('mcp.json is missing: there is nothing to preview');
    const manifest = parseManifest(text);
    const changes = await this.#changesWithTree(server.id, serverName, commitSha);
    if (changes.length === 0) {
      return toOutcome(await reconciler.trialPreview(serverName, commitSha, this.#deps.trialHoldMs ?? 0), manifest);
    }
    const targets = await Promise.all(
      changes.map(async (c) => ({
        ref: c.headSha,
        name: await reconciler.requestPreview(server, c.number, c.headSha),
      })),
    );
    const outcomes = await Promise.all(targets.map((t) => this.#settled(t.name, t.ref, signal)));
    const outcome = outcomes.find((o) => o.conclusion !== 'success') ?? outcomes[0];
    return outcome ? toOutcome(outcome, manifest) : fail('cancelled');
  }

  /**
   * The preview serving `commitSha`'s tree, for the checks that call it once `preview` passed (`contract`,
   * `conformance`), or why there is none.
   */
  async endpoint(serverName: string, commitSha: string): Promise<PreviewEndpoint | string> {
    const { db, git, routes } = this.#deps;
    const server = await db.server.findUnique({ where: { name: serverName } });
    if (!server) return 'the server was deleted';
    const tree = await git.treeOf(serverName, commitSha);
    const headers = this.#deps.callHeaders ?? (() => ({}));
    const at = (socketPath: string): PreviewEndpoint => ({ socketPath, headers: () => headers(serverName) });
    for (const change of await this.#changesWithTree(server.id, serverName, commitSha)) {
      const route = routes.get(previewName(serverName, change.number));
      if (route?.treeSha === tree) return at(route.socketPath);
    }
    const trial = this.#deps.reconciler().trialEndpoint(serverName, tree);
    if (trial) return at(trial);
    return 'no preview of this tree is serving (it was stopped, or the change moved on)';
  }

  /** A suite of `treeSha` completed: the trial preview kept for its checks stops. */
  suiteDone(serverName: string, treeSha: string): void {
    this.#deps.reconciler().releaseTrial(serverName, treeSha);
  }

  /** The open changes of a server whose head has `commitSha`'s tree. */
  async #changesWithTree(serverId: string, serverName: string, commitSha: string) {
    const { db, git } = this.#deps;
    const tree = await git.treeOf(serverName, commitSha);
    const open = await db.changeRequest.findMany({ where: { serverId, state: 'open' } });
    const changes = [];
    for (const change of open) {
      const head = change.headSha === commitSha ? tree : await git.treeOf(serverName, change.headSha).catch(() => null);
      if (head === tree) changes.push(change);
    }
    return changes;
  }

  /** Waits until the reconciler settled preview `target` at `ref` (or the check is cancelled). */
  async #settled(target: string, ref: string, signal?: AbortSignal): Promise<PreviewOutcome> {
    const outcome = await this.#deps.reconciler().previewSettled(target, ref, signal);
    return outcome ?? { conclusion: 'failure', detail: 'cancelled' };
  }

  /** Changes of `serverName` closed, merged or moved: the reconciler removes or re-points their previews. */
  sync(serverName: string): Promise<void> {
    return this.#deps.reconciler().previewsChanged(serverName);
  }

  /** Whether `instanceId` is a preview (not a production instance). */
  isPreviewInstance(instanceId: string): boolean {
    return this.#deps.reconciler().isPreviewInstance(instanceId);
  }

  /** Whether change `number` of `serverName` has a preview serving now. */
  isServing(serverName: string, number: number): boolean {
    const route = this.#deps.routes.get(previewName(serverName, number));
    return route !== undefined && this.#deps.runtime.list().some((i) => i.id === route.instanceId);
  }
}

function toOutcome(outcome: PreviewOutcome, manifest: Manifest): CheckOutcome {
  if (outcome.conclusion === 'success') return ok(manifest, outcome.detail);
  if (outcome.conclusion === 'skipped') return { conclusion: 'skipped', summary: outcome.detail, log: outcome.detail };
  return fail(outcome.detail);
}

/**
 * The preview smoke test: health, MCP initialize, tools/list equal to mcp.json, every inputSchema
 * a valid JSON Schema, and a call with invalid arguments answered with a JSON-RPC error (not a crash).
 */
export async function smokeTest(
  socketPath: string,
  manifest: Manifest,
  auth: Record<string, string>,
): Promise<string[]> {
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
