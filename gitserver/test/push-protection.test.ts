import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGitHttpHandler, InternalGitProvider } from '../src/index.ts';
import { author, gitCli, gitOk, tempDir } from './helpers.ts';

// Built at run time so this file itself never holds a token-shaped literal.
const TOKEN = `ghp_${'Zq8Rt2Lm5Vx9Kp3Wn7Yc1Hd4Fg6Jb0Ts2Ea8U'.slice(0, 36)}`;
const MASKED = `ghp_…${TOKEN.slice(-2)}`;

let tmp: string;
let cleanup: () => Promise<void>;
let server: Server;
let base: string;
let provider: InternalGitProvider;
let errors: unknown[];
let workN = 0;

beforeAll(async () => {
  ({ dir: tmp, cleanup } = await tempDir());
  const root = path.join(tmp, 'repos');
  provider = new InternalGitProvider({ root });
  await provider.createRepo('demo');
  await provider.commitFiles('demo', {
    branch: 'main',
    parent: null,
    files: { 'README.md': '# demo\n' },
    message: 'init',
    author,
  });
  errors = [];
  const app = express();
  app.use(
    '/git',
    createGitHttpHandler({
      root,
      authenticate: async () => ({ id: 'alice' }),
      authorize: async () => ({ allowed: true, canPushMain: true }),
      onError: (err) => errors.push(err),
    }),
  );
  server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  base = `http://x:key@127.0.0.1:${(server.address() as AddressInfo).port}/git/demo.git`;
});
afterAll(async () => {
  server.close();
  await cleanup();
});

async function workdir(branch: string): Promise<string> {
  const dir = path.join(tmp, `work-${++workN}`);
  await gitOk(tmp, ['clone', '-q', base, dir]);
  await gitOk(tmp, ['checkout', '-q', '-b', branch], { cwd: dir });
  return dir;
}

async function commit(dir: string, files: Record<string, string | Buffer>, message = 'change'): Promise<void> {
  for (const [file, content] of Object.entries(files)) await writeFile(path.join(dir, file), content);
  await gitOk(tmp, ['add', '-A'], { cwd: dir });
  await gitOk(tmp, ['commit', '-q', '--allow-empty', '-m', message], { cwd: dir });
}

/** Every object of the server's repo, as git itself lists them (loose and packed). */
async function storedObjects(): Promise<string> {
  return gitOk(tmp, [`--git-dir=${provider.gitdir('demo')}`, 'cat-file', '--batch-all-objects', '--batch']);
}

describe('push protection', () => {
  it('refuses a push that adds a GitHub token, shows it masked, and stores none of its objects', async () => {
    const dir = await workdir('leak');
    await commit(dir, { 'config.ts': `export const config = {\n  token: '${TOKEN}',\n};\n` });
    const push = await gitCli(tmp, ['push', 'origin', 'leak'], { cwd: dir });
    expect(push.code).not.toBe(0);
    expect(push.stderr).toContain('remote: bmms: push refused');
    expect(push.stderr).toContain(`remote: bmms:   config.ts:2: GitHub token ${MASKED} [secret-github-token]`);
    expect(push.stderr).toContain("ctx.secret('NAME')");
    expect(push.stderr).toContain('pre-receive hook declined');
    expect(push.stdout + push.stderr).not.toContain(TOKEN);
    expect(await provider.resolveRef('demo', 'leak')).toBeNull();
    expect(await storedObjects()).not.toContain(TOKEN);
    expect(errors).toEqual([]);
  });

  it('checks every new commit, not only the tip: a token added then removed is still refused', async () => {
    const dir = await workdir('history');
    await commit(dir, { '.env': `GITHUB_TOKEN=${TOKEN}\n` }, 'add env');
    await commit(dir, { '.env': 'GITHUB_TOKEN=\n' }, 'oops, remove it');
    const push = await gitCli(tmp, ['push', 'origin', 'history'], { cwd: dir });
    expect(push.code).not.toBe(0);
    expect(push.stderr).toContain(`.env:1: GitHub token ${MASKED} [secret-github-token]`);
    expect(push.stderr).not.toContain(TOKEN);
    expect(await provider.resolveRef('demo', 'history')).toBeNull();
  });

  it('refuses a token in a commit message', async () => {
    const dir = await workdir('message');
    await commit(dir, { 'a.txt': 'a\n' }, `use ${TOKEN} for the API`);
    const push = await gitCli(tmp, ['push', 'origin', 'message'], { cwd: dir });
    expect(push.code).not.toBe(0);
    expect(push.stderr).toMatch(/commit [0-9a-f]{7} message:1: GitHub token ghp_…/);
    expect(push.stderr).not.toContain(TOKEN);
  });

  it('refuses a file over 1 MiB', async () => {
    const dir = await workdir('large');
    await commit(dir, { 'data.json': `${JSON.stringify({ rows: 'a'.repeat(2 * 1024 * 1024) })}\n` });
    const push = await gitCli(tmp, ['push', 'origin', 'large'], { cwd: dir });
    expect(push.code).not.toBe(0);
    expect(push.stderr).toContain('remote: bmms:   data.json: 2.0 MiB, over the 1 MiB limit [push-file-too-large]');
    expect(await provider.resolveRef('demo', 'large')).toBeNull();
  });

  it('refuses binaries: NUL bytes in any file, and known binary types', async () => {
    const dir = await workdir('binary');
    const png = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex');
    await commit(dir, { 'tool.txt': Buffer.from([0x68, 0x69, 0x00, 0x01]), 'logo.png': png });
    const push = await gitCli(tmp, ['push', 'origin', 'binary'], { cwd: dir });
    expect(push.code).not.toBe(0);
    expect(push.stderr).toContain('bmms:   logo.png: binary file type [push-binary]');
    expect(push.stderr).toContain('bmms:   tool.txt: binary content (NUL bytes) [push-binary]');
    expect(await provider.resolveRef('demo', 'binary')).toBeNull();
  });

  it('accepts a clean push, including a maintainer push to main, with main protection still in place', async () => {
    const dir = await workdir('clean');
    await commit(dir, {
      'tool.ts':
        "const apiKey = await ctx.secret('GITHUB_TOKEN');\nconst id = '123e4567-e89b-12d3-a456-426614174000';\n",
    });
    await gitOk(tmp, ['push', '-q', 'origin', 'clean'], { cwd: dir });
    expect(await provider.resolveRef('demo', 'clean')).toBe(await gitOk(tmp, ['rev-parse', 'HEAD'], { cwd: dir }));
    await gitOk(tmp, ['push', '-q', 'origin', 'clean:main'], { cwd: dir });
    const del = await gitCli(tmp, ['push', 'origin', ':main'], { cwd: dir });
    expect(del.stderr).toContain('remote: bmms: refusing to delete main');
  });
});
