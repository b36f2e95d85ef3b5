import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ProcessRuntime } from '@bmms/reconciler';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { welcome } from '../src/boot.ts';
import { TestStack } from './harness.ts';

describe('without bubblewrap (and without insecure mode)', () => {
  let stack: TestStack;
  let runtimeDir: string;

  beforeAll(async () => {
    runtimeDir = await mkdtemp(path.join(os.tmpdir(), 'bmms-nobwrap-'));
    const runtime = new ProcessRuntime({ dataDir: runtimeDir, bwrapPath: path.join(runtimeDir, 'no-bwrap-here') });
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
