import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { symlink, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGitHttpHandler, InternalGitProvider } from '../src/index.ts';
import { CREDENTIAL_SAMPLES } from '../src/testing.ts';
import { author, gitCli, gitOk, tempDir } from './helpers.ts';

// Built at run time so this file itself never holds a token-shaped literal.
const TOKEN = `ghp_${'Zq8Rt2Lm5Vx9Kp3Wn7Yc1Hd4Fg6Jb0Ts2Ea8U'.slice(0, 36)}`;
const MASKED = `ghp_…${TOKEN.slice(-2)}`;

let tmp: string;
let cleanup: () => Promise<void>;
let server: Server;
let base: string;
let limitedBase: string;
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
  // The same repos with small limits, so a test needs no 20 MiB push to reach them.
  await provider.createRepo('small');
  await provider.commitFiles('small', {
    branch: 'main',
    parent: null,
    files: { 'README.md': '# small\n' },
    message: 'init',
    author,
  });
  app.use(
    '/git-limited',
    createGitHttpHandler({
      root,
      authenticate: async () => ({ id: 'alice' }),
      authorize: async () => ({ allowed: true, canPushMain: true }),
      onError: (err) => errors.push(err),
      limits: { maxPushBytes: 200_000, maxRepoBytes: 400_000 },
    }),
  );
  server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  base = `http://x:key@127.0.0.1:${port}/git/demo.git`;
  limitedBase = `http://x:key@127.0.0.1:${port}/git-limited/small.git`;
});
afterAll(async () => {
  server.close();
  await cleanup();
});

async function workdir(branch: string, from = base): Promise<string> {
  const dir = path.join(tmp, `work-${++workN}`);
  await gitOk(tmp, ['clone', '-q', from, dir]);
  await gitOk(tmp, ['checkout', '-q', '-b', branch], { cwd: dir });
  return dir;
}

async function commit(dir: string, files: Record<string, string | Buffer>, message = 'change'): Promise<void> {
  for (const [file, content] of Object.entries(files)) await writeFile(path.join(dir, file), content);
  await gitOk(tmp, ['add', '-A'], { cwd: dir });
  await gitOk(tmp, ['commit', '-q', '--allow-empty', '-m', message], { cwd: dir });
}

/** Every object of the server's repo, as git itself lists them (loose and packed). */
async function storedObjects(repo = 'demo'): Promise<string> {
  return gitOk(tmp, [`--git-dir=${provider.gitdir(repo)}`, 'cat-file', '--batch-all-objects', '--batch']);
}

/** Incompressible text (hex of random bytes, 64 per line): `n` characters that no scanner rule matches. */
function noise(n: number): string {
  const hex = randomBytes(Math.ceil(n / 2)).toString('hex');
  return `${hex.match(/.{1,64}/g)?.join('\n') ?? ''}\n`;
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

  describe('every common credential format in a pushed file is refused, masked', () => {
    let dir: string;
    beforeAll(async () => {
      dir = await workdir('formats');
    });
    it.each(CREDENTIAL_SAMPLES.map((c) => [c.format, c] as const))('%s', async (_, c) => {
      await gitOk(tmp, ['checkout', '-q', '-B', 'formats', 'origin/main'], { cwd: dir });
      await commit(dir, { 'client.ts': `// client\n${c.line}\n` }, 'add client');
      const push = await gitCli(tmp, ['push', 'origin', 'formats'], { cwd: dir });
      expect(push.code).not.toBe(0);
      expect(push.stderr).toMatch(new RegExp(`remote: bmms:   client\\.ts:\\d+: .*\\[${c.rule}\\]`));
      expect(push.stderr).not.toContain(c.value);
      expect(await storedObjects()).not.toContain(c.value);
    });
  });

  it('refuses a credential in an annotated tag message, names the tag, and stores no tag', async () => {
    const dir = await workdir('tagged');
    const secret = CREDENTIAL_SAMPLES.find((c) => c.rule === 'secret-sendgrid-key')?.value as string;
    await gitOk(tmp, ['tag', '-a', 'v1.0.0', '-m', `release\n\nmail key ${secret}`], { cwd: dir });
    const push = await gitCli(tmp, ['push', 'origin', 'v1.0.0'], { cwd: dir });
    expect(push.code).not.toBe(0);
    expect(push.stderr).toContain('remote: bmms:   tag v1.0.0 message:3: SendGrid API key SG.…');
    expect(push.stderr).not.toContain(secret);
    expect(await storedObjects()).not.toContain(secret);
    // A clean annotated tag goes through.
    await gitOk(tmp, ['tag', '-a', 'v1.0.1', '-m', 'release'], { cwd: dir });
    expect((await gitCli(tmp, ['push', 'origin', 'v1.0.1'], { cwd: dir })).code).toBe(0);
  });

  it('refuses refs outside refs/heads and refs/tags, saying which are accepted', async () => {
    const dir = await workdir('refs');
    await commit(dir, { 'note.txt': 'hidden\n' });
    for (const ref of ['refs/notes/commits', 'refs/pull/1/head', 'refs/hidden/x']) {
      const push = await gitCli(tmp, ['push', 'origin', `HEAD:${ref}`], { cwd: dir });
      expect(push.code).not.toBe(0);
      expect(push.stderr).toContain(
        `remote: bmms:   ${ref}: only branches (refs/heads/*) and tags (refs/tags/*) may be pushed [push-ref-refused]`,
      );
    }
    const refs = await gitOk(tmp, [`--git-dir=${provider.gitdir('demo')}`, 'for-each-ref', '--format=%(refname)']);
    expect(refs.split('\n').every((r) => /^refs\/(heads|tags)\//.test(r))).toBe(true);
  });

  it('refuses a symlink and a submodule with a message, instead of dropping them', async () => {
    const dir = await workdir('links');
    await writeFile(path.join(dir, 'target.ts'), 'export {};\n');
    await symlink('../target.ts', path.join(dir, 'linked.ts'));
    const head = await gitOk(tmp, ['rev-parse', 'HEAD'], { cwd: dir });
    await gitOk(tmp, ['update-index', '--add', '--cacheinfo', `160000,${head},vendor/lib`], { cwd: dir });
    await gitOk(tmp, ['add', 'target.ts', 'linked.ts'], { cwd: dir });
    await gitOk(tmp, ['commit', '-q', '-m', 'link and submodule'], { cwd: dir });
    const push = await gitCli(tmp, ['push', 'origin', 'links'], { cwd: dir });
    expect(push.code).not.toBe(0);
    expect(push.stderr).toContain(
      'remote: bmms:   linked.ts: symbolic link: commit the file itself instead [push-symlink]',
    );
    expect(push.stderr).toContain(
      'remote: bmms:   vendor/lib: submodule: vendor the code or add it as a dependency [push-submodule]',
    );
    expect(push.stderr).toContain('symlinks and submodules are not checked out, built or checked');
    expect(await provider.resolveRef('demo', 'links')).toBeNull();
  });

  it('refuses a push over the push limit and keeps none of its objects', async () => {
    const dir = await workdir('big', limitedBase);
    const marker = `marker-${randomBytes(8).toString('hex')}`;
    const before = (await storedObjects('small')).length;
    // ~600 kB of text in files under 1 MiB each: over the 200 kB limit of one push.
    await commit(dir, { 'a.txt': `${marker}\n${noise(300_000)}`, 'b.txt': noise(300_000) });
    const push = await gitCli(tmp, ['push', 'origin', 'big'], { cwd: dir });
    expect(push.code).not.toBe(0);
    expect(push.stderr).toMatch(
      /remote: bmms: {3}\(push\): the push adds [\d.]+ kB, over the 196 kB limit of one push \[push-too-large\]/,
    );
    expect(await storedObjects('small')).not.toContain(marker);
    expect((await storedObjects('small')).length).toBe(before);
  });

  it('refuses a push that would take the repository over its limit, and accepts pushes under it', async () => {
    const dir = await workdir('grow', limitedBase);
    for (const n of [1, 2]) {
      await commit(dir, { [`part${n}.txt`]: noise(250_000) }, `part ${n}`);
      const ok = await gitCli(tmp, ['push', 'origin', 'grow'], { cwd: dir });
      expect(ok.code, ok.stderr).toBe(0);
    }
    await commit(dir, { 'part3.txt': noise(250_000) }, 'part 3');
    const push = await gitCli(tmp, ['push', 'origin', 'grow'], { cwd: dir });
    expect(push.code).not.toBe(0);
    expect(push.stderr).toMatch(/the repository would hold [\d.]+ kB, over its 391 kB limit \[repo-too-large\]/);
    expect(push.stderr).toContain('a server repo holds source code');
  });

  it('cuts off a flood far over the limit before it is stored', async () => {
    const dir = await workdir('flood', limitedBase);
    const before = (await storedObjects('small')).length;
    const files: Record<string, string> = {};
    for (let i = 0; i < 4; i++) files[`f${i}.txt`] = noise(400_000);
    await commit(dir, files);
    const push = await gitCli(tmp, ['push', 'origin', 'flood'], { cwd: dir });
    expect(push.code).not.toBe(0);
    // git's own backstop (receive.maxInputSize at twice the limit) stops reading: the hook never runs.
    expect(push.stderr).toContain('remote: fatal: pack exceeds maximum allowed size');
    expect(await provider.resolveRef('small', 'flood')).toBeNull();
    expect((await storedObjects('small')).length).toBe(before);
  });
});
