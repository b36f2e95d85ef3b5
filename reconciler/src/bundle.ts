import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, copyFile, link, mkdir, mkdtemp, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Message } from 'esbuild';
import { BundleError, InvalidTreeShaError, ViewBuildError } from './errors.ts';
import { NODE_PATHS, PLATFORM_RESOLVE_DIR, platformResolution, VENDOR_MODULES } from './resolution.ts';
import { buildViews } from './views.ts';

export { VENDOR_MODULES } from './resolution.ts';

// ESM output cannot `require`; CJS deps bundled into it still call require() for node builtins.
const CJS_BANNER =
  "import { createRequire as __bmmsCreateRequire } from 'node:module';\nconst require = __bmmsCreateRequire(import.meta.url);";

function formatMessage(sourceDir: string, message: Message): string {
  const loc = message.location;
  if (!loc) return message.text;
  const file = loc.file.startsWith('/') ? relative(sourceDir, loc.file) : loc.file;
  return `${file}:${loc.line}: ${message.text}`;
}

function isBuildFailure(err: unknown): err is { errors: Message[] } {
  return typeof err === 'object' && err !== null && Array.isArray((err as { errors?: unknown }).errors);
}

/**
 * The views of the tree's mcp.json (MCP Apps), built into single HTML files and set as the global the runtime
 * reads them from (runner-template/src/runtime/views.ts) before the server's code runs; '' without views.
 */
async function viewsBanner(sourceDir: string): Promise<string> {
  let resources: { uri: string; source: string }[] = [];
  try {
    const manifest = JSON.parse(await readFile(join(sourceDir, 'mcp.json'), 'utf8')) as { resources?: unknown };
    if (Array.isArray(manifest.resources)) resources = manifest.resources as { uri: string; source: string }[];
  } catch {
    return ''; // no or no valid manifest: the runtime refuses to start and says why
  }
  if (resources.length === 0) return '';
  try {
    const built = await buildViews(sourceDir, resources);
    const byUri = Object.fromEntries(built.map((v) => [v.uri, v.html]));
    return `\nglobalThis[Symbol.for('bmms.views')] = ${JSON.stringify(byUri)};`;
  } catch (err) {
    if (err instanceof ViewBuildError) throw new BundleError(err.lines, { cause: err });
    throw err;
  }
}

/**
 * Bundle `<sourceDir>/src/server.ts` into one ESM file for Node 24 at `outFile`: with every dependency,
 * or (`vendored`) importing the shared runtime and zod from `./vendor/` beside it.
 */
export async function buildBundle(opts: { sourceDir: string; outFile: string; vendored?: boolean }): Promise<void> {
  const entry = join(opts.sourceDir, 'src', 'server.ts');
  if (!existsSync(entry)) throw new BundleError(['src/server.ts: entry file not found']);
  const views = await viewsBanner(opts.sourceDir);
  try {
    await build({
      absWorkingDir: opts.sourceDir,
      entryPoints: [entry],
      outfile: opts.outFile,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node24',
      banner: { js: `${CJS_BANNER}${views}` },
      nodePaths: NODE_PATHS,
      plugins: [platformResolution(opts.sourceDir, opts.vendored ?? false)],
      sourcemap: false,
      logLevel: 'silent',
      write: true,
    });
  } catch (err) {
    if (isBuildFailure(err))
      throw new BundleError(
        err.errors.map((m) => formatMessage(opts.sourceDir, m)),
        { cause: err },
      );
    throw err;
  }
}

/**
 * Bundles test files of a tree (repo-relative `entries`) for Node 24 into `outDir`, each at its own path with a
 * `.mjs` extension (shared code split into `_chunks/`), with inline source maps pointing back at the tree. Packages
 * resolve from the platform's node_modules like a server's bundle; no file of the tree is run.
 */
export async function buildTestBundle(opts: { sourceDir: string; entries: string[]; outDir: string }): Promise<void> {
  try {
    await build({
      absWorkingDir: opts.sourceDir,
      entryPoints: opts.entries.map((e) => join(opts.sourceDir, e)),
      outdir: opts.outDir,
      outbase: opts.sourceDir,
      outExtension: { '.js': '.mjs' },
      chunkNames: '_chunks/[name]-[hash]',
      bundle: true,
      splitting: true,
      platform: 'node',
      format: 'esm',
      target: 'node24',
      banner: { js: CJS_BANNER },
      nodePaths: NODE_PATHS,
      plugins: [platformResolution(opts.sourceDir, false)],
      // Mappings only (no copy of the sources): enough for a failing test's file and line, a fraction of the size.
      sourcemap: 'inline',
      sourcesContent: false,
      logLevel: 'silent',
      write: true,
    });
  } catch (err) {
    if (isBuildFailure(err))
      throw new BundleError(
        err.errors.map((m) => formatMessage(opts.sourceDir, m)),
        { cause: err },
      );
    throw err;
  }
}

/** Bundles the vendor modules (code-split, so they share one zod) into `outDir`. */
export async function buildVendor(outDir: string): Promise<void> {
  await build({
    absWorkingDir: PLATFORM_RESOLVE_DIR,
    stdin: undefined,
    entryPoints: Object.entries(VENDOR_MODULES).map(([spec, file]) => ({ in: spec, out: file.replace(/\.mjs$/, '') })),
    outdir: outDir,
    outExtension: { '.js': '.mjs' },
    chunkNames: 'chunk-[hash]',
    bundle: true,
    splitting: true,
    platform: 'node',
    format: 'esm',
    target: 'node24',
    banner: { js: CJS_BANNER },
    nodePaths: NODE_PATHS,
    logLevel: 'silent',
  });
}

/** A key of what the vendor modules are built from: the runtime's sources and the packages' versions. */
async function vendorKey(): Promise<string> {
  const hash = createHash('sha256');
  const runtimeDir = join(dirname(fileURLToPath(import.meta.resolve('@bmms/runner-template/runtime'))));
  for (const f of (await readdir(runtimeDir)).sort()) hash.update(f).update(await readFile(join(runtimeDir, f)));
  for (const pkg of ['zod/package.json', '@modelcontextprotocol/sdk/package.json']) {
    hash.update(await readFile(fileURLToPath(import.meta.resolve(pkg))));
  }
  return hash.digest('hex').slice(0, 16);
}

const TREE_SHA = /^[0-9a-f]{40}([0-9a-f]{24})?$/;

/** Bundles on disk keyed by Git tree SHA: `<dir>/<treeSha>/server.mjs`; same tree, same bundle, built once. */
export class BundleCache {
  readonly dir: string;
  readonly #vendored: boolean;
  readonly #inflight = new Map<string, Promise<{ path: string; cached: boolean; ms: number }>>();
  #vendor: Promise<string> | undefined;

  /** `vendored` (default true): servers share one build of the runtime and zod instead of each bundling it. */
  constructor(opts: { dir: string; vendored?: boolean }) {
    this.dir = opts.dir;
    this.#vendored = opts.vendored ?? true;
  }

  /** The folder of the vendor modules of this platform build, built on first use. */
  #vendorDir(): Promise<string> {
    this.#vendor ??= (async () => {
      const dir = join(this.dir, `.vendor-${await vendorKey()}`);
      if (existsSync(join(dir, 'runtime.mjs'))) return dir;
      const tmp = await mkdtemp(join(this.dir, '.vendor-tmp-'));
      try {
        await buildVendor(tmp);
        await chmod(tmp, 0o755);
        for (const f of await readdir(tmp)) await chmod(join(tmp, f), 0o644);
        await rename(tmp, dir).catch(async (err) => {
          if (!existsSync(join(dir, 'runtime.mjs'))) throw err;
        });
        return dir;
      } finally {
        await rm(tmp, { recursive: true, force: true });
      }
    })();
    this.#vendor.catch(() => {
      this.#vendor = undefined;
    });
    return this.#vendor;
  }

  /** Path the bundle of `treeSha` has (or will have). */
  pathFor(treeSha: string): string {
    if (!TREE_SHA.test(treeSha)) throw new InvalidTreeShaError(treeSha);
    return join(this.dir, treeSha, 'server.mjs');
  }

  /** True when the bundle for `treeSha` is already built. */
  has(treeSha: string): boolean {
    return existsSync(this.pathFor(treeSha));
  }

  /** Return the bundle for `treeSha`, building it from the tree `materialize` writes into a folder if absent. */
  ensure(
    treeSha: string,
    materialize: (dir: string) => Promise<void>,
  ): Promise<{ path: string; cached: boolean; ms: number }> {
    const started = performance.now();
    const path = this.pathFor(treeSha);
    if (existsSync(path)) return Promise.resolve({ path, cached: true, ms: performance.now() - started });
    const running = this.#inflight.get(treeSha);
    if (running) return running;
    const job = this.#build(treeSha, path, materialize, started).finally(() => this.#inflight.delete(treeSha));
    this.#inflight.set(treeSha, job);
    return job;
  }

  async #build(
    treeSha: string,
    path: string,
    materialize: (dir: string) => Promise<void>,
    started: number,
  ): Promise<{ path: string; cached: boolean; ms: number }> {
    await mkdir(this.dir, { recursive: true });
    const tmp = await mkdtemp(join(this.dir, `.tmp-${treeSha.slice(0, 12)}-`));
    try {
      const sourceDir = join(tmp, 'src');
      const outDir = join(tmp, 'out');
      await mkdir(sourceDir);
      const vendor = this.#vendored ? this.#vendorDir() : undefined;
      await materialize(sourceDir);
      await buildBundle({ sourceDir, outFile: join(outDir, 'server.mjs'), vendored: this.#vendored });
      if (vendor) {
        // Each bundle folder is self-contained (the sandbox mounts only it): link the vendor files in.
        const from = await vendor;
        await mkdir(join(outDir, 'vendor'));
        for (const f of await readdir(from)) {
          await link(join(from, f), join(outDir, 'vendor', f)).catch(() =>
            copyFile(join(from, f), join(outDir, 'vendor', f)),
          );
        }
        await chmod(join(outDir, 'vendor'), 0o755);
      }
      // Sandboxed instances run as an unprivileged uid and must read the bundle.
      await chmod(outDir, 0o755);
      await chmod(join(outDir, 'server.mjs'), 0o644);
      try {
        await rename(outDir, dirname(path));
      } catch (err) {
        // Another process finished the same tree first: theirs is as good as ours.
        if (!(await stat(path).catch(() => null))) throw err;
      }
      return { path, cached: false, ms: performance.now() - started };
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  }
}
