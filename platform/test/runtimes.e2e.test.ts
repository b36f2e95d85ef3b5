// The loop (create → check → merge → serve → change → revert) on the docker and swarm runtimes; the process runtime
// runs it in loop.e2e.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../src/config.ts';
import { dockerForTests } from './docker.ts';
import { addMultiplyTool, CallingClient, type ServerBody, TestStack, textOf } from './harness.ts';

describe.each([
  { runtime: 'docker', swarm: false },
  { runtime: 'swarm', swarm: true },
] as const)('the loop on the $runtime runtime', ({ runtime, swarm }) => {
  let stack: TestStack | undefined;
  let demo: ServerBody;

  beforeAll(async () => {
    if (!(await dockerForTests({ swarm }))) return;
    stack = await TestStack.start({ runtime } satisfies Partial<Config>);
  }, 120_000);
  afterAll(async () => {
    await stack?.destroy();
  });

  it('deploys, serves, rolls a change out without a failed call, and reverts', async (t) => {
    if (!stack) return t.skip();
    const s = stack;
    demo = await s.createAndDeploy('demo');
    expect(s.platform.runtime.name).toBe(runtime);
    // Production instances (change #1's preview may still be on its way down).
    const production = s.platform.runtime.list().filter((i) => !s.platform.ctx.previews.isPreviewInstance(i.id));
    expect(production.map((i) => i.sandbox)).toEqual([runtime]);
    const client = await s.mcpClient(demo.url);
    expect(textOf(await client.callTool({ name: 'add', arguments: { a: 2, b: 3 } }))).toBe('5');

    const wd = await s.clone('demo');
    await wd.git('checkout', '-q', '-b', 'add-multiply');
    await addMultiplyTool(wd);
    await wd.commitAndPush('Add multiply', 'add-multiply');
    const n = await s.openChange('demo', 'add-multiply');
    const change = await s.waitChecks('demo', n);
    expect(change.checks.map((c) => [c.name, c.conclusion]).filter(([, c]) => c !== 'success')).toEqual([]);

    const load = new CallingClient(client);
    const merged = await s.api<{ sha: string }>('POST', `/api/v1/servers/demo/changes/${n}/merge`);
    expect(merged.status).toBe(200);
    await s.waitReady('demo', merged.body.sha, 120_000);
    await load.flowing(5);
    await load.stop();
    expect(load.failures).toEqual([]);
    expect(textOf(await client.callTool({ name: 'multiply', arguments: { a: 6, b: 7 } }))).toBe('42');

    const reverted = await s.api<{ sha: string }>('POST', '/api/v1/servers/demo/revert', {});
    expect(reverted.status).toBe(201);
    await s.waitReady('demo', reverted.body.sha, 120_000);
    expect((await client.listTools()).tools.map((t) => t.name).sort()).toEqual(['add', 'echo']);
    await client.close();
  }, 300_000);
});
