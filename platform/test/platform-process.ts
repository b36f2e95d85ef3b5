// A platform running as its own process (node platform/src/main.ts), so tests can really kill or restart it.
import { type ChildProcess, spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { NODE_BIN } from '../../reconciler/test/helpers.ts';
import { poll } from './harness.ts';

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));

export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as { port: number };
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

export type ServerBody = {
  observedRevision: string | null;
  desiredRevision: string | null;
  conditions: { type: string; status: boolean; reason: string }[];
  history: { revision: string; state: string; reason: string; instanceId: string | null }[];
};

/** A platform running as its own process, so it can really be killed. */
export class PlatformProcess {
  child: ChildProcess | undefined;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }> = Promise.resolve({ code: 0, signal: null });
  url = '';
  key = '';
  output = '';
  readonly dataDir: string;
  readonly env: Record<string, string>;

  constructor(dataDir: string, env: Record<string, string>) {
    this.dataDir = dataDir;
    this.env = env;
  }

  async start(extra: Record<string, string> = {}): Promise<void> {
    const port = await freePort();
    this.url = `http://127.0.0.1:${port}`;
    this.output = '';
    const child = spawn(NODE_BIN, [MAIN], {
      env: { ...process.env, ...this.env, ...extra, PORT: String(port), BMMS_DATA_DIR: this.dataDir },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    child.stdout?.on('data', (d: Buffer) => {
      this.output = (this.output + d.toString()).slice(-20_000);
    });
    child.stderr?.on('data', (d: Buffer) => {
      this.output = (this.output + d.toString()).slice(-20_000);
    });
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    await poll(
      async () => {
        if (child.exitCode !== null || child.signalCode !== null) return true;
        return (await fetch(`${this.url}/healthz`).catch(() => null))?.ok ? true : undefined;
      },
      60_000,
      'the platform to listen',
    );
    this.key = (await readFile(path.join(this.dataDir, 'owner-api-key'), 'utf8')).trim();
  }

  async api<T>(method: string, p: string, body?: unknown): Promise<{ status: number; body: T }> {
    const res = await fetch(`${this.url}${p}`, {
      method,
      headers: { authorization: `Bearer ${this.key}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : {}) as T };
  }

  /** One JSON-RPC request to a server's MCP endpoint with the owner key: the HTTP status and body text. */
  async mcp(server: string, method: string): Promise<{ status: number; text: string }> {
    const res = await fetch(`${this.url}/s/${server}/mcp`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${this.key}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method }),
    });
    return { status: res.status, text: await res.text() };
  }

  async stop(): Promise<void> {
    this.child?.kill('SIGTERM');
    await this.exited;
  }
}
