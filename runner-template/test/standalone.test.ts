import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { integrityOf, renderTemplate, VENDORED_RUNTIME_PATH, VENDORED_RUNTIME_SPEC } from '../src/index.ts';
import { packRuntime } from '../src/pack.ts';
import { ROOT } from './helpers.ts';

const run = promisify(execFile);
const dirs: string[] = [];
const children: ChildProcess[] = [];
afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

/** A fresh folder under the OS temp dir: outside the workspace, so nothing resolves from its node_modules. */
async function outside(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  dirs.push(dir);
  expect(dir.startsWith(ROOT)).toBe(false);
  return dir;
}

/** Plain npm with this Node first on PATH; the registry only (from npm's cache when it can). */
function npm(dir: string, args: string[], env: Record<string, string> = {}) {
  return run('npm', args, {
    cwd: dir,
    timeout: 240_000,
    env: {
      ...process.env,
      PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}`,
      npm_config_update_notifier: 'false',
      ...env,
    },
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

/** Files of the packed tarball (`tar -tzf`). */
async function tarList(file: string): Promise<string[]> {
  const { stdout } = await run('tar', ['-tzf', file]);
  return stdout.trim().split('\n').sort();
}

describe('the packed runtime', () => {
  it('is a publishable package exporting only ./runtime and ./view, compiled to JavaScript with declarations', async () => {
    const packed = await packRuntime();
    expect(packed.vendorPath).toBe(VENDORED_RUNTIME_PATH);
    expect(packed.integrity).toBe(integrityOf(packed.bytes));
    const files = await tarList(packed.file);
    expect(files).toContain('package/package.json');
    expect(files).toContain('package/dist/runtime/index.js');
    expect(files).toContain('package/dist/runtime/index.d.ts');
    expect(files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);
    const dir = await outside('bmms-pack-');
    await run('tar', ['-xzf', packed.file, '-C', dir]);
    const manifest = JSON.parse(readFileSync(join(dir, 'package/package.json'), 'utf8')) as Record<string, unknown>;
    expect(manifest.private).toBeUndefined();
    expect(manifest.scripts).toBeUndefined();
    expect(Object.keys(manifest.exports as object)).toEqual(['./runtime', './view', './package.json']);
    expect(files).toContain('package/dist/view/index.js');
    expect(Object.keys(manifest.dependencies as object)).toEqual([
      '@modelcontextprotocol/ext-apps',
      '@modelcontextprotocol/sdk',
      'zod',
    ]);
    const declarations = readFileSync(join(dir, 'package/dist/runtime/index.d.ts'), 'utf8');
    expect(declarations).not.toMatch(/from '\.{1,2}\/[^']+\.ts'/);
  });

  it('packs the same bytes again from scratch (so its integrity is stable), and caches by source hash', async () => {
    const cacheDir = await outside('bmms-pack-cache-');
    const [fresh, cached] = [await packRuntime({ cacheDir }), await packRuntime()];
    expect(fresh.integrity).toBe(cached.integrity);
    expect(fresh.file.startsWith(cacheDir)).toBe(true);
    expect(await readdir(cacheDir)).toHaveLength(1);
  });
});

describe('a rendered repo on its own', () => {
  it('installs with plain npm outside the workspace, type-checks, passes its tests and starts', async () => {
    const dir = await outside('bmms-standalone-');
    const files = renderTemplate('echo', 'echo-standalone');
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), text);
    }
    const packed = await packRuntime();
    mkdirSync(join(dir, 'vendor'));
    writeFileSync(join(dir, VENDORED_RUNTIME_PATH), packed.bytes);
    expect(JSON.parse(files['package.json'] ?? '{}').dependencies['@bmms/runner-template']).toBe(VENDORED_RUNTIME_SPEC);

    await npm(dir, ['install', '--prefer-offline', '--no-audit', '--no-fund']);
    const lock = JSON.parse(readFileSync(join(dir, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { resolved?: string; integrity?: string }>;
    };
    expect(lock.packages['node_modules/@bmms/runner-template']).toMatchObject({
      resolved: VENDORED_RUNTIME_SPEC,
      integrity: packed.integrity,
    });

    await npm(dir, ['run', 'typecheck']);
    const tests = await npm(dir, ['test']);
    expect(`${tests.stdout}${tests.stderr}`).toMatch(/# fail 0|ℹ fail 0/);

    const port = await freePort();
    const child = spawn('npm', ['start', '--silent'], {
      cwd: dir,
      env: { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}`, PORT: String(port) },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    children.push(child);
    try {
      let output = '';
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`npm start did not listen: ${output}`)), 30_000);
        const onData = (chunk: Buffer) => {
          output += chunk.toString();
          if (output.includes('"msg":"listening"')) {
            clearTimeout(timer);
            resolve();
          }
        };
        child.stdout?.on('data', onData);
        child.stderr?.on('data', onData);
      });
      const response = await fetch(`http://127.0.0.1:${port}/mcp`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
      });
      const body = (await response.json()) as { result: { tools: { name: string }[] } };
      expect(body.result.tools.map((t) => t.name).sort()).toEqual(['add', 'echo']);
    } finally {
      if (child.pid) process.kill(-child.pid, 'SIGTERM');
    }
  }, 300_000);
});
