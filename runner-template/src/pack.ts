/**
 * Packs the base runtime (`@bmms/runner-template/runtime`, and the view bridge `./view`) as a publishable npm
 * package: compiled JavaScript and declarations (Node does not strip types under node_modules), a package.json that
 * exports only those two, and `npm pack`'s deterministic tarball. Packing takes seconds, so the tarball is cached on disk by a hash of
 * everything it is built from; a change to the runtime's sources repacks it.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import ownPackage from '../package.json' with { type: 'json' };
import { integrityOf, VENDORED_RUNTIME_PATH } from './vendor.ts';

const run = promisify(execFile);
const require = createRequire(import.meta.url);
/** The runner-template folder. */
const PACKAGE_DIR = path.resolve(import.meta.dirname, '..');
const SOURCE_DIR = path.join(PACKAGE_DIR, 'src');
const TYPESCRIPT_DIR = path.dirname(require.resolve('typescript/package.json'));
const TSC = path.join(TYPESCRIPT_DIR, 'bin', 'tsc');
const TYPE_ROOTS = path.dirname(path.dirname(require.resolve('@types/node/package.json')));
/** The runtime's own packages, as the published package depends on them. */
const RUNTIME_DEPENDENCIES = ['@modelcontextprotocol/ext-apps', '@modelcontextprotocol/sdk', 'zod'] as const;

/** A packed runtime: the tarball on disk, its bytes and npm's integrity string. */
export interface PackedRuntime {
  /** Absolute path of the cached tarball. */
  file: string;
  /** Its name in a rendered repo (`vendor/…tgz`). */
  vendorPath: string;
  bytes: Uint8Array;
  /** `sha512-<base64>`, as npm writes it into package-lock.json. */
  integrity: string;
}

/** The default cache: node_modules/.cache of the workspace (writable in development and CI), else the temp dir. */
function defaultCacheDir(): string {
  const nodeModules = path.dirname(TYPESCRIPT_DIR);
  return path.join(existsSync(nodeModules) ? nodeModules : tmpdir(), '.cache', 'bmms-runner-template');
}

/** A hash of what the tarball is built from: the sources, this package's manifest and the compiler's version. */
async function sourceKey(): Promise<string> {
  const hash = createHash('sha256');
  const entries = await readdir(SOURCE_DIR, { recursive: true, withFileTypes: true });
  const files = entries
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => path.relative(SOURCE_DIR, path.join(e.parentPath, e.name)))
    .sort();
  for (const file of files)
    hash
      .update(`${file}\0`)
      .update(await readFile(path.join(SOURCE_DIR, file)))
      .update('\0');
  hash.update(await readFile(path.join(PACKAGE_DIR, 'package.json')));
  hash.update(await readFile(path.join(TYPESCRIPT_DIR, 'package.json')));
  return hash.digest('hex').slice(0, 24);
}

/** The package.json of the published runtime. */
function publishedManifest(): Record<string, unknown> {
  const dependencies: Record<string, string> = {};
  for (const name of RUNTIME_DEPENDENCIES) dependencies[name] = ownPackage.dependencies[name];
  return {
    name: ownPackage.name,
    version: ownPackage.version,
    description:
      'The base runtime of BuildMyMCPServer servers: Streamable HTTP, token checks, egress-guarded ctx.fetch, ctx.secret, logs.',
    type: 'module',
    engines: { node: '>=24' },
    exports: {
      './runtime': { types: './dist/runtime/index.d.ts', default: './dist/runtime/index.js' },
      './view': { types: './dist/view/index.d.ts', default: './dist/view/index.js' },
      './package.json': './package.json',
    },
    files: ['dist'],
    dependencies,
  };
}

/** Compiles the runtime's entry (and what it imports) into `<stage>/dist`: JavaScript and declarations. */
async function compile(stage: string): Promise<void> {
  const config = {
    compilerOptions: {
      target: 'es2024',
      // The view bridge (`./view`) runs in a browser; the runtime, in Node.
      lib: ['es2024', 'dom'],
      module: 'nodenext',
      moduleResolution: 'nodenext',
      strict: true,
      declaration: true,
      rewriteRelativeImportExtensions: true,
      resolveJsonModule: true,
      verbatimModuleSyntax: true,
      skipLibCheck: true,
      types: ['node'],
      typeRoots: [TYPE_ROOTS],
      rootDir: SOURCE_DIR,
      outDir: path.join(stage, 'dist'),
      newLine: 'lf',
    },
    files: [path.join(SOURCE_DIR, 'runtime', 'index.ts'), path.join(SOURCE_DIR, 'view', 'index.ts')],
  };
  const configFile = path.join(stage, 'tsconfig.build.json');
  await writeFile(configFile, JSON.stringify(config));
  try {
    await run(process.execPath, [TSC, '-p', configFile], { timeout: 120_000 });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`packing the runtime: tsc failed\n${e.stdout ?? ''}${e.stderr ?? e.message}`);
  } finally {
    await rm(configFile, { force: true });
  }
  // Declarations keep the sources' `.ts` specifiers; the published files are `.js` / `.d.ts`.
  const dist = path.join(stage, 'dist');
  for (const entry of await readdir(dist, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.d.ts')) continue;
    const file = path.join(entry.parentPath, entry.name);
    const text = await readFile(file, 'utf8');
    await writeFile(file, text.replace(/(from\s+|import\()(['"])(\.{1,2}\/[^'"]+)\.ts\2/g, '$1$2$3.js$2'));
  }
}

/** Builds and packs the runtime into `outDir`; returns the tarball's path. */
async function packInto(outDir: string): Promise<string> {
  const stage = await mkdtemp(path.join(outDir, 'stage-'));
  try {
    await compile(stage);
    await writeFile(path.join(stage, 'package.json'), `${JSON.stringify(publishedManifest(), null, 2)}\n`);
    await writeFile(
      path.join(stage, 'README.md'),
      `# ${ownPackage.name}\n\nThe base runtime every BuildMyMCPServer server imports (\`${ownPackage.name}/runtime\`): ` +
        '`startServer`, `defineTool`, the egress-guarded `ctx.fetch` and `ctx.secret`. Requires Node 24.\n',
    );
    const { stdout } = await run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', outDir], {
      cwd: stage,
      timeout: 120_000,
      env: { ...process.env, npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false' },
    });
    const [packed] = JSON.parse(stdout) as { filename: string }[];
    if (!packed) throw new Error('packing the runtime: npm pack printed no file');
    return path.join(outDir, packed.filename);
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
}

const packs = new Map<string, Promise<PackedRuntime>>();

/**
 * The packed runtime of these sources: from the cache (`cacheDir`, default node_modules/.cache) when its key
 * matches, else built, packed and cached (atomically, so parallel packers never see half a tarball).
 */
export function packRuntime(options: { cacheDir?: string } = {}): Promise<PackedRuntime> {
  const cacheDir = options.cacheDir ?? defaultCacheDir();
  let pending = packs.get(cacheDir);
  if (!pending) {
    pending = packCached(cacheDir);
    packs.set(cacheDir, pending);
    pending.catch(() => packs.delete(cacheDir));
  }
  return pending;
}

async function packCached(cacheDir: string): Promise<PackedRuntime> {
  const key = await sourceKey();
  const name = path.basename(VENDORED_RUNTIME_PATH);
  const dir = path.join(cacheDir, key);
  const file = path.join(dir, name);
  if (!existsSync(file)) {
    await mkdir(cacheDir, { recursive: true });
    const tmp = await mkdtemp(path.join(cacheDir, `.tmp-${key}-`));
    try {
      const packed = await packInto(tmp);
      if (path.basename(packed) !== name) throw new Error(`packing the runtime: npm wrote ${packed}, not ${name}`);
      await rename(tmp, dir).catch((err: unknown) => {
        if (!existsSync(file)) throw err;
      });
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  }
  const bytes = new Uint8Array(await readFile(file));
  return { file, vendorPath: VENDORED_RUNTIME_PATH, bytes, integrity: integrityOf(bytes) };
}
