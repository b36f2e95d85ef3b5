import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestStack } from './harness.ts';
import { bearerProxy, connectWithOpenidClient } from './oauth-helpers.ts';

const run = promisify(execFile);
const CONFORMANCE = path.resolve(
  import.meta.dirname,
  '../../node_modules/@modelcontextprotocol/conformance/dist/index.js',
);
const PASSWORD = 'correct horse battery staple';

/** Acceptance: the MCP conformance suite passes through the gateway with an OAuth token (a proxy adds it). */
describe('MCP conformance suite through the gateway', () => {
  let stack: TestStack;
  let proxy: { url: string; close(): Promise<void> };

  beforeAll(async () => {
    stack = await TestStack.start();
    expect((await stack.api('PUT', '/api/v1/me/password', { password: PASSWORD })).status).toBe(204);
    const server = await stack.createAndDeploy('conformance');
    const { accessToken } = await connectWithOpenidClient(stack.url, server.url, {
      email: 'owner@localhost',
      password: PASSWORD,
    });
    proxy = await bearerProxy(stack.url, accessToken);
  }, 180_000);

  afterAll(async () => {
    await proxy?.close();
    await stack?.destroy();
  });

  it.each([
    ['server-initialize', 1],
    ['ping', 1],
    ['tools-list', 1],
    ['dns-rebinding-protection', 2],
  ])(
    'passes %s',
    async (scenario, checks) => {
      const { stdout } = await run(process.execPath, [
        CONFORMANCE,
        'server',
        '--url',
        `${proxy.url}/s/conformance/mcp`,
        '--scenario',
        scenario,
      ]);
      expect(stdout).toContain(`Passed: ${checks}/${checks}, 0 failed, 0 warnings`);
    },
    60_000,
  );
});
