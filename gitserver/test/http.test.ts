import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import type { IncomingMessage, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import express from 'express';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createGitHttpHandler, InternalGitProvider, RefConflictError, type RefUpdate } from '../src/index.ts';
import { author, gitCli, gitOk, tempDir } from './helpers.ts';

interface User {
  id: string;
}
const KEYS: Record<string, User> = { MAINTAINER_KEY: { id: 'alice' }, DEV_KEY: { id: 'bob' } };
const ZERO = '0'.repeat(40);

let tmp: string;
let cleanup: () => Promise<void>;
let server: Server;
let base: string;
let provider: InternalGitProvider;
let pushes: { repo: string; updates: RefUpdate[]; user: string }[];
let workN = 0;

async function authenticate(req: IncomingMessage): Promise<User | null> {
  const header = req.headers.authorization ?? '';
  if (!header.startsWith('Basic ')) return null;
  const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
  return KEYS[decoded.slice(decoded.indexOf(':') + 1)] ?? null;
}

beforeAll(async () => {
  ({ dir: tmp, cleanup } = await tempDir());
  const root = path.join(tmp, 'repos');
  provider = new InternalGitProvider({ root });
  await provider.createRepo('demo');
  await provider.createRepo('secret');
  await provider.commitFiles('demo', {
    branch: 'main',
    parent: null,
    files: { 'README.md': '# demo\n', 'src/server.ts': 'export {};\n' },
    message: 'init',
    author,
  });
  const app = express();
  app.use(
    '/git',
    createGitHttpHandler<User>({
      root,
      authenticate,
      authorize: async (user, { repo }) => ({ allowed: repo !== 'secret', canPushMain: user.id === 'alice' }),
      onPush: (repo, updates, user) => {
        pushes.push({ repo, updates, user: user.id });
      },
    }),
  );
  server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/git`;
});
afterAll(async () => {
  server.close();
  await cleanup();
});
beforeEach(() => {
  pushes = [];
});

const url = (key: string | null, repo = 'demo') =>
  `${key ? base.replace('http://', `http://x:${key}@`) : base}/${repo}.git`;

/** Clone demo into a fresh working copy with the given key. */
async function clone(key: string): Promise<string> {
  const dir = path.join(tmp, `work-${++workN}`);
  await gitOk(tmp, ['clone', url(key), dir]);
  return dir;
}

async function commitIn(dir: string, file: string, content: string | Buffer): Promise<string> {
  await writeFile(path.join(dir, file), content);
  await gitOk(tmp, ['add', file], { cwd: dir });
  await gitOk(tmp, ['commit', '-m', `add ${file}`], { cwd: dir });
  return gitOk(tmp, ['rev-parse', 'HEAD'], { cwd: dir });
}

describe('smart HTTP', () => {
  it('clones with the API key in the URL', async () => {
    const dir = await clone('DEV_KEY');
    expect(await gitOk(tmp, ['log', '--format=%s'], { cwd: dir })).toBe('init');
    expect(await gitOk(tmp, ['rev-parse', 'HEAD'], { cwd: dir })).toBe(await provider.resolveRef('demo', 'main'));
  });

  it('reports a pushed branch to onPush with exactly the changed ref', async () => {
    const dir = await clone('DEV_KEY');
    await gitOk(tmp, ['checkout', '-b', 'feature'], { cwd: dir });
    const sha = await commitIn(dir, 'tool.ts', 'export const x = 1;\n');
    await gitOk(tmp, ['push', 'origin', 'feature'], { cwd: dir });
    expect(pushes).toEqual([
      { repo: 'demo', user: 'bob', updates: [{ ref: 'refs/heads/feature', oldSha: ZERO, newSha: sha }] },
    ]);
    expect(await provider.readFile('demo', 'feature', 'tool.ts')).toBe('export const x = 1;\n');
  });

  it('answers 401 with a Basic challenge without credentials, so git fails to push', async () => {
    const res = await fetch(`${base}/demo.git/info/refs?service=git-receive-pack`);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Basic realm="BuildMyMCPServer"');
    const dir = await clone('DEV_KEY');
    const push = await gitCli(tmp, ['push', url(null), 'HEAD:refs/heads/anon'], { cwd: dir });
    expect(push.code).not.toBe(0);
    expect(push.stderr).toMatch(/could not read Username|Authentication failed/);
    expect(pushes).toEqual([]);
  });

  it('answers 404 for an unknown repo and 403 with a visible message when authorize refuses', async () => {
    const auth = { authorization: `Basic ${Buffer.from('x:DEV_KEY').toString('base64')}` };
    const missing = await fetch(`${base}/nope.git/info/refs?service=git-upload-pack`, { headers: auth });
    expect(missing.status).toBe(404);
    const run = await gitCli(tmp, ['ls-remote', url('DEV_KEY', 'secret')]);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain('remote: Access denied: you may not read "secret".');
  });

  it('rejects a push to main by a non-maintainer with the hook message shown by git', async () => {
    const before = await provider.resolveRef('demo', 'main');
    const dir = await clone('DEV_KEY');
    await commitIn(dir, 'direct.txt', 'direct\n');
    const push = await gitCli(tmp, ['push', 'origin', 'main'], { cwd: dir });
    expect(push.code).not.toBe(0);
    expect(push.stderr).toContain('remote: bmms: you may not push to main');
    expect(push.stderr).toContain('pre-receive hook declined');
    expect(await provider.resolveRef('demo', 'main')).toBe(before);
    expect(pushes).toEqual([]);
  });

  it('lets a maintainer fast-forward main but never force-push or delete it', async () => {
    const dir = await clone('MAINTAINER_KEY');
    const before = await gitOk(tmp, ['rev-parse', 'HEAD'], { cwd: dir });
    const sha = await commitIn(dir, 'maintained.txt', 'ok\n');
    await gitOk(tmp, ['push', 'origin', 'main'], { cwd: dir });
    expect(pushes).toEqual([
      { repo: 'demo', user: 'alice', updates: [{ ref: 'refs/heads/main', oldSha: before, newSha: sha }] },
    ]);

    await gitOk(tmp, ['reset', '--hard', before], { cwd: dir });
    await commitIn(dir, 'rewrite.txt', 'rewrite\n');
    const force = await gitCli(tmp, ['push', '--force', 'origin', 'main'], { cwd: dir });
    expect(force.code).not.toBe(0);
    expect(force.stderr).toContain('remote: bmms: refusing non-fast-forward push to main');

    const del = await gitCli(tmp, ['push', 'origin', ':main'], { cwd: dir });
    expect(del.code).not.toBe(0);
    expect(del.stderr).toContain('remote: bmms: refusing to delete main');
    expect(await provider.resolveRef('demo', 'main')).toBe(sha);
    expect(pushes).toHaveLength(1);
  });

  it('speaks protocol v2 when the client asks for it', async () => {
    const run = await gitCli(tmp, ['ls-remote', url('DEV_KEY')], { env: { GIT_TRACE_PACKET: '1' } });
    expect(run.code).toBe(0);
    expect(run.stderr).toMatch(/git< version 2/);
    expect(run.stdout).toContain('refs/heads/main');
  });

  it('accepts a gzip-encoded request body (protocol v2 ls-refs)', async () => {
    const pkt = (line: string) => (line.length + 4).toString(16).padStart(4, '0') + line;
    const body = `${pkt('command=ls-refs\n')}0001${pkt('ref-prefix refs/heads/\n')}0000`;
    const res = await fetch(`${base}/demo.git/git-upload-pack`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from('x:DEV_KEY').toString('base64')}`,
        'content-type': 'application/x-git-upload-pack-request',
        'content-encoding': 'gzip',
        'git-protocol': 'version=2',
      },
      body: gzipSync(body),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/x-git-upload-pack-result');
    expect(await res.text()).toContain(`${await provider.resolveRef('demo', 'main')} refs/heads/main`);
  });

  it('takes a large push (streamed, chunked body) and fetches it back', async () => {
    const dir = await clone('DEV_KEY');
    await gitOk(tmp, ['checkout', '-b', 'big'], { cwd: dir });
    // Push protection refuses single files over 1 MiB and binaries: four 768 KiB text files make 3 MiB.
    const blobs = [1, 2, 3, 4].map(() => randomBytes(384 * 1024).toString('hex'));
    for (const [i, blob] of blobs.entries()) await writeFile(path.join(dir, `big-${i}.txt`), blob);
    await gitOk(tmp, ['add', '.'], { cwd: dir });
    await gitOk(tmp, ['commit', '-m', 'big'], { cwd: dir });
    const head = await gitOk(tmp, ['rev-parse', 'HEAD'], { cwd: dir });
    await gitOk(tmp, ['-c', 'http.postBuffer=65536', 'push', 'origin', 'big'], { cwd: dir });
    expect(pushes[0]?.updates).toEqual([{ ref: 'refs/heads/big', oldSha: ZERO, newSha: head }]);
    const tree = await provider.readTree('demo', 'big');
    for (const [i, blob] of blobs.entries()) expect(Buffer.from(tree[`big-${i}.txt`] ?? []).toString()).toBe(blob);
    const again = await clone('DEV_KEY');
    await gitOk(tmp, ['fetch', 'origin', 'big'], { cwd: again });
    expect(await gitOk(tmp, ['rev-parse', 'FETCH_HEAD'], { cwd: again })).toBe(head);
  });

  it('never lets a provider write and a push overwrite each other', async () => {
    const dir = await clone('DEV_KEY');
    await gitOk(tmp, ['checkout', '-b', 'shared'], { cwd: dir });
    const first = await commitIn(dir, 'one.txt', '1\n');
    await gitOk(tmp, ['push', 'origin', 'shared'], { cwd: dir });
    // The platform writes on top of the pushed head...
    const platform = await provider.commitFiles('demo', {
      branch: 'shared',
      parent: first,
      files: { 'two.txt': '2\n' },
      message: 'platform',
      author,
    });
    // ...so the client's next push (based on `first`) is refused as a non-fast-forward,
    await commitIn(dir, 'three.txt', '3\n');
    const push = await gitCli(tmp, ['push', 'origin', 'shared'], { cwd: dir });
    expect(push.code).not.toBe(0);
    // and a platform write based on a head a push replaced is refused too.
    await gitOk(tmp, ['pull', '--no-rebase', 'origin', 'shared'], { cwd: dir });
    await gitOk(tmp, ['push', 'origin', 'shared'], { cwd: dir });
    await expect(
      provider.commitFiles('demo', { branch: 'shared', parent: platform.sha, files: {}, message: 'stale', author }),
    ).rejects.toBeInstanceOf(RefConflictError);
  });
});
