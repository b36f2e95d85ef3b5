/** What the benchmarks share: the embedded platform's configuration, polling, the bare-node baseline, runtimes. */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import path from 'node:path';
import { unixRequest } from '@bmms/reconciler';
import Docker from 'dockerode';
import type { Config } from '../platform/src/config.ts';

export type RuntimeName = 'process' | 'confined' | 'docker' | 'swarm';

export const HAS_BWRAP = existsSync('/usr/bin/bwrap');

export const INITIALIZE = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'bench', version: '1' } },
});

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The embedded platform on a fresh data dir, with a benchmark's overrides. */
export function benchConfig(dataDir: string, overrides: Partial<Config> = {}): Config {
  return {
    port: 0,
    host: '127.0.0.1',
    dataDir,
    databaseUrl: undefined,
    publicUrl: undefined,
    runtime: 'process',
    dockerImage: undefined,
    swarmConstraints: [],
    insecureNoSandbox: !HAS_BWRAP,
    resyncMs: 30_000,
    rollbackWindowMs: 0,
    idleMs: 0,
    // The gateway's fair-share threshold can be compared across runs (the platform reads it from the same variable).
    ...(process.env.BMMS_FAIR_SHARE_UTILIZATION
      ? { fairShareUtilization: Number(process.env.BMMS_FAIR_SHARE_UTILIZATION) }
      : {}),
    ...overrides,
  };
}

/** Polls `probe` every few ms until it returns a value. */
export async function until<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 120_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const v = await probe();
    if (v !== undefined) return v;
    await sleep(5);
  }
  throw new Error(`timed out: ${what}`);
}

/** Bare node: spawn the same bundle on a unix socket and time the first answered `initialize`. */
export async function bareStart(bundle: string, scratch: string): Promise<number> {
  const dir = await mkdtemp(path.join(scratch, 'bare-'));
  const socket = path.join(dir, 'mcp.sock');
  const t0 = performance.now();
  const child = spawn(process.execPath, [bundle], { env: { BMMS_SOCKET: socket }, stdio: 'ignore' });
  try {
    return await until('bare initialize', async () => {
      if (!existsSync(socket)) return undefined;
      const res = await unixRequest(socket, {
        method: 'POST',
        path: '/mcp',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
        body: INITIALIZE,
      }).catch(() => null);
      return res?.status === 200 ? performance.now() - t0 : undefined;
    });
  } finally {
    child.kill('SIGKILL');
  }
}

/** The runtimes to measure: process, plus docker and swarm when DOCKER_HOST answers (BENCH_RUNTIMES to choose). */
export async function availableRuntimes(): Promise<RuntimeName[]> {
  const wanted = (process.env.BENCH_RUNTIMES ?? 'process,confined,docker,swarm').split(',');
  // `confined`: the process runtime's layer for hosts without bubblewrap (Node's permission model), forced here.
  const found: RuntimeName[] = ['process', 'confined'];
  try {
    const info = (await new Docker().info()) as { Swarm?: { LocalNodeState?: string; ControlAvailable?: boolean } };
    found.push('docker');
    if (info.Swarm?.LocalNodeState === 'active' && info.Swarm.ControlAvailable) found.push('swarm');
  } catch {
    // no engine: process only
  }
  return found.filter((r) => wanted.includes(r));
}
