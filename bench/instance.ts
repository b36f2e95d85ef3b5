/**
 * CPU per call of the instance runtime alone, against the bare SDK server (bench/bare-server.ts): the echo
 * template's `tools/call add` with a gateway credential, each server in its own process with the flags an
 * instance runs with, load from bench/load.ts. CPU time (user + system) per call is what a loaded machine
 * distorts least. With BENCH_PROFILE=<dir>, both servers write a CPU profile there.
 *
 * BENCH_BASELINE=<path of another runner-template/src/runtime/index.ts> (a checkout of an earlier commit) adds
 * that runtime as a third server, measured in turn with the other two.
 *
 *   node bench/instance.ts   (BENCH_SECONDS=5, BENCH_CONNECTIONS=1,16, BENCH_RUNS=3)
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { renderTemplate } from '@bmms/runner-template';
import * as ownRuntime from '@bmms/runner-template/runtime';
import { GatewayCredentials } from '../platform/src/gateway/credentials.ts';
import { INSTANCE_NODE_FLAGS } from '../reconciler/src/runtimes/health.ts';
import add from '../runner-template/templates/echo/src/tools/add.ts';
import echo from '../runner-template/templates/echo/src/tools/echo.ts';
import { cpuSpent, sampleCpu } from './cpu.ts';

const here = import.meta.dirname;
const SERVER = 'bench';

if (process.argv[2] === 'serve') {
  // The instance: what src/server.ts of an echo server does, on a TCP port.
  const manifest = JSON.parse(renderTemplate('echo', SERVER)['mcp.json'] as string) as unknown;
  const runtime = (
    process.env.BENCH_RUNTIME ? await import(process.env.BENCH_RUNTIME) : ownRuntime
  ) as typeof ownRuntime;
  const running = await runtime.startServer({ manifest, tools: [add, echo], env: { ...process.env, PORT: '0' } });
  process.stderr.write(`${running.address.split(':')[1]}\n`);
} else {
  const SECONDS = Math.max(1, Number(process.env.BENCH_SECONDS ?? 5));
  const CONNECTIONS = (process.env.BENCH_CONNECTIONS ?? '1,16').split(',').map(Number);
  const RUNS = Math.max(1, Number(process.env.BENCH_RUNS ?? 3));
  const PROFILE = process.env.BENCH_PROFILE;
  const credentials = new GatewayCredentials();
  const flags = [...INSTANCE_NODE_FLAGS, ...(PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${PROFILE}`] : [])];

  /** Starts `args` with the instance's flags; resolves with its port, read from the line it prints first. */
  const start = async (args: string[], env: Record<string, string>, portOn: 'stdout' | 'stderr') => {
    const child = spawn(process.execPath, [...flags, ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const port = await new Promise<string>((resolve, reject) => {
      child[portOn]?.once('data', (d: Buffer) => resolve(d.toString().trim().split('\n')[0] as string));
      child.once('exit', (code) => reject(new Error(`${args.join(' ')} exited (${code})`)));
    });
    // The instance's log lines go to a pipe that is drained, as the runtime's log capture does.
    child.stdout?.resume();
    child.stderr?.resume();
    return { child, url: `http://127.0.0.1:${port}/mcp` };
  };
  const stop = (child: ChildProcess) =>
    new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });

  const call = JSON.stringify({
    jsonrpc: '2.0',
    id: 1,
    method: 'tools/call',
    params: { name: 'add', arguments: { a: 2, b: 3 } },
  });
  /** CPU ms per call of `child` under `connections` for SECONDS. */
  const measure = async (child: ChildProcess, url: string, headers: Record<string, string>, connections: number) => {
    const spec = JSON.stringify({
      url,
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-protocol-version': '2025-06-18',
        ...headers,
      },
      body: call,
      connections,
      seconds: SECONDS,
    });
    const pid = child.pid as number;
    const before = sampleCpu([pid]);
    const { stdout } = await promisify(execFile)(process.execPath, [path.join(here, 'load.ts'), spec]);
    const spent = cpuSpent(before, sampleCpu([pid]));
    const result = JSON.parse(stdout) as { requests: number; errors: number; rps: number };
    if (result.errors > 0) throw new Error(`${result.errors} calls failed: ${stdout}`);
    return { ms: (spent.separate[0] ?? 0) / result.requests, rps: result.rps };
  };

  const instance = await start([path.join(here, 'instance.ts'), 'serve'], credentials.env(), 'stderr');
  const baselinePath = process.env.BENCH_BASELINE;
  const baseline = baselinePath
    ? await start(
        [path.join(here, 'instance.ts'), 'serve'],
        { ...credentials.env(), BENCH_RUNTIME: baselinePath },
        'stderr',
      )
    : undefined;
  const bare = await start([path.join(here, 'bare-server.ts')], {}, 'stdout');
  // As the gateway does: one credential per caller for 10 s (each lives 60 s), so a long run never sends an expired one.
  const claims = { server: SERVER, sub: 'bench-user', scopes: ['mcp'], client: 'bench' };
  const auth = () => ({ authorization: `Bearer ${credentials.forCall(claims)}` });
  const servers = [
    { name: 'instance', ...instance, headers: auth },
    ...(baseline ? [{ name: 'baseline', ...baseline, headers: auth }] : []),
    { name: 'bare', ...bare, headers: () => ({}) },
  ];
  try {
    for (const s of servers) await measure(s.child, s.url, s.headers(), 4);
    console.log(`tools/call add, CPU per call (user + system), ${SECONDS} s per measurement, ${RUNS} runs`);
    for (const connections of CONNECTIONS) {
      const ms = new Map<string, number[]>(servers.map((s) => [s.name, []]));
      for (let run = 0; run < RUNS; run++) {
        for (const s of servers) ms.get(s.name)?.push((await measure(s.child, s.url, s.headers(), connections)).ms);
      }
      const fmt = (xs: number[]) => xs.map((x) => x.toFixed(3)).join(' / ');
      console.log(
        `${String(connections).padStart(2)} conn: ${[...ms].map(([name, xs]) => `${name} ${fmt(xs)} ms`).join(' | ')}`,
      );
    }
  } finally {
    await Promise.all(servers.map((s) => stop(s.child)));
  }
}
