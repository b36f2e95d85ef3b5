import { access, appendFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { GitProvider } from '@bmms/gitserver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { principalForKey } from '../src/accounts/principal.ts';
import type { PlatformContext } from '../src/context.ts';
import { createServer } from '../src/services/servers.ts';
import { type GitWorkdir, poll, type ServerBody, TestStack } from './harness.ts';

type ErrorBody = { error: { code: string; message: string } };

async function pushFile(wd: GitWorkdir, ref: string, file: string, content: string, message: string): Promise<string> {
  await writeFile(path.join(wd.dir, file), content);
  await wd.git('add', '-A');
  await wd.git('commit', '-qm', message);
  await wd.git('push', '-q', 'origin', `HEAD:${ref}`);
  return wd.git('rev-parse', 'HEAD');
}

describe('bad input gets a clear 4xx and leaves nothing half-created', () => {
  let stack: TestStack;

  beforeAll(async () => {
    stack = await TestStack.start();
    await stack.createAndDeploy('base');
  });
  afterAll(async () => {
    await stack?.destroy();
  });

  it('refuses invalid names, taken names, unknown templates and malformed JSON', async () => {
    for (const name of ['Bad Name!', 'ab', '-abc', 'abc-', '1abc', 'a'.repeat(41), 42]) {
      const r = await stack.api<ErrorBody>('POST', '/api/v1/servers', { name, template: 'echo' });
      expect(r.status, String(name)).toBe(400);
      expect(r.body.error.code).toBe('invalid_name');
    }
    const taken = await stack.api<ErrorBody>('POST', '/api/v1/servers', { name: 'base', template: 'echo' });
    expect(taken.status).toBe(409);
    expect(taken.body.error.code).toBe('name_taken');

    const unknown = await stack.api<ErrorBody>('POST', '/api/v1/servers', { name: 'fresh', template: 'no-such' });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error).toMatchObject({ code: 'unknown_template' });
    expect(unknown.body.error.message).toMatch(/echo/);

    const malformed = await stack.api<ErrorBody>('POST', '/api/v1/servers', '{"name": "x",');
    expect(malformed.status).toBe(400);
    expect(malformed.body.error.code).toBe('invalid_json');

    const notObject = await stack.api<ErrorBody>('POST', '/api/v1/servers', '[1,2]');
    expect(notObject.status).toBe(400);
    expect(notObject.body.error.code).toBe('invalid_request');

    // None of these left a server or a repo behind.
    expect(await stack.platform.ctx.db.server.count()).toBe(1);
    expect(await stack.platform.ctx.git.repoExists('fresh')).toBe(false);
  });

  it('answers 401 without or with a wrong key, with WWW-Authenticate on the MCP endpoint', async () => {
    for (const key of [null, 'bmms_wrong']) {
      const api = await stack.api<ErrorBody>('GET', '/api/v1/servers', undefined, { key });
      expect(api.status).toBe(401);
      expect(api.body.error.code).toBe('unauthorized');
      const mcp = await fetch(`${stack.url}/s/base/mcp`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          ...(key ? { authorization: `Bearer ${key}` } : {}),
        },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
      });
      expect(mcp.status).toBe(401);
      expect(mcp.headers.get('www-authenticate')).toMatch(/^Bearer /);
    }
    const git = await fetch(`${stack.url}/git/base.git/info/refs?service=git-upload-pack`);
    expect(git.status).toBe(401);
  });

  it('answers 404 for unknown servers and changes, and 503 with Retry-After before the first deploy', async () => {
    expect((await stack.api<ErrorBody>('GET', '/api/v1/servers/nope')).status).toBe(404);
    expect((await stack.api<ErrorBody>('GET', '/api/v1/servers/base/changes/99')).status).toBe(404);
    expect((await stack.api<ErrorBody>('GET', '/api/v1/servers/base/changes/abc')).status).toBe(400);
    const mcpUnknown = await stack.api<ErrorBody>('POST', '/s/nope/mcp', { jsonrpc: '2.0', id: 1, method: 'ping' });
    expect(mcpUnknown.status).toBe(404);

    expect((await stack.api('POST', '/api/v1/servers', { name: 'pending', template: 'echo' })).status).toBe(201);
    const early = await stack.api<ErrorBody>('POST', '/s/pending/mcp', { jsonrpc: '2.0', id: 1, method: 'ping' });
    expect(early.status).toBe(503);
    expect(early.body.error.code).toBe('server_unavailable');
    expect(early.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(early.body.error.message).toMatch(/merge/);

    const noBranch = await stack.api<ErrorBody>('POST', '/api/v1/servers/base/changes', {
      branch: 'ghost',
      title: 'g',
    });
    expect(noBranch.status).toBe(400);
    expect(noBranch.body.error.code).toBe('branch_not_found');
    const mainBranch = await stack.api<ErrorBody>('POST', '/api/v1/servers/base/changes', {
      branch: 'main',
      title: 'm',
    });
    expect(mainBranch.status).toBe(400);
  });

  it('refuses to merge a closed change or a conflicting one, and a revert that conflicts', async () => {
    const wd = await stack.clone('base');
    await wd.git('checkout', '-q', '-b', 'one');
    await pushFile(wd, 'one', 'NOTES.md', 'one\n', 'one');
    await wd.git('checkout', '-q', 'main');
    await wd.git('checkout', '-q', '-b', 'two');
    await pushFile(wd, 'two', 'NOTES.md', 'two\n', 'two');
    const one = await stack.api<{ number: number }>('POST', '/api/v1/servers/base/changes', {
      branch: 'one',
      title: 'one',
    });
    const two = await stack.api<{ number: number }>('POST', '/api/v1/servers/base/changes', {
      branch: 'two',
      title: 'two',
    });
    await stack.waitChecks('base', one.body.number);
    await stack.waitChecks('base', two.body.number);
    expect((await stack.api('POST', `/api/v1/servers/base/changes/${one.body.number}/merge`)).status).toBe(200);
    const conflict = await stack.api<ErrorBody & { error: { details: { paths: string[] } } }>(
      'POST',
      `/api/v1/servers/base/changes/${two.body.number}/merge`,
    );
    expect(conflict.status).toBe(409);
    expect(conflict.body.error.code).toBe('merge_conflict');
    expect(conflict.body.error.details.paths).toEqual(['NOTES.md']);
    expect(
      (await stack.api<{ state: string }>('GET', `/api/v1/servers/base/changes/${two.body.number}`)).body.state,
    ).toBe('open');

    const dup = await stack.api<ErrorBody>('POST', '/api/v1/servers/base/changes', { branch: 'two', title: 'again' });
    expect(dup.status).toBe(409);
    expect(dup.body.error.code).toBe('change_exists');

    const previewUrl = `/s/base--pr-${two.body.number}/mcp`;
    // The preview serves once its check completed (it is routed before the check reports).
    await poll(
      async () =>
        (
          await stack.api(
            'POST',
            previewUrl,
            { jsonrpc: '2.0', id: 1, method: 'ping' },
            {
              headers: { accept: 'application/json, text/event-stream' },
            },
          )
        ).status === 200
          ? true
          : undefined,
      10_000,
      `the preview of change #${two.body.number} to serve (routes: ${stack.platform.ctx.routes.servers()})`,
    );
    const previewInstance = stack.platform.ctx.routes.get(`base--pr-${two.body.number}`)?.instanceId;
    expect(previewInstance).toBeDefined();
    expect((await stack.api('POST', `/api/v1/servers/base/changes/${two.body.number}/close`)).status).toBe(200);
    // Closing removes the preview: its route answers 404 and its instance stops.
    const after = await stack.api<ErrorBody>('POST', previewUrl, { jsonrpc: '2.0', id: 1, method: 'ping' });
    expect(after.status).toBe(404);
    await poll(
      async () => (stack.platform.runtime.list().some((i) => i.id === previewInstance) ? undefined : true),
      10_000,
      'the preview instance to stop',
    );
    const closed = await stack.api<ErrorBody>('POST', `/api/v1/servers/base/changes/${two.body.number}/merge`);
    expect(closed.status).toBe(409);
    expect(closed.body.error.code).toBe('change_not_open');

    // Revert a commit that a later commit built on: it conflicts, and main is left as it was.
    const main = await stack.clone('base');
    await appendFile(path.join(main.dir, 'NOTES.md'), 'more\n');
    await main.git('commit', '-qam', 'more notes');
    await main.git('push', '-q', 'origin', 'HEAD:main');
    const head = await main.git('rev-parse', 'HEAD');
    const mergeOne = await main.git('rev-parse', 'HEAD~1');
    const revert = await stack.api<ErrorBody>('POST', '/api/v1/servers/base/revert', { sha: mergeOne });
    expect(revert.status).toBe(409);
    expect(revert.body.error.code).toBe('revert_conflict');
    expect(await stack.platform.ctx.git.resolveRef('base', 'main')).toBe(head);

    const bogus = await stack.api<ErrorBody>('POST', '/api/v1/servers/base/revert', { sha: 'f'.repeat(40) });
    expect(bogus.status).toBe(400);
    expect(bogus.body.error.code).toBe('unknown_revision');
  });

  it('stops serving when main is reverted to before change #1, and serves again when that is undone', async () => {
    const deployed = await stack.createAndDeploy('undo');
    const reverted = await stack.api<{ sha: string }>('POST', '/api/v1/servers/undo/revert', {});
    expect(reverted.status).toBe(201);
    await poll(
      async () => {
        const r = await stack.api<ServerBody>('GET', '/api/v1/servers/undo');
        return r.body.conditions.some((c) => c.type === 'Ready' && c.status === 'False' && c.reason === 'NoManifest')
          ? true
          : undefined;
      },
      30_000,
      'NoManifest',
    );
    const call = await stack.api<ErrorBody>('POST', '/s/undo/mcp', { jsonrpc: '2.0', id: 1, method: 'ping' });
    expect(call.status).toBe(503);
    const again = await stack.api<{ sha: string }>('POST', '/api/v1/servers/undo/revert', {});
    expect(again.status).toBe(201);
    const back = await stack.waitReady('undo', again.body.sha);
    expect(back.url).toBe(deployed.url);
  });

  it('shows a check with its full log, and re-runs it on request', async () => {
    await stack.waitChecks('pending', 1);
    const check = await stack.api<{ name: string; conclusion: string; log: string; durationMs: number }>(
      'GET',
      '/api/v1/servers/pending/changes/1/checks/manifest',
    );
    expect(check.status).toBe(200);
    expect(check.body).toMatchObject({ name: 'manifest', conclusion: 'success' });
    expect(check.body.log).toMatch(/mcp\.json is valid/);
    expect(check.body.durationMs).toBeGreaterThanOrEqual(0);
    expect((await stack.api('GET', '/api/v1/servers/pending/changes/1/checks/nope')).status).toBe(404);

    const rerun = await stack.api<{ checks: { name: string; status: string }[] }>(
      'POST',
      '/api/v1/servers/pending/changes/1/checks/typecheck/rerun',
    );
    expect(rerun.status).toBe(202);
    expect(rerun.body.checks.find((c) => c.name === 'typecheck')?.status).not.toBe('completed');
    const done = await stack.waitChecks('pending', 1);
    expect(done.checks.find((c) => c.name === 'typecheck')?.conclusion).toBe('success');
    expect((await stack.api('POST', '/api/v1/servers/pending/changes/1/checks/nope/rerun')).status).toBe(404);
    const merged = await stack.api<ErrorBody>('POST', '/api/v1/servers/base/changes/1/checks/typecheck/rerun');
    expect(merged.status).toBe(409);
    expect(merged.body.error.code).toBe('change_not_open');
  });

  it('takes a retry request for a server', async () => {
    const r = await stack.api<{ retrying: string }>('POST', '/api/v1/servers/base/retry');
    expect(r.status).toBe(202);
    expect(r.body.retrying).toMatch(/^[0-9a-f]{40}$/);
    expect((await stack.api('POST', '/api/v1/servers/nope/retry')).status).toBe(404);
  });

  it('removes the row and the repo when creating a server fails half-way', async () => {
    const ctx = stack.platform.ctx;
    const principal = await principalForKey(ctx.db, stack.key);
    if (!principal) throw new Error('owner key not found');
    const real = ctx.git;
    const commitFiles: GitProvider['commitFiles'] = async (name, input) => {
      if (input.branch !== 'main') throw new Error('disk full (injected)');
      return real.commitFiles(name, input);
    };
    // The real provider, except that the second commit of a creation fails.
    const failing = new Proxy(real, {
      get: (target, prop) => {
        if (prop === 'commitFiles') return commitFiles;
        const value = Reflect.get(target, prop);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const faulty: PlatformContext = { ...ctx, git: failing };
    await expect(createServer(faulty, principal, { name: 'halfway', template: 'echo' })).rejects.toThrow(/injected/);
    expect(await ctx.db.server.findUnique({ where: { name: 'halfway' } })).toBeNull();
    expect(await real.repoExists('halfway')).toBe(false);
    await expect(access(path.join(stack.dataDir, 'repos', 'halfway.git'))).rejects.toThrow();
    // The name is free again.
    expect((await stack.api('POST', '/api/v1/servers', { name: 'halfway', template: 'echo' })).status).toBe(201);
  });

  it('removes a repo that no server owns when the platform starts', async () => {
    await stack.platform.ctx.git.createRepo('orphan');
    await stack.stop();
    await stack.boot();
    expect(await stack.platform.ctx.git.repoExists('orphan')).toBe(false);
    expect(await stack.platform.ctx.git.repoExists('base')).toBe(true);
  });
});

describe('one data dir, one platform', () => {
  it('refuses a second platform on a data dir in use, and leaves the first one working', async () => {
    const first = await TestStack.start();
    try {
      const { startPlatform } = await import('../src/boot.ts');
      const { silentLogger } = await import('../src/logger.ts');
      await expect(
        startPlatform(
          {
            port: 0,
            host: '127.0.0.1',
            dataDir: first.dataDir,
            databaseUrl: first.db.url,
            publicUrl: undefined,
            runtime: 'process',
            dockerImage: undefined,
            swarmConstraints: [],
            insecureNoSandbox: true,
            resyncMs: 60_000,
            rollbackWindowMs: 0,
            idleMs: 0,
          },
          silentLogger,
        ),
      ).rejects.toThrow(/in use by another BuildMyMCPServer process/);
      expect((await first.api('GET', '/api/v1/servers')).status).toBe(200);
      // After a clean stop the data dir is free again.
      await first.stop();
      await first.boot();
      expect((await first.api('GET', '/api/v1/servers')).status).toBe(200);
    } finally {
      await first.destroy();
    }
  });
});
