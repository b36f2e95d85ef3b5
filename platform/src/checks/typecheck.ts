import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdir, rename, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { COMPILER_OPTIONS, VIEW_COMPILER_OPTIONS } from '@bmms/runner-template';
import type { Check, CheckOutcome } from './types.ts';

/** The project's node_modules: the base runtime, zod and the SDK the generated code type-checks against. */
export const PROJECT_NODE_MODULES = path.resolve(import.meta.dirname, '../../../node_modules');

const MAX_SUMMARY_LINES = 30;

export interface TypecheckOptions {
  /** The compiler's JS entry point, run with this Node. */
  tscPath?: string;
  timeoutMs?: number;
  /** Soft memory cap for the (native) compiler process, in MB. */
  memoryMb?: number;
}

/**
 * `typecheck`: tsc (strict, noEmit) over every `src/**` file of the tree against the base runtime's
 * types, then, when the tree has views, over every `ui/**` script with the DOM's types. The options are the rendered
 * repo's (`COMPILER_OPTIONS` and `VIEW_COMPILER_OPTIONS` of `@bmms/runner-template`), written by us and never read
 * from the repo, so a change cannot switch checking off.
 * The tree is at `<workDir>/repo`; the compiler's config and module links are written beside it.
 */
export function typecheckCheck(options: TypecheckOptions = {}): Check {
  const tscPath = options.tscPath ?? path.join(PROJECT_NODE_MODULES, 'typescript', 'bin', 'tsc');
  const timeoutMs = options.timeoutMs ?? 120_000;
  return {
    name: 'typecheck',
    async run({ workDir, signal }): Promise<CheckOutcome> {
      const work = workDir;
      try {
        await symlink(PROJECT_NODE_MODULES, path.join(work, 'node_modules'), 'dir');
        await writeWhole(path.join(work, CONFIG), JSON.stringify(tsconfig(), null, 2));
        const started = Date.now();
        const run = (config: string, ms: number) => runTsc(tscPath, work, config, ms, options.memoryMb ?? 1024, signal);
        let { code, output, timedOut } = await run(CONFIG, timeoutMs);
        if (!timedOut && (await hasViewScripts(path.join(work, 'repo')))) {
          await writeWhole(path.join(work, VIEW_CONFIG), JSON.stringify(viewTsconfig(), null, 2));
          const views = await run(VIEW_CONFIG, Math.max(1_000, timeoutMs - (Date.now() - started)));
          code = code === 0 ? views.code : code;
          output += views.output;
          timedOut = views.timedOut;
        }
        const log = output
          .split(`${work}/`)
          .join('')
          .replace(/^repo\//gm, '');
        if (timedOut) {
          return { conclusion: 'failure', summary: `tsc did not finish within ${timeoutMs / 1000} s`, log };
        }
        const diagnostics = parseDiagnostics(log);
        if (code === 0 && diagnostics.length === 0) {
          return { conclusion: 'success', summary: 'tsc: no type errors', log: log || 'tsc: no type errors\n' };
        }
        const lines = diagnostics.slice(0, MAX_SUMMARY_LINES);
        if (diagnostics.length > lines.length)
          lines.push(`… and ${diagnostics.length - lines.length} more (see the log)`);
        const summary =
          diagnostics.length > 0
            ? `${diagnostics.length} type error(s):\n${lines.join('\n')}`
            : `tsc failed (exit ${code}):\n${log.trim().split('\n').slice(0, MAX_SUMMARY_LINES).join('\n')}`;
        return { conclusion: 'failure', summary, log };
      } finally {
        await rm(path.join(work, 'node_modules'), { force: true });
        await rm(path.join(work, CONFIG), { force: true });
        await rm(path.join(work, VIEW_CONFIG), { force: true });
      }
    },
  };
}

/**
 * Writes a config beside the tree whole or not at all (a rename): the checks that run beside this one bundle the
 * tree with esbuild, which reads a tsconfig.json above it, and must never see one half written.
 */
async function writeWhole(file: string, text: string): Promise<void> {
  const partial = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
  await writeFile(partial, text);
  await rename(partial, file);
}

/** The config every tree is checked with: the rendered repo's options (plus plain output for parsing); the repo's own tsconfig.json is never read. */
export function tsconfig() {
  return {
    compilerOptions: { ...COMPILER_OPTIONS, pretty: false },
    include: ['repo/src/**/*.ts', 'repo/src/**/*.mts', 'repo/src/**/*.cts'],
  };
}

/**
 * The check's config, beside the tree, under a name esbuild never looks for: the checks running beside this one
 * bundle the tree with esbuild, which reads every tsconfig.json above a file, and one removed as this check ended
 * failed their build ("Cannot find tsconfig file ../tsconfig.json").
 */
const CONFIG = 'tsconfig.check.json';

/** The views' config in the check's folder (beside the check's config). */
const VIEW_CONFIG = 'tsconfig.ui.json';

/** The config the views' scripts are checked with: the rendered `ui/tsconfig.json`'s options (the DOM's types). */
export function viewTsconfig() {
  return {
    compilerOptions: { ...VIEW_COMPILER_OPTIONS, pretty: false },
    include: ['repo/ui/**/*.ts', 'repo/ui/**/*.mts', 'repo/ui/**/*.cts'],
  };
}

/** Whether the tree has a script under `ui/` (a view's). */
async function hasViewScripts(repo: string): Promise<boolean> {
  const entries = await readdir(path.join(repo, 'ui'), { recursive: true }).catch(() => [] as string[]);
  return entries.some((e) => /\.[cm]?ts$/.test(e));
}

/** `src/x.ts(3,7): error TS2322: msg` → `src/x.ts:3: TS2322 msg`. */
export function parseDiagnostics(output: string): string[] {
  const out: string[] = [];
  for (const line of output.split('\n')) {
    const m = /^(.+?)\((\d+),(\d+)\): error (TS\d+): (.*)$/.exec(line.trim());
    if (m) out.push(`${m[1]}:${m[2]}: ${m[4]} ${m[5]}`);
    else if (/^error (TS\d+): /.test(line.trim())) out.push(line.trim());
  }
  return out;
}

function runTsc(
  tscPath: string,
  cwd: string,
  config: string,
  timeoutMs: number,
  memoryMb: number,
  signal: AbortSignal,
): Promise<{ code: number | null; output: string; timedOut: boolean }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [tscPath, '-p', config], {
      cwd,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: cwd, GOMEMLIMIT: `${memoryMb}MiB` },
      stdio: ['ignore', 'pipe', 'pipe'],
      signal,
    });
    let output = '';
    let timedOut = false;
    const append = (b: Buffer) => {
      if (output.length < 1_000_000) output += b.toString('utf8');
    };
    child.stdout.on('data', append);
    child.stderr.on('data', append);
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      if (signal.aborted) resolve({ code: null, output: 'cancelled', timedOut: false });
      else reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output, timedOut });
    });
  });
}
