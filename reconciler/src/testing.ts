/** Test support, exported as `@bmms/reconciler/testing` for other workspaces' tests (never imported by `src`). */
import { spawn } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { cp } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { unixRequest } from './probe.ts';
import { procStartTime } from './runtimes/owned-temp.ts';

/** The project's Node 26 (vitest may itself run under another node). */
export const NODE_BIN = realpathSync(fileURLToPath(new URL('../../node_modules/.bin/node', import.meta.url)));

/** The fixture repo (src/server.ts) every runtime test bundles. */
export const FIXTURE_DIR = fileURLToPath(new URL('../test/fixtures/echo-server', import.meta.url));

/** Tool names the fixture serves, as a manifest would list them. */
export const FIXTURE_MANIFEST = {
  tools: [
    { name: 'echo' },
    { name: 'net_probe' },
    { name: 'write_probe' },
    { name: 'fork_bomb' },
    { name: 'memory_bomb' },
    { name: 'read_probe' },
    { name: 'egress_fetch' },
    { name: 'sleep' },
    { name: 'escape_probe' },
    { name: 'whoami' },
    { name: 'log_flood' },
    { name: 'disk_fill' },
  ],
};

/** What `probeInstance` answers for a healthy instance of the fixture: its protocol and its tools, sorted. */
export const FIXTURE_PROBE = {
  protocolVersion: '2025-06-18',
  tools: FIXTURE_MANIFEST.tools.map((t) => t.name).sort(),
};

/** A materialize function that copies the fixture repo, as the git store would write a tree. */
export const materializeFixture = (dir: string): Promise<void> => cp(FIXTURE_DIR, dir, { recursive: true });

/** Call one tool over the instance's socket (stateless MCP: no initialize needed) and return its JSON text result. */
export async function callTool(socketPath: string, name: string, args: Record<string, unknown> = {}): Promise<unknown> {
  const res = await unixRequest(socketPath, {
    method: 'POST',
    path: '/mcp',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': '2025-06-18',
    },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name, arguments: args } }),
  });
  const msg = JSON.parse(res.body.toString('utf8')) as { result?: { content: { text: string }[] } };
  const text = msg.result?.content[0]?.text;
  if (text === undefined) throw new Error(`tools/call ${name} failed: ${res.body.toString('utf8')}`);
  return JSON.parse(text);
}

/** `{pid, start}` of a process, as the owner file of a folder in owned-temp.ts records its maker. */
export type OwnerRecord = { pid: number; start: string | null };

/**
 * The owner records of a process that ran and is gone (killed: its exit handler never ran) and of one that runs;
 * `stop()` ends the running one.
 */
export async function ownerRecords(): Promise<{ gone: OwnerRecord; alive: OwnerRecord; stop(): void }> {
  const gone = spawn('sleep', ['30'], { stdio: 'ignore' });
  const gonePid = gone.pid as number;
  const goneRecord = { pid: gonePid, start: procStartTime(gonePid) };
  gone.kill('SIGKILL');
  await new Promise((resolve) => gone.once('exit', resolve));
  const alive = spawn('sleep', ['30'], { stdio: 'ignore' });
  const alivePid = alive.pid as number;
  return {
    gone: goneRecord,
    alive: { pid: alivePid, start: procStartTime(alivePid) },
    stop: () => alive.kill('SIGKILL'),
  };
}
