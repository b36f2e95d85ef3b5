import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

export const author = { name: 'Test Bot', email: 'bot@example.test' };

/** A fresh temp directory and its cleanup. */
export async function tempDir(prefix = 'bmms-git-'): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run the git CLI as a client would, isolated from the user's and the system's config. */
export function gitCli(home: string, args: string[], options: { cwd?: string; env?: Record<string, string> } = {}) {
  return new Promise<Run>((resolve, reject) => {
    const env = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: home,
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_TERMINAL_PROMPT: '0',
      GIT_ASKPASS: '',
      LANG: 'C',
      ...options.env,
    };
    const fullArgs = ['-c', 'protocol.version=2', '-c', 'user.name=Dev', '-c', 'user.email=dev@example.test', ...args];
    const child = spawn('git', fullArgs, { cwd: options.cwd, env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

/** Like gitCli but fails the test with git's stderr on a non-zero exit. */
export async function gitOk(
  home: string,
  args: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
) {
  const run = await gitCli(home, args, options);
  if (run.code !== 0) throw new Error(`git ${args.join(' ')} failed (${run.code}): ${run.stderr}`);
  return run.stdout.trim();
}
