import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Message } from 'esbuild';
import { BundleError, InvalidTreeShaError } from './errors.ts';

// ESM output cannot `require`; CJS deps bundled into it still call require() for node builtins.
const CJS_BANNER =
  "import { createRequire as __bmmsCreateRequire } from 'node:module';\nconst require = __bmmsCreateRequire(import.meta.url);";

/** node_modules folders from this package's location upward, as Node would search them (workspace root included). */
function fallbackNodePaths(): string[] {
  const paths: string[] = [];
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, 'node_modules');
    if (existsSync(candidate)) paths.push(candidate);
    const parent = dirname(dir);
    if (parent === dir) return paths;
    dir = parent;
  }
}

const NODE_PATHS = fallbackNodePaths();

function formatMessage(sourceDir: string, message: Message): string {
  const loc = message.location;
  if (!loc) return message.text;
  const file = loc.file.startsWith('/') ? relative(sourceDir, loc.file) : loc.file;
  return `${file}:${loc.line}: ${message.text}`;
}

function isBuildFailure(err: unknown): err is { errors: Message[] } {
  return typeof err === 'object' && err !== null && Array.isArray((err as { errors?: unknown }).errors);
}

/** Bundle `<sourceDir>/src/server.ts` (with every dependency) into one ESM file for Node 24 at `outFile`. */
export async function buildBundle(opts: { sourceDir: string; outFile: string }): Promise<void> {
  const entry = join(opts.sourceDir, 'src', 'server.ts');
  if (!existsSync(entry)) throw new BundleError(['src/server.ts: entry file not found']);
  try {
    await build({
      absWorkingDir: opts.sourceDir,
      entryPoints: [entry],
      outfile: opts.outFile,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node24',
      banner: { js: CJS_BANNER },
      // esbuild looks in the repo's own node_modules first; these are only the fallback.
      nodePaths: NODE_PATHS,
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

const TREE_SHA = /^[0-9a-f]{40}([0-9a-f]{24})?$/;

/** Bundles on disk keyed by Git tree SHA: `<dir>/<treeSha>/server.mjs`; same tree, same bundle, built once. */
export class BundleCache {
  readonly dir: string;
  readonly #inflight = new Map<string, Promise<{ path: string; cached: boolean; ms: number }>>();

  constructor(opts: { dir: string }) {
    this.dir = opts.dir;
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
      await materialize(sourceDir);
      await buildBundle({ sourceDir, outFile: join(outDir, 'server.mjs') });
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
