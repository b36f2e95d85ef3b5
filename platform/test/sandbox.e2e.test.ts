import { readdirSync } from 'node:fs';
import { mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ProcessRuntime } from '@bmms/reconciler';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPlatform, welcome } from '../src/boot.ts';
import type { Config } from '../src/config.ts';
import { silentLogger } from '../src/logger.ts';
import { UnhardenedSignupError } from '../src/runtime.ts';
import { addMultiplyTool, CallingClient, poll, TestStack, textOf } from './harness.ts';
import { PlatformProcess } from './platform-process.ts';

/**
 * A PATH with every program of the current one but `bwrap`: a folder of links, so git, prlimit and the rest
 * are still found (the first of a name wins, as in a PATH lookup).
 */
async function pathWithoutBwrap(dir: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  const seen = new Set<string>(['bwrap']);
  for (const folder of (process.env.PATH ?? '').split(path.delimiter)) {
    let names: string[];
    try {
      names = readdirSync(folder);
    } catch {
      continue;
    }
    for (const name of names) {
      if (seen.has(name)) continue;
      seen.add(name);
      await symlink(path.join(folder, name), path.join(dir, name));
    }
  }
  return dir;
}

const baseConfig = (dataDir: string): Config => ({
  port: 0,
  host: '127.0.0.1',
  dataDir,
  databaseUrl: undefined,
  publicUrl: undefined,
  runtime: 'process',
  dockerImage: undefined,
  swarmConstraints: [],
  insecureNoSandbox: false,
  resyncMs: 2000,
  rollbackWindowMs: 0,
  idleMs: 0,
});

describe('on a host without bubblewrap in the PATH: the confined default', () => {
  let stack: TestStack;
  let scratch: string;
  const savedPath = process.env.PATH;

  beforeAll(async () => {
    scratch = await mkdtemp(path.join(os.tmpdir(), 'bmms-nobwrap-'));
    process.env.PATH = await pathWithoutBwrap(path.join(scratch, 'bin'));
    stack = await TestStack.start({ insecureNoSandbox: false });
  });
  afterAll(async () => {
    await stack?.destroy();
    process.env.PATH = savedPath;
    await rm(scratch, { recursive: true, force: true });
  });

  it('says which layer it uses, then creates, checks, merges, serves, changes and reverts a server', async () => {
    expect(stack.platform.runtime).toBeInstanceOf(ProcessRuntime);
    expect((stack.platform.runtime as ProcessRuntime).sandbox).toBe('confined');
    const banner = welcome(stack.platform, stack.dataDir);
    expect(banner).toContain("Instances: confined by Node's permission model (no bubblewrap found)");
    expect(banner).toContain('NOT a hardened sandbox');

    const demo = await stack.createAndDeploy('demo');
    const production = stack.platform.runtime
      .list()
      .filter((i) => !stack.platform.ctx.previews.isPreviewInstance(i.id));
    expect(production.map((i) => i.sandbox)).toEqual(['confined']);
    const client = await stack.mcpClient(demo.url);
    expect(textOf(await client.callTool({ name: 'add', arguments: { a: 2, b: 3 } }))).toBe('5');

    const wd = await stack.clone('demo');
    await wd.git('checkout', '-q', '-b', 'add-multiply');
    await addMultiplyTool(wd);
    await wd.commitAndPush('Add multiply', 'add-multiply');
    const n = await stack.openChange('demo', 'add-multiply');
    const change = await stack.waitChecks('demo', n);
    // The server's own tests and its preview ran confined too: neither was skipped for want of a sandbox.
    expect(change.checks.filter((c) => c.conclusion === 'failure')).toEqual([]);
    const conclusion = (name: string) => change.checks.find((c) => c.name === name)?.conclusion;
    expect([conclusion('tests'), conclusion('preview')]).toEqual(['success', 'success']);

    const load = new CallingClient(client);
    const merged = await stack.api<{ sha: string }>('POST', `/api/v1/servers/demo/changes/${n}/merge`);
    expect(merged.status).toBe(200);
    await stack.waitReady('demo', merged.body.sha, 120_000);
    await load.flowing(5);
    await load.stop();
    expect(load.failures).toEqual([]);
    expect(textOf(await client.callTool({ name: 'multiply', arguments: { a: 6, b: 7 } }))).toBe('42');

    const reverted = await stack.api<{ sha: string }>('POST', '/api/v1/servers/demo/revert', {});
    expect(reverted.status).toBe(201);
    await stack.waitReady('demo', reverted.body.sha, 120_000);
    expect((await client.listTools()).tools.map((t) => t.name).sort()).toEqual(['add', 'echo']);
    await client.close();
  }, 300_000);

  it('refuses to start open to sign-ups without a hardened sandbox', async () => {
    // Refused before the data dir or the database is touched.
    const config = { ...baseConfig(path.join(scratch, 'open-data')), signup: 'open' } satisfies Config;
    const err = await startPlatform(config, silentLogger).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnhardenedSignupError);
    expect((err as Error).message).toMatch(/BMMS_SIGNUP=open[\s\S]*bubblewrap[\s\S]*BMMS_SIGNUP=invite/);
  });
});

describe('without bubblewrap and with the confined layer turned off', () => {
  let stack: TestStack;
  let runtimeDir: string;

  beforeAll(async () => {
    runtimeDir = await mkdtemp(path.join(os.tmpdir(), 'bmms-nobwrap-'));
    const runtime = new ProcessRuntime({
      dataDir: runtimeDir,
      bwrapPath: path.join(runtimeDir, 'no-bwrap-here'),
      confined: 'never',
    });
    stack = await TestStack.start({}, { runtime });
  });
  afterAll(async () => {
    await stack?.destroy();
    await rm(runtimeDir, { recursive: true, force: true });
  });

  it('still serves the API and checks, refuses to run instances, and says so at start and on the server', async () => {
    expect(welcome(stack.platform, stack.dataDir)).toMatch(/WARNING: MCP servers cannot run[\s\S]*bubblewrap/);
    expect((await stack.api('POST', '/api/v1/servers', { name: 'nobox', template: 'echo' })).status).toBe(201);
    await stack.waitChecks('nobox', 1);
    expect((await stack.api('POST', '/api/v1/servers/nobox/changes/1/merge')).status).toBe(200);
    const stalled = await stack.waitCondition('nobox', 'Stalled', 'SandboxUnavailable', 30_000);
    expect(stalled.conditions.find((c) => c.type === 'Stalled')?.message).toMatch(/bubblewrap/);
    expect(stalled.observedRevision).toBeNull();
    expect(stack.platform.runtime.list()).toEqual([]);
    const mcp = await stack.api('POST', '/s/nobox/mcp', { jsonrpc: '2.0', id: 1, method: 'ping' });
    expect(mcp.status).toBe(503);
  });
});

describe('npm start on a host without bubblewrap (the platform as a process of its own)', () => {
  let scratch: string;
  const running: PlatformProcess[] = [];
  const env = (bin: string, dataDir: string, extra: Record<string, string> = {}): PlatformProcess =>
    new PlatformProcess(dataDir, {
      PATH: bin,
      DATABASE_URL: '',
      BMMS_RUNTIME: '',
      BMMS_INSECURE_NO_SANDBOX: '',
      BMMS_SIGNUP: '',
      ...extra,
    });

  beforeAll(async () => {
    scratch = await mkdtemp(path.join(os.tmpdir(), 'bmms-nobwrap-start-'));
  });
  afterAll(async () => {
    for (const p of running) await p.stop();
    await rm(scratch, { recursive: true, force: true });
  });

  it('says it runs servers confined, serves one end to end, and refuses to open sign-ups', async () => {
    const bin = await pathWithoutBwrap(path.join(scratch, 'bin'));
    const platform = env(bin, path.join(scratch, 'data'));
    running.push(platform);
    await platform.start();
    expect(platform.output).toContain("Instances: confined by Node's permission model (no bubblewrap found)");
    expect(platform.output).toContain('NOT a hardened sandbox');

    expect((await platform.api('POST', '/api/v1/servers', { name: 'demo', template: 'echo' })).status).toBe(201);
    await poll(
      async () => {
        const c = await platform.api<{ checks: { status: string }[] }>('GET', '/api/v1/servers/demo/changes/1');
        return c.body.checks.length && c.body.checks.every((k) => k.status === 'completed') ? true : undefined;
      },
      120_000,
      'checks of change #1',
    );
    expect((await platform.api('POST', '/api/v1/servers/demo/changes/1/merge')).status).toBe(200);
    await platform.servingHead('demo');
    const res = await fetch(`${platform.url}/s/demo/mcp`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${platform.key}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
      },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'tools/call',
        params: { name: 'add', arguments: { a: 2, b: 3 } },
      }),
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { result: { content: { text: string }[] } }).result.content[0]?.text).toBe('5');

    const open = env(bin, path.join(scratch, 'open-data'), { BMMS_SIGNUP: 'open' });
    running.push(open);
    await open.start().catch(() => {}); // it exits before it listens: there is no key file to read
    expect(await open.exited).toEqual({ code: 1, signal: null });
    expect(open.output).toContain('BMMS_SIGNUP=open lets strangers run code');
  }, 300_000);
});
