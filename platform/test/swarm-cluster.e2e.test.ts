// Many nodes, any replica: a three-node swarm on one machine (three dockerd in network namespaces of their own,
// joined over a bridge), instances serving on an internal overlay network at their own addresses, and two platform
// replicas attached to that network (each in the network namespace of a container on it, as a replica deployed as
// a swarm service would be) on one Postgres. Servers live on GitHub (a stand-in), so either replica can deploy any.

import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createTestDatabase, type TestDatabase, testServerUrl } from '@bmms/prisma/testing';
import { Octokit } from '@octokit/rest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GitHubStandIn } from './github/standin.ts';
import { HAS_BWRAP, poll } from './harness.ts';
import { PlatformProcess, removeScratch, startForwarder } from './platform-process.ts';
import { clusterUnavailable, SwarmCluster } from './swarm-cluster.ts';

const TOKEN = 'github_pat_cluster_0123456789abcd';
const METRICS_TOKEN = 'cluster-metrics-token-0123456789';
const NETWORK = 'bmms-e2e-instances';
const SERVERS = ['one', 'two', 'three'];

const WEB_NAME = 'pages.example.com';
/** A small web page on the overlay network (port 80), for the egress test. */
const WEB_HOST = `require('http').createServer((q, s) => { s.setHeader('content-type', 'text/html'); s.end('<html><head><title>Overlay</title></head><body><main><p>Served on the overlay network.</p></main></body></html>'); }).listen(80)`;

/** Merges change #1 of `server`; fails with its checks' conclusions and summaries when the merge is refused. */
async function merge(p: PlatformProcess, server: string): Promise<void> {
  const merged = await p.api('POST', `/api/v1/servers/${server}/changes/1/merge`);
  if (merged.status === 200) return;
  const change = await p.api<{ checks: { name: string; conclusion: string; summary?: string }[] }>(
    'GET',
    `/api/v1/servers/${server}/changes/1`,
  );
  const checks = change.body.checks.map((c) => `${c.name}: ${c.conclusion} ${c.summary ?? ''}`).join('\n');
  throw new Error(`merge of ${server}: ${merged.status} ${JSON.stringify(merged.body)}\n${checks}`);
}

const leads = async (p: PlatformProcess): Promise<boolean> => {
  const res = await fetch(`${p.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } }).catch(
    () => undefined,
  );
  return /^bmms_reconciler_leading 1$/m.test((await res?.text()) ?? '');
};

const unavailable = clusterUnavailable();
if (unavailable && process.env.BMMS_REQUIRE_DOCKER === '1' && testServerUrl())
  throw new Error(`BMMS_REQUIRE_DOCKER=1 but the multi-node swarm cannot run here: ${unavailable}`);

describe.runIf(testServerUrl() && !unavailable)('a three-node swarm, two platform replicas, any replica', () => {
  let github: GitHubStandIn;
  let person: Octokit;
  let db: TestDatabase;
  let tmp: string;
  let cluster: SwarmCluster;
  let first: PlatformProcess;
  let second: PlatformProcess;
  const hostForwarders: ChildProcess[] = [];
  /** A web host on the overlay network, on node 3, named WEB_NAME for the platform. */
  let web: { netns: string; ip: string };

  /** The node each server's serving instance runs on. */
  const nodeOf = async (p: PlatformProcess, server: string): Promise<number | undefined> => {
    const instance = (await p.server(server)).history.find((d) => d.state === 'succeeded')?.instance;
    return (await cluster.placements()).get(`bmms-${instance}`);
  };

  /** Pushes a commit to main on GitHub that changes the README of `server`; its sha. */
  const push = async (server: string, text: string): Promise<string> => {
    const at = { owner: 'acme', repo: server };
    const main = (await person.git.getRef({ ...at, ref: 'heads/main' })).data.object.sha;
    const parent = await person.git.getCommit({ ...at, commit_sha: main });
    const blob = await person.git.createBlob({ ...at, content: `# ${server}\n\n${text}\n`, encoding: 'utf-8' });
    const tree = await person.git.createTree({
      ...at,
      base_tree: parent.data.tree.sha,
      tree: [{ path: 'README.md', mode: '100644', type: 'blob', sha: blob.data.sha }],
    });
    const commit = await person.git.createCommit({ ...at, message: text, tree: tree.data.sha, parents: [main] });
    await person.git.updateRef({ ...at, ref: 'heads/main', sha: commit.data.sha });
    return commit.data.sha;
  };

  beforeAll(async () => {
    github = await new GitHubStandIn({ tokens: { [TOKEN]: 'acme-dev' } }).start();
    person = new Octokit({ auth: TOKEN, baseUrl: github.url, request: { retries: 0 } });
    db = await createTestDatabase({ kind: 'postgres' });
    tmp = await mkdtemp(path.join(os.tmpdir(), 'bmms-cluster-'));
    await mkdir(path.join(tmp, 'sock'), { mode: 0o700 });
    cluster = await SwarmCluster.up(NETWORK);
    await cluster.close(); // what an earlier, interrupted run left
    // The replicas reach Postgres and the GitHub stand-in at the host's ports, through unix sockets.
    const dbPort = Number(new URL(db.url as string).port || 5432);
    const githubPort = Number(new URL(github.url).port);
    const pgSock = path.join(tmp, 'sock', 'pg');
    const ghSock = path.join(tmp, 'sock', 'gh');
    hostForwarders.push(
      await startForwarder([
        { listen: { path: pgSock }, connect: { port: dbPort } },
        { listen: { path: ghSock }, connect: { port: githubPort } },
      ]),
    );
    web = await cluster.pod(3, 'bmms-e2e-web', WEB_HOST);
    const hosts = `${web.ip} ${WEB_NAME}`;
    const forwards = [
      { listen: { port: dbPort }, connect: { path: pgSock } },
      { listen: { port: githubPort }, connect: { path: ghSock } },
    ];
    const env = {
      DATABASE_URL: db.url as string,
      BMMS_MASTER_KEY: randomBytes(32).toString('base64'),
      BMMS_CALL_OBSERVERS: 'off',
      GITHUB_API_URL: github.url,
      BMMS_GITHUB_POLL_SECONDS: '2',
      BMMS_RUNTIME: 'swarm',
      DOCKER_HOST: cluster.managerHost,
      BMMS_SWARM_NETWORK: NETWORK,
      BMMS_METRICS: 'token',
      BMMS_METRICS_TOKEN: METRICS_TOKEN,
      // The overlay's addresses are of a documentation range: the web host on it counts as public here.
      BMMS_TEST_PUBLIC_RANGES: '203.0.113.0/24',
      ...(HAS_BWRAP ? {} : { BMMS_INSECURE_NO_SANDBOX: '1' }),
    };
    first = new PlatformProcess(path.join(tmp, 'a'), env, {
      netns: (await cluster.pod(1, 'bmms-e2e-replica-a')).netns,
      forwards,
      hosts,
    });
    await first.start();
    second = new PlatformProcess(path.join(tmp, 'b'), env, {
      netns: (await cluster.pod(2, 'bmms-e2e-replica-b')).netns,
      forwards,
      hosts,
    });
    await mkdir(second.dataDir, { recursive: true, mode: 0o700 });
    await copyFile(path.join(first.dataDir, 'owner-api-key'), path.join(second.dataDir, 'owner-api-key'));
    await second.start();
    expect((await first.api('PUT', '/api/v1/github/connection', { token: TOKEN })).status).toBe(200);
  }, 600_000);

  afterAll(async () => {
    await second?.stop().catch(() => {});
    await first?.stop().catch(() => {});
    for (const f of hostForwarders) f.kill('SIGTERM');
    await cluster?.close({ down: true });
    await db?.drop();
    await github?.stop();
    if (tmp) await removeScratch(tmp);
  }, 120_000);

  it('places instances on every node and serves each through either replica', async () => {
    expect(await leads(first)).toBe(true);
    expect(await leads(second)).toBe(false);
    // Each server's instances (its preview's, then production's) placed on a node of its own.
    for (const [i, name] of SERVERS.entries()) {
      await cluster.placeOn(i + 1);
      const created = await first.api('POST', '/api/v1/servers', { name, template: 'echo', github: { owner: 'acme' } });
      expect(created.status).toBe(201);
      await first.checksCompleted(name, 1, 300_000);
      await merge(first, name);
      await first.servingHead(name);
    }
    await cluster.placeOn(undefined);
    const nodes = await Promise.all(SERVERS.map((name) => nodeOf(first, name)));
    expect(new Set(nodes)).toEqual(new Set([1, 2, 3]));
    // Nothing of the platform's host in the tasks: the files come as swarm configs, the writable paths are tmpfs.
    for (const svc of await cluster.manager.listServices()) {
      const spec = svc.Spec?.TaskTemplate as { ContainerSpec?: { Mounts?: { Type: string }[]; Configs?: unknown[] } };
      expect(spec.ContainerSpec?.Mounts?.map((m) => m.Type)).toEqual(['tmpfs', 'tmpfs']);
      expect(spec.ContainerSpec?.Configs?.length).toBeGreaterThanOrEqual(3);
    }
    for (const [i, name] of SERVERS.entries()) {
      expect(await first.add(name, i)).toEqual({ status: 200, sum: String(i + 1) });
      expect(await second.add(name, i + 10)).toEqual({ status: 200, sum: String(i + 11) });
    }
  }, 600_000);

  it('lets an instance on another node than the leader fetch through the egress proxy over the network', async () => {
    await cluster.placeOn(2);
    try {
      const created = await first.api('POST', '/api/v1/servers', {
        name: 'reader',
        template: 'web-page',
        options: { hosts: [WEB_NAME] },
        github: { owner: 'acme' },
      });
      expect(created.status).toBe(201);
      await first.checksCompleted('reader', 1, 300_000);
      await merge(first, 'reader');
      await first.servingHead('reader');
    } finally {
      await cluster.placeOn(undefined);
    }
    expect(await nodeOf(first, 'reader')).toBe(2);
    for (const p of [first, second]) {
      const { status, text } = await p.mcp('reader', 'tools/call', {
        name: 'get_page_text',
        arguments: { url: `http://${WEB_NAME}/` },
      });
      expect(status).toBe(200);
      expect(text).toContain('Served on the overlay network');
    }
    // Another host on the same network, not in the allowlist: refused before anything goes out.
    const refused = await second.mcp('reader', 'tools/call', {
      name: 'get_page_text',
      arguments: { url: `http://${web.ip}/` },
    });
    expect(refused.text).toMatch(/not in|allow/i);
    expect((await second.api('DELETE', '/api/v1/servers/reader')).status).toBe(204);
  }, 600_000);

  it('rolls a new revision out under calls through both replicas without dropping one', async () => {
    const name = SERVERS[0] as string;
    const before = await first.server(name);
    let stop = false;
    const statuses = new Map<string, number>();
    const client = async (c: number) => {
      for (let i = c; !stop; i += 4) {
        const p = i % 2 === 0 ? first : second;
        const { status, sum } = await p.add(name, i);
        const key = status === 200 && sum === String(i + 1) ? 'ok' : `${status}:${sum}`;
        statuses.set(key, (statuses.get(key) ?? 0) + 1);
      }
    };
    const clients = [0, 1, 2, 3].map(client);
    const head = await push(name, 'A second revision.');
    const after = await poll(
      async () => {
        const s = await second.server(name);
        return s.observedRevision === head ? s : undefined;
      },
      240_000,
      'the second revision to serve',
    );
    await new Promise((resolve) => setTimeout(resolve, 2000));
    stop = true;
    await Promise.all(clients);
    expect(after.history[0]?.instance).not.toBe(before.history[0]?.instance);
    expect(Object.fromEntries(statuses)).toEqual({ ok: expect.any(Number) });
    expect(statuses.get('ok')).toBeGreaterThan(40);
  }, 600_000);

  it('brings the servers of a lost node back on the others', async () => {
    const onThree = (await Promise.all(SERVERS.map(async (name) => [name, await nodeOf(first, name)] as const)))
      .filter(([, node]) => node === 3)
      .map(([name]) => name);
    expect(onThree.length).toBeGreaterThan(0);
    await cluster.stopNode(3);
    for (const name of onThree) {
      await poll(
        async () => ((await second.add(name, 5).catch(() => undefined))?.sum === '6' ? true : undefined),
        180_000,
        `${name} to serve again after its node was lost`,
      );
      expect(await nodeOf(first, name)).not.toBe(3);
    }
  }, 600_000);

  it('hands the reconciler to the other replica within 10 s when the leader dies, which then deploys a push', async () => {
    const leftByFirst = [...(await cluster.placements()).keys()];
    expect(leftByFirst.length).toBeGreaterThan(0);
    first.child?.kill('SIGKILL');
    await first.exited;
    const t0 = Date.now();
    await poll(async () => ((await leads(second)) ? true : undefined), 30_000, 'the other replica to lead');
    expect(Date.now() - t0).toBeLessThan(10_000);
    for (const [i, name] of SERVERS.entries()) {
      await poll(
        async () => ((await second.add(name, i).catch(() => undefined))?.sum === String(i + 1) ? true : undefined),
        180_000,
        `${name} to serve through the new leader`,
      );
    }
    const name = SERVERS[1] as string;
    const head = await push(name, 'After the failover.');
    await poll(
      async () => ((await second.server(name)).observedRevision === head ? true : undefined),
      240_000,
      'the push to be deployed by the new leader',
    );
    expect(await second.add(name, 7)).toEqual({ status: 200, sum: '8' });
    // Nothing of the dead leader is left on the nodes: the new leader removed every service it had started.
    await poll(
      async () => {
        const running = await cluster.placements();
        const left = leftByFirst.filter((svc) => running.has(svc));
        if (left.length > 0) throw new Error(`still running: ${left.join(', ')}`);
        return true;
      },
      60_000,
      'the dead leader’s services to be gone',
    );
    expect(github.violations).toEqual([]);
  }, 600_000);
});
