// Rolling deploys under a steady load: ten consecutive deploys (each a cold start of a new instance, a probe, a
// route switch and a drain) while clients call the server without pause. Not a single call may fail.
import { appendFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CallingClient, type ServerBody, TestStack } from './harness.ts';

const CLIENTS = 4;
const DEPLOYS = 10;

describe('ten consecutive deploys under load', () => {
  let stack: TestStack;

  beforeAll(async () => {
    // No warm standby: every deploy starts a new instance from the (cached) bundle.
    stack = await TestStack.start({ rollbackWindowMs: 0 });
  });
  afterAll(async () => {
    await stack?.destroy();
  });

  it('drops no call', async () => {
    const demo = await stack.createAndDeploy('demo');
    // A second deployable tree on main: each revert below flips between the two.
    const wd = await stack.clone('demo');
    await appendFile(path.join(wd.dir, 'README.md'), '\nSecond revision.\n');
    const second = await wd.commitAndPush('Second revision', 'main');
    await stack.waitReady('demo', second);

    const clients = await Promise.all(Array.from({ length: CLIENTS }, () => stack.mcpClient(demo.url)));
    const loads = clients.map((client, c) => new CallingClient(client, c));

    const instances = new Set<string>();
    for (let i = 0; i < DEPLOYS; i++) {
      const reverted = await stack.api<{ sha: string }>('POST', '/api/v1/servers/demo/revert', {});
      expect(reverted.status).toBe(201);
      const server: ServerBody = await stack.waitReady('demo', reverted.body.sha, 60_000);
      instances.add(server.history[0]?.instance ?? '');
      // Calls kept flowing through this deploy.
      await Promise.all(loads.map((load) => load.flowing(3, 10_000)));
    }
    await Promise.all(loads.map((load) => load.stop()));
    for (const client of clients) await client.close();

    expect(loads.flatMap((load) => load.failures)).toEqual([]);
    expect(instances.size).toBe(DEPLOYS);
    expect(loads.every((load) => load.calls > DEPLOYS * 3)).toBe(true);
    const history = (await stack.api<ServerBody>('GET', '/api/v1/servers/demo')).body.history;
    // Each deploy replaced the one before it with a new instance.
    expect(history.slice(0, DEPLOYS).map((d) => d.state)).toEqual([
      'succeeded',
      ...Array(DEPLOYS - 1).fill('superseded'),
    ]);
  }, 300_000);
});
