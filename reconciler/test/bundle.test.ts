import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BundleCache, BundleError, buildBundle, InvalidTreeShaError } from '../src/index.ts';
import { FIXTURE_DIR, materializeFixture, NODE_BIN } from '../src/testing.ts';

const TREE_A = 'a'.repeat(40);
const TREE_B = 'b'.repeat(40);
let tmp: string;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'bmms-bundle-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('buildBundle', () => {
  it('bundles the SDK and zod into one ESM file that runs with no node_modules around it', async () => {
    const outFile = join(tmp, 'alone', 'server.mjs');
    await buildBundle({ sourceDir: FIXTURE_DIR, outFile });
    const code = await readFile(outFile, 'utf8');
    expect(code).toContain('createRequire');
    // Without BMMS_SOCKET the fixture throws its own error: proof that every import resolved from the bundle.
    const run = spawnSync(NODE_BIN, [outFile], { cwd: tmp, env: {}, encoding: 'utf8' });
    expect(run.stderr).toContain('BMMS_SOCKET is not set');
    expect(run.stderr).not.toContain('ERR_MODULE_NOT_FOUND');
  });

  it('reports a syntax error as file:line: message', async () => {
    const sourceDir = join(tmp, 'broken');
    await mkdir(join(sourceDir, 'src'), { recursive: true });
    await writeFile(join(sourceDir, 'src', 'server.ts'), "import './tools/hello.ts';\n");
    await mkdir(join(sourceDir, 'src', 'tools'));
    await writeFile(join(sourceDir, 'src', 'tools', 'hello.ts'), 'export const a = 1;\nconst = 2;\n');
    const err = await buildBundle({ sourceDir, outFile: join(tmp, 'broken-out', 'server.mjs') }).catch((e) => e);
    expect(err).toBeInstanceOf(BundleError);
    expect(err.code).toBe('bundle_failed');
    expect(err.lines).toEqual([expect.stringMatching(/^src\/tools\/hello\.ts:2: Expected identifier/)]);
  });

  it('names a missing import in the error', async () => {
    const sourceDir = join(tmp, 'missing-dep');
    await mkdir(join(sourceDir, 'src'), { recursive: true });
    await writeFile(join(sourceDir, 'src', 'server.ts'), "import 'left-pad-not-installed';\n");
    const err = await buildBundle({ sourceDir, outFile: join(tmp, 'missing-out', 'server.mjs') }).catch((e) => e);
    expect(err).toBeInstanceOf(BundleError);
    expect(err.lines[0]).toMatch(/^src\/server\.ts:1: Could not resolve "left-pad-not-installed"/);
  });
});

describe('BundleCache', () => {
  it('builds a tree once, then serves it from disk', async () => {
    const cache = new BundleCache({ dir: join(tmp, 'cache') });
    expect(cache.has(TREE_A)).toBe(false);
    const first = await cache.ensure(TREE_A, materializeFixture);
    expect(first).toMatchObject({ path: join(tmp, 'cache', TREE_A, 'server.mjs'), cached: false });
    expect(existsSync(first.path)).toBe(true);
    expect(cache.has(TREE_A)).toBe(true);

    let materialized = 0;
    const second = await cache.ensure(TREE_A, async (dir) => {
      materialized++;
      await materializeFixture(dir);
    });
    expect(second).toMatchObject({ path: first.path, cached: true });
    expect(materialized).toBe(0);
    console.log(`bundle build ${first.ms.toFixed(0)} ms, cached lookup ${second.ms.toFixed(2)} ms`);
  });

  it('builds once when the same tree is asked for concurrently', async () => {
    const cache = new BundleCache({ dir: join(tmp, 'cache') });
    let materialized = 0;
    const materialize = async (dir: string): Promise<void> => {
      materialized++;
      await materializeFixture(dir);
    };
    const results = await Promise.all([1, 2, 3, 4].map(() => cache.ensure(TREE_B, materialize)));
    expect(materialized).toBe(1);
    expect(new Set(results.map((r) => r.path)).size).toBe(1);
    expect(results.filter((r) => !r.cached)).toHaveLength(4); // all four waited on the one build
  });

  it('leaves no half-built bundle behind when the build fails, and can retry', async () => {
    const cache = new BundleCache({ dir: join(tmp, 'cache-fail') });
    const tree = 'c'.repeat(40);
    const broken = async (dir: string): Promise<void> => {
      await mkdir(join(dir, 'src'));
      await writeFile(join(dir, 'src', 'server.ts'), 'export const = ;\n');
    };
    await expect(cache.ensure(tree, broken)).rejects.toBeInstanceOf(BundleError);
    expect(cache.has(tree)).toBe(false);
    const ok = await cache.ensure(tree, materializeFixture);
    expect(ok.cached).toBe(false);
    expect(cache.has(tree)).toBe(true);
  });

  it('refuses a tree SHA that could escape the cache folder', async () => {
    const cache = new BundleCache({ dir: join(tmp, 'cache') });
    expect(() => cache.ensure('../../etc', materializeFixture)).toThrow(InvalidTreeShaError);
  });
});

describe('vendored bundles of a rendered server', () => {
  it('share one build of the runtime and zod, and never bundle a node_modules folder the repo commits', async () => {
    const { renderTemplate } = await import('@bmms/runner-template');
    const cache = new BundleCache({ dir: join(tmp, 'vendored') });
    const tree = 'c'.repeat(40);
    const built = await cache.ensure(tree, async (dir) => {
      for (const [file, text] of Object.entries(renderTemplate('echo', 'echo-server'))) {
        await mkdir(join(dir, file, '..'), { recursive: true });
        await writeFile(join(dir, file), text);
      }
      // A hostile repo ships its own "zod": the checks never read node_modules, so it must never run.
      await mkdir(join(dir, 'node_modules', 'zod'), { recursive: true });
      await writeFile(join(dir, 'node_modules', 'zod', 'package.json'), '{"name":"zod","main":"index.js"}');
      await writeFile(join(dir, 'node_modules', 'zod', 'index.js'), 'throw new Error("HOSTILE ZOD RAN");\n');
    });
    const code = await readFile(built.path, 'utf8');
    expect(code).not.toContain('HOSTILE ZOD RAN');
    expect(code).toContain('./vendor/runtime.mjs');
    expect(code.length).toBeLessThan(20_000);
    const vendorDir = join(built.path, '..', 'vendor');
    expect(existsSync(join(vendorDir, 'runtime.mjs'))).toBe(true);
    expect(existsSync(join(vendorDir, 'zod.mjs'))).toBe(true);
    // Without BMMS_SOCKET and PORT the runtime listens on the default port; a syntax check is enough here.
    const check = spawnSync(NODE_BIN, ['--check', built.path], { encoding: 'utf8' });
    expect(check.status).toBe(0);

    // A second tree reuses the same vendor build.
    const other = await cache.ensure('d'.repeat(40), async (dir) => {
      for (const [file, text] of Object.entries(renderTemplate('echo', 'other-server'))) {
        await mkdir(join(dir, file, '..'), { recursive: true });
        await writeFile(join(dir, file), text);
      }
    });
    expect(other.cached).toBe(false);
    const { statSync } = await import('node:fs');
    expect(statSync(join(other.path, '..', 'vendor', 'runtime.mjs')).ino).toBe(
      statSync(join(vendorDir, 'runtime.mjs')).ino,
    );
  });
});
