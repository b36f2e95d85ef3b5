import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  addMultiplyTool,
  CallingClient,
  type ChangeBody,
  poll,
  type ServerBody,
  TestStack,
  textOf,
} from './harness.ts';

describe('the whole loop on the embedded stack', () => {
  let stack: TestStack;
  let demo: ServerBody;

  beforeAll(async () => {
    stack = await TestStack.start();
  });
  afterAll(async () => {
    await stack?.destroy();
  });

  it('creates a server from a template, checks change #1, merges it and serves MCP calls', async () => {
    const created = await stack.api<{
      server: { name: string; url: string };
      change: { number: number; state: string };
    }>('POST', '/api/v1/servers', { name: 'demo', template: 'echo' });
    expect(created.status).toBe(201);
    expect(created.body.server.name).toBe('demo');
    expect(created.body.server.url).toBe(`${stack.url}/s/demo/mcp`);
    expect(created.body.change).toMatchObject({ number: 1, state: 'open' });

    const change = await stack.waitChecks('demo', 1);
    const names = change.checks.map((c) => c.name);
    expect(names).toEqual(
      expect.arrayContaining(['manifest', 'typecheck', 'tests', 'preview', 'contract', 'conformance']),
    );
    expect(names.slice(-3)).toEqual(['preview', 'contract', 'conformance']);
    expect(change.checks.filter((c) => c.conclusion === 'failure')).toEqual([]);

    const merged = await stack.api<{ sha: string }>('POST', '/api/v1/servers/demo/changes/1/merge');
    expect(merged.status).toBe(200);
    demo = await stack.waitReady('demo', merged.body.sha);
    expect(demo.observedRevision).toBe(merged.body.sha);
    expect(demo.desiredRevision).toBe(merged.body.sha);
    expect(demo.history[0]).toMatchObject({ revision: merged.body.sha, state: 'succeeded', reason: 'Serving' });

    const client = await stack.mcpClient(demo.url);
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(['add', 'echo']);
    expect(textOf(await client.callTool({ name: 'add', arguments: { a: 2, b: 3 } }))).toBe('5');
    expect(textOf(await client.callTool({ name: 'echo', arguments: { text: 'hi' } }))).toBe('hi');
    await client.close();

    const changes = await stack.api<{ changes: { number: number; state: string }[] }>(
      'GET',
      '/api/v1/servers/demo/changes',
    );
    expect(changes.body.changes).toEqual([expect.objectContaining({ number: 1, state: 'merged' })]);
  }, 120_000);

  it('deploys a tool pushed on a branch without failing a single call of a client calling in a loop', async () => {
    const wd = await stack.clone('demo');
    await wd.git('checkout', '-q', '-b', 'add-multiply');
    await addMultiplyTool(wd);
    await wd.commitAndPush('Add multiply', 'add-multiply');

    const n = await stack.openChange('demo', 'add-multiply', 'Add multiply');
    const change = await stack.waitChecks('demo', n);
    // Every check passes; replay has nothing to replay (the owner never consented to recording calls), which passes.
    expect(change.checks.filter((c) => c.conclusion !== 'success').map((c) => [c.name, c.conclusion])).toEqual([]);
    expect(change.checks.find((c) => c.name === 'replay')?.summary).toBe(
      'nothing to replay: recording of production calls is off for this server (the owner turns it on in its settings)',
    );

    // The change's preview serves the new tool before anything is merged; production does not.
    expect(change.preview).toMatchObject({ url: `${stack.url}/s/demo--pr-${n}/mcp`, status: 'ready' });
    expect(change.preview?.install.claudeCode).toContain(`/s/demo--pr-${n}/mcp`);
    // The reconciler's periodic resync leaves previews alone.
    await stack.platform.ctx.reconciler.resync();
    await stack.platform.ctx.reconciler.idle();
    const preview = await stack.mcpClient(change.preview?.url ?? '');
    expect(textOf(await preview.callTool({ name: 'multiply', arguments: { a: 3, b: 4 } }))).toBe('12');
    await preview.close();
    const production = await stack.mcpClient(demo.url);
    expect((await production.listTools()).tools.map((t) => t.name)).not.toContain('multiply');
    await production.close();

    const client = await stack.mcpClient(demo.url);
    const load = new CallingClient(client);

    const merged = await stack.api<{ sha: string }>('POST', `/api/v1/servers/demo/changes/${n}/merge`);
    expect(merged.status).toBe(200);
    await stack.waitReady('demo', merged.body.sha);
    await poll(
      async () => ((await client.listTools()).tools.some((t) => t.name === 'multiply') ? true : undefined),
      10_000,
      'multiply',
    );
    await load.flowing(5, 10_000);
    await load.stop();
    await client.close();
    expect(load.failures).toEqual([]);
    expect(load.calls).toBeGreaterThan(10);

    const fresh = await stack.mcpClient(demo.url);
    expect(textOf(await fresh.callTool({ name: 'multiply', arguments: { a: 6, b: 7 } }))).toBe('42');
    await fresh.close();

    // Merged: the preview is gone.
    const gone = await stack.api<{ error: { code: string } }>('POST', `/s/demo--pr-${n}/mcp`, {
      jsonrpc: '2.0',
      id: 1,
      method: 'ping',
    });
    expect(gone.status).toBe(404);
    expect((await stack.api<ChangeBody>('GET', `/api/v1/servers/demo/changes/${n}`)).body.preview?.status).toBe(
      'removed',
    );
  });

  it('fails typecheck with the file and line of a type error and refuses to merge it', async () => {
    const wd = await stack.clone('demo');
    await wd.git('checkout', '-q', '-b', 'broken');
    await writeFile(path.join(wd.dir, 'src/broken.ts'), 'export const n: number = "not a number";\n');
    await wd.commitAndPush('a type error', 'broken');
    const n = await stack.openChange('demo', 'broken');
    const change = await stack.waitChecks('demo', n);
    const typecheck = change.checks.find((c) => c.name === 'typecheck');
    expect(typecheck?.conclusion).toBe('failure');
    expect(typecheck?.summary).toMatch(/src\/broken\.ts:1: TS2322/);
    const merge = await stack.api<{ error: { code: string } }>('POST', `/api/v1/servers/demo/changes/${n}/merge`);
    expect(merge.status).toBe(409);
    expect(merge.body.error.code).toBe('checks_not_passed');
  });

  it('fails tests naming the repository’s own test when a change makes echo upper-case its text', async () => {
    const wd = await stack.clone('demo');
    await wd.git('checkout', '-q', '-b', 'shout');
    const file = path.join(wd.dir, 'src/tools/echo.ts');
    const source = await readFile(file, 'utf8');
    await writeFile(file, source.replace('=> text,', '=> text.toUpperCase(),'));
    await wd.commitAndPush('echo shouts', 'shout');
    const n = await stack.openChange('demo', 'shout');
    const change = await stack.waitChecks('demo', n);
    // Everything else is green: the code is valid, only its behaviour changed.
    expect(change.checks.filter((c) => c.conclusion === 'failure').map((c) => c.name)).toEqual(['tests']);
    expect(change.checks.find((c) => c.name === 'tests')?.summary).toBe(
      [
        '1 of 2 test(s) failed:',
        '✗ echo returns its text unchanged (test/echo.test.ts:7)',
        "    Expected values to be strictly equal: actual 'HELLO, WORLD', expected 'hello, world'",
      ].join('\n'),
    );
    const merge = await stack.api<{ error: { code: string } }>('POST', `/api/v1/servers/demo/changes/${n}/merge`);
    expect(merge.status).toBe(409);
  });

  it('fails contract naming the tool and the input when a change makes echo crash on an edge-case input', async () => {
    const wd = await stack.clone('demo');
    await wd.git('checkout', '-q', '-b', 'words');
    const file = path.join(wd.dir, 'src/tools/echo.ts');
    const source = await readFile(file, 'utf8');
    // Same answer for ordinary text (its own test still passes), a crash for "" and " ".
    await writeFile(file, source.replace('=> text,', "=> text.match(/\\S+/g)!.join(' '),"));
    await wd.commitAndPush('echo normalises spaces', 'words');
    const n = await stack.openChange('demo', 'words');
    const change = await stack.waitChecks('demo', n);
    expect(change.checks.filter((c) => c.conclusion === 'failure').map((c) => c.name)).toEqual(['contract']);
    expect(change.checks.find((c) => c.name === 'contract')?.summary).toContain(
      `mcp.json: [contract-crash] tool "echo", edge input {"text":""} (text = "" (empty string)): the handler crashed: Cannot read properties of null (reading 'join')`,
    );
    const merge = await stack.api<{ error: { code: string } }>('POST', `/api/v1/servers/demo/changes/${n}/merge`);
    expect(merge.status).toBe(409);
  });

  it('fails conformance naming the scenario when a change breaks the protocol: an outputSchema no client compiles', async () => {
    const wd = await stack.clone('demo');
    await wd.git('checkout', '-q', '-b', 'bad-schema');
    const file = path.join(wd.dir, 'mcp.json');
    const manifest = JSON.parse(await readFile(file, 'utf8')) as { tools: Record<string, unknown>[] };
    const echo = manifest.tools.find((t) => t.name === 'echo') as Record<string, unknown>;
    echo.outputSchema = { type: 'object', properties: { text: { type: 'text' } } };
    await writeFile(file, `${JSON.stringify(manifest, null, 2)}\n`);
    await wd.commitAndPush('echo declares its output', 'bad-schema');
    const n = await stack.openChange('demo', 'bad-schema');
    const change = await stack.waitChecks('demo', n);
    // The preview starts and answers its smoke test; an SDK client cannot list the tools.
    expect(change.checks.filter((c) => c.conclusion === 'failure').map((c) => c.name)).toEqual([
      'contract',
      'conformance',
    ]);
    expect(change.checks.find((c) => c.name === 'conformance')?.summary).toMatch(
      /^@modelcontextprotocol\/conformance 0\.1\.16: 1 scenario\(s\) failed that servers on this platform pass \(\d+ of \d+ server scenarios passed\):\n✗ tools-list\n {4}ToolsList: Failed: /,
    );
  });

  it('reverts the last merge to the tree before it, switching back to the still-warm instance, and the tool is gone', async () => {
    const wd = await stack.clone('demo');
    const head = await wd.git('rev-parse', 'HEAD');
    const treeBefore = await wd.git('rev-parse', 'HEAD^1^{tree}');
    const reverted = await stack.api<{ sha: string; reverted: string }>('POST', '/api/v1/servers/demo/revert', {});
    expect(reverted.status).toBe(201);
    expect(reverted.body.reverted).toBe(head);
    const server = await stack.waitReady('demo', reverted.body.sha);
    await wd.git('fetch', '-q', 'origin');
    expect(await wd.git('rev-parse', `${reverted.body.sha}^{tree}`)).toBe(treeBefore);
    expect(await wd.git('rev-parse', `${reverted.body.sha}^`)).toBe(head);
    expect(server.history[0]?.message).toMatch(/warm instance of the same tree/);

    const client = await stack.mcpClient(server.url);
    expect((await client.listTools()).tools.map((t) => t.name).sort()).toEqual(['add', 'echo']);
    await client.close();
  });

  it('checks a direct push to main before deploying it, and never deploys a red tree', async () => {
    const wd = await stack.clone('demo');
    const serving = (await stack.api<ServerBody>('GET', '/api/v1/servers/demo')).body.observedRevision;
    await writeFile(path.join(wd.dir, 'src/oops.ts'), 'export const s: string = 42;\n');
    await wd.commitAndPush('a type error straight to main', 'main');
    const bad = await wd.git('rev-parse', 'HEAD');
    const stalled = await stack.waitCondition('demo', 'Stalled', 'ChecksFailed');
    expect(stalled.desiredRevision).toBe(bad);
    expect(stalled.observedRevision).toBe(serving);
    // A commit on main is compared with its parent: its tool surface did not change.
    const suite = await stack.suiteOf('demo', bad);
    expect(suite?.baseSha).toBe(await wd.git('rev-parse', 'HEAD^'));
    expect(suite?.runs.find((r) => r.name === 'surface')?.summary).toMatch(/0 added, 0 removed, 0 changed/);
    // No change has this tree: its preview was only tried, and kept serving for contract and conformance.
    expect(suite?.runs.find((r) => r.name === 'contract')).toMatchObject({ conclusion: 'success' });
    expect(suite?.runs.find((r) => r.name === 'conformance')?.summary).toMatch(/server-initialize, ping, tools-list/);
    // Once the suite completed, that trial preview stops: nothing serves the tree any more.
    await poll(
      async () => (typeof (await stack.platform.ctx.previews.endpoint('demo', bad)) === 'string' ? true : undefined),
      10_000,
      'the trial preview stopped',
    );

    // Fix it on main: the green tree deploys.
    await wd.git('rm', '-q', 'src/oops.ts');
    await wd.git('commit', '-qm', 'fix');
    await wd.git('push', '-q', 'origin', 'HEAD:main');
    const fixed = await wd.git('rev-parse', 'HEAD');
    await stack.waitReady('demo', fixed);
  });

  it('never deploys a revision that crashes at start: its preview fails, and the old instance keeps serving', async () => {
    const wd = await stack.clone('demo');
    const serving = (await stack.api<ServerBody>('GET', '/api/v1/servers/demo')).body.observedRevision;
    const serverPath = path.join(wd.dir, 'src/server.ts');
    const source = await readFile(serverPath, 'utf8');
    await writeFile(serverPath, `if (Date.now() > 0) throw new Error('boom at start');\n${source}`);
    await wd.git('commit', '-qam', 'crash at start');
    await wd.git('push', '-q', 'origin', 'HEAD:main');
    const bad = await wd.git('rev-parse', 'HEAD');
    const stalled = await stack.waitCondition('demo', 'Stalled', 'ChecksFailed');
    expect(stalled.desiredRevision).toBe(bad);
    expect(stalled.observedRevision).toBe(serving);
    const suite = await stack.suiteOf('demo', bad);
    const preview = suite?.runs.find((r) => r.name === 'preview');
    expect(preview?.conclusion).toBe('failure');
    expect(preview?.summary).toMatch(/boom at start/);
    const client = await stack.mcpClient(stalled.url);
    expect(textOf(await client.callTool({ name: 'add', arguments: { a: 2, b: 2 } }))).toBe('4');
    await client.close();

    const reverted = await stack.api<{ sha: string }>('POST', '/api/v1/servers/demo/revert', {});
    expect(reverted.status).toBe(201);
    const healed = await stack.waitReady('demo', reverted.body.sha);
    expect(healed.conditions.find((c) => c.type === 'Stalled')?.status).toBe('False');
  });

  it('checks a merge whose tree no check has seen (main moved on) before deploying it', async () => {
    const wd = await stack.clone('demo');
    await wd.git('checkout', '-q', '-b', 'docs-a');
    await writeFile(path.join(wd.dir, 'NOTES.md'), 'a\n');
    await wd.commitAndPush('docs a', 'docs-a');
    await wd.git('checkout', '-q', 'main');
    await wd.git('checkout', '-q', '-b', 'docs-b');
    await writeFile(path.join(wd.dir, 'OTHER.md'), 'b\n');
    await wd.commitAndPush('docs b', 'docs-b');
    const a = await stack.openChange('demo', 'docs-a', 'a');
    const b = await stack.openChange('demo', 'docs-b', 'b');
    await stack.waitChecks('demo', a);
    await stack.waitChecks('demo', b);
    expect((await stack.api('POST', `/api/v1/servers/demo/changes/${a}/merge`)).status).toBe(200);
    const mb = await stack.api<{ sha: string }>('POST', `/api/v1/servers/demo/changes/${b}/merge`);
    expect(mb.status).toBe(200);
    await stack.waitReady('demo', mb.body.sha);
    // The merged tree (a + b) is a tree neither change had: it has a suite of its own, and it is green.
    await wd.git('fetch', '-q', 'origin');
    const mergedTree = await wd.git('rev-parse', `${mb.body.sha}^{tree}`);
    const suite = await stack.platform.ctx.checks.suiteForTree(
      (await stack.platform.ctx.db.server.findUniqueOrThrow({ where: { name: 'demo' } })).id,
      mergedTree,
    );
    expect(suite?.conclusion).toBe('success');
    expect(suite?.commitSha).toBe(mb.body.sha);
  });

  it('restarts a killed instance and says so in the history', async () => {
    const route = stack.platform.ctx.routes.get('demo');
    expect(route).toBeDefined();
    const pid = runtimePid(stack, route?.instanceId ?? '');
    process.kill(pid, 'SIGKILL');
    const back = await poll(
      async () => {
        const r = await stack.api<ServerBody>('GET', '/api/v1/servers/demo');
        const now = stack.platform.ctx.routes.get('demo');
        const ready = r.body.conditions.some((c) => c.type === 'Ready' && c.status === 'True');
        return ready && now && now.instanceId !== route?.instanceId ? r.body : undefined;
      },
      30_000,
      'a new instance after the kill',
    );
    expect(
      back.history.some((h) => h.reason === 'InstanceCrashed' && h.message.includes(route?.instanceId ?? '?')),
    ).toBe(true);
    const client = await stack.mcpClient(back.url);
    expect(textOf(await client.callTool({ name: 'add', arguments: { a: 2, b: 3 } }))).toBe('5');
    await client.close();
  });

  it('brings every server back as it was after a restart, with exactly one instance each', async () => {
    const before = (await stack.api<ServerBody>('GET', '/api/v1/servers/demo')).body;
    await stack.stop();
    await stack.boot();
    const after = await stack.waitReady('demo', before.observedRevision ?? undefined);
    expect(after.observedRevision).toBe(before.observedRevision);
    const production = runtimeInstances(stack).filter(
      (i) => i.serverName === 'demo' && !stack.platform.ctx.previews.isPreviewInstance(i.id),
    );
    expect(production).toHaveLength(1);
    expect(production[0]?.id).toBe(stack.platform.ctx.routes.get('demo')?.instanceId);
    const client = await stack.mcpClient(after.url);
    expect(textOf(await client.callTool({ name: 'add', arguments: { a: 20, b: 22 } }))).toBe('42');
    await client.close();
  });
});

function runtimeInstances(stack: TestStack) {
  return stack.platform.runtime.list();
}

function runtimePid(stack: TestStack, instanceId: string): number {
  const instance = runtimeInstances(stack).find((i) => i.id === instanceId);
  if (!instance) throw new Error(`no instance ${instanceId}`);
  return instance.pid;
}

describe('a revert outside the rollback window', () => {
  let stack: TestStack;

  beforeAll(async () => {
    stack = await TestStack.start({ rollbackWindowMs: 0 });
  });
  afterAll(async () => {
    await stack?.destroy();
  });

  it('starts a new instance from the cached bundle of the earlier tree', async () => {
    const first = await stack.createAndDeploy('cold');
    const wd = await stack.clone('cold');
    await wd.git('checkout', '-q', '-b', 'notes');
    await writeFile(path.join(wd.dir, 'NOTES.md'), 'notes\n');
    await wd.commitAndPush('notes', 'notes');
    const n = await stack.openChange('cold', 'notes');
    await stack.waitChecks('cold', n);
    const merged = await stack.api<{ sha: string }>('POST', `/api/v1/servers/cold/changes/${n}/merge`);
    await stack.waitReady('cold', merged.body.sha);
    // The old instance drains and stops: no rollback window keeps it.
    await poll(
      async () =>
        stack.platform.runtime.list().filter((i) => i.serverName === 'cold').length === 1 ? true : undefined,
      15_000,
      'the superseded instance to stop',
    );

    const reverted = await stack.api<{ sha: string }>('POST', '/api/v1/servers/cold/revert', {});
    expect(reverted.status).toBe(201);
    const server = await stack.waitReady('cold', reverted.body.sha);
    expect(server.history[0]?.message).toMatch(/cached bundle/);
    expect(server.history[0]?.instance).not.toBe(first.history[0]?.instance);
    const client = await stack.mcpClient(server.url);
    expect(textOf(await client.callTool({ name: 'add', arguments: { a: 2, b: 3 } }))).toBe('5');
    await client.close();
  });
});
