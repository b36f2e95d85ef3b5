import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { ownedTempDir, sweepOwnedTempDirs } from '@bmms/reconciler';
import { build, type Plugin } from 'esbuild';

const packageJson = createRequire(import.meta.url).resolve('@modelcontextprotocol/conformance/package.json');
/** The official conformance runner's CLI entry. */
export const CLI_ENTRY = path.join(path.dirname(packageJson), 'dist', 'index.js');

/** The conformance package's version. */
export async function cliVersion(): Promise<string> {
  return (JSON.parse(await readFile(packageJson, 'utf8')) as { version: string }).version;
}

/** The entry's last statement, which runs the CLI on process.argv: `<program>.parse();export{};`. */
const RUNS_ITSELF = /([A-Za-z_$][\w$]*)\.parse\(\);\s*export\s*\{\s*\};?\s*$/;

/**
 * Exports the CLI's program instead of running it, so that one process runs several of its commands (runner.ts);
 * nothing else of the CLI changes.
 */
const exportProgram: Plugin = {
  name: 'conformance-program',
  setup(b) {
    b.onLoad({ filter: /.*/ }, async (args) => {
      if (args.path !== CLI_ENTRY) return undefined;
      const source = await readFile(args.path, 'utf8');
      if (!RUNS_ITSELF.test(source)) {
        throw new Error(`${CLI_ENTRY} no longer ends by parsing its program: the conformance runner cannot drive it`);
      }
      // The call may end a comma expression: the program stays in its place, unparsed.
      return { contents: source.replace(RUNS_ITSELF, '$1;export const program = $1;'), loader: 'js' };
    });
  },
};

/** Where the bundle is, and a folder for Node's compile cache of it. */
export interface CliBundle {
  file: string;
  compileCache: string;
}

/** The bundle's folder under the system's temporary folder: `<prefix>XXXXXX`, one per platform process. */
export const BUNDLE_DIR_PREFIX = 'bmms-conformance-';

let built: Promise<CliBundle> | undefined;

/**
 * The conformance CLI and everything it imports as one ES module, exporting its program: loading it takes about half
 * the time of loading the CLI's ≈ 600 files one by one, and its compiled code is cached (Node's compile cache, keyed
 * by its path). Built once per process into a private temporary folder (≈ 2.5 MB), removed when the process exits
 * or, when it was killed, by the next process that builds the bundle.
 */
export function cliBundle(): Promise<CliBundle> {
  built ??= make().catch((err: unknown) => {
    built = undefined;
    throw err;
  });
  return built;
}

async function make(): Promise<CliBundle> {
  const result = await build({
    entryPoints: [CLI_ENTRY],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node22',
    minify: true,
    write: false,
    logLevel: 'silent',
    // Its CommonJS dependencies (express, undici…) call require: the module gets one of its own.
    banner: {
      js: "import { createRequire as __bmmsRequire } from 'node:module'; const require = __bmmsRequire(import.meta.url);",
    },
    plugins: [exportProgram],
  });
  // A platform process that was killed left its folder: it goes now (the folders of live processes stay).
  await sweepOwnedTempDirs(os.tmpdir(), BUNDLE_DIR_PREFIX);
  const dir = await ownedTempDir(BUNDLE_DIR_PREFIX);
  const file = path.join(dir, 'cli.mjs');
  await writeFile(file, (result.outputFiles[0] as { text: string }).text, { mode: 0o600 });
  const compileCache = path.join(dir, 'compile-cache');
  await mkdir(compileCache, { mode: 0o700 });
  return { file, compileCache };
}
