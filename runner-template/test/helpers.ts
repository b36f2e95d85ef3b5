import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { build } from 'esbuild';

/** The workspace root (whose node_modules rendered repos link to). */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url)).replace(/\/$/, '');
export const NODE = join(ROOT, 'node_modules/.bin/node');
/** TypeScript 7's compiler entry (node_modules/.bin/tsc may be another TypeScript's). */
export const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');

const created: string[] = [];

/** A fresh temp dir, removed by removeTempDirs. */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  created.push(dir);
  return dir;
}

/** Removes every temp dir this test file created. */
export function removeTempDirs(): void {
  for (const dir of created.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** Writes rendered files into a fresh temp dir whose node_modules points at the workspace's. */
export function writeRepo(files: Record<string, string>): string {
  const dir = tempDir('bmms-repo-');
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  return dir;
}

/** Runs tsc -p in a repo (with its tsconfig.json, or `config`); returns exit code and output. */
export async function typecheck(dir: string, config = 'tsconfig.json'): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [TSC, '-p', join(dir, config)], {
      cwd: dir,
    });
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, output: e.stdout + e.stderr };
  }
}

/** Bundles src/server.ts the way the reconciler does; returns the bundle path. */
export async function bundle(dir: string): Promise<string> {
  const outfile = join(dir, 'dist/server.mjs');
  await build({
    absWorkingDir: dir,
    entryPoints: ['src/server.ts'],
    bundle: true,
    platform: 'node',
    format: 'esm',
    outfile,
    logLevel: 'silent',
  });
  return outfile;
}

export interface Instance {
  proc: ChildProcess;
  lines: string[];
  stderr: string[];
  exited: Promise<number | null>;
  /** Resolves with the first log line (parsed) whose msg matches. */
  waitFor(msg: string, timeoutMs?: number): Promise<Record<string, unknown>>;
}

/** Spawns a bundle with the given env (no inherited secrets). */
export function spawnBundle(file: string, env: Record<string, string>): Instance {
  const proc = spawn(NODE, [file], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const stderr: string[] = [];
  const waiters: Array<{ msg: string; resolve(v: Record<string, unknown>): void }> = [];
  let buffer = '';
  proc.stdout?.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    let nl = buffer.indexOf('\n');
    while (nl !== -1) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      lines.push(line);
      const parsed = JSON.parse(line) as Record<string, unknown>;
      for (const w of [...waiters]) {
        if (parsed.msg === w.msg) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(parsed);
        }
      }
      nl = buffer.indexOf('\n');
    }
  });
  proc.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk.toString()));
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  return {
    proc,
    lines,
    stderr,
    exited,
    waitFor(msg, timeoutMs = 10_000) {
      const seen = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === msg);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`no "${msg}" log line; stderr: ${stderr.join('')}`)),
          timeoutMs,
        );
        waiters.push({
          msg,
          resolve: (v) => {
            clearTimeout(timer);
            resolve(v);
          },
        });
      });
    },
  };
}
