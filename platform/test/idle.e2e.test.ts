import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { poll, type ServerBody, TestStack, textOf } from './harness.ts';

describe('scale to zero', () => {
  let stack: TestStack;

  beforeAll(async () => {
    stack = await TestStack.start({ idleMs: 1500 });
  });
  afterAll(async () => {
    await stack?.destroy();
  });

  it('stops an idle server and starts it again on its next call, which waits and succeeds', async () => {
    const deployed = await stack.createAndDeploy('sleepy');
    const production = () =>
      stack.platform.runtime
        .list()
        .filter((i) => i.serverName === 'sleepy' && !stack.platform.ctx.previews.isPreviewInstance(i.id));
    const asleep = await poll(
      async () => {
        const r = await stack.api<ServerBody>('GET', '/api/v1/servers/sleepy');
        const ready = r.body.conditions.find((c) => c.type === 'Ready');
        return ready?.reason === 'ScaledToZero' && production().length === 0 ? r.body : undefined;
      },
      30_000,
      'scaled to zero',
    );
    expect(asleep.conditions.find((c) => c.type === 'Ready')?.status).toBe('True');
    expect(asleep.history[0]).toMatchObject({ reason: 'ScaledToZero' });
    expect(asleep.observedRevision).toBe(deployed.observedRevision);

    const client = await stack.mcpClient(deployed.url);
    expect(textOf(await client.callTool({ name: 'add', arguments: { a: 20, b: 22 } }))).toBe('42');
    await client.close();
    expect(production()).toHaveLength(1);
    const awake = await stack.waitReady('sleepy', deployed.observedRevision ?? undefined);
    expect(awake.conditions.find((c) => c.type === 'Ready')?.reason).toBe('Serving');
  });
});
