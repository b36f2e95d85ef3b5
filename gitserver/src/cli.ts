import { spawn } from 'node:child_process';

export interface GitRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Environment for server-side git commands: the host's PATH/HOME only, never inherited GIT_* variables. */
export function gitEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const key of ['PATH', 'HOME', 'LANG', 'TMPDIR']) {
    const value = process.env[key];
    if (value !== undefined) env[key] = value;
  }
  return { ...env, GIT_TERMINAL_PROMPT: '0', ...extra };
}

/** Run `git --git-dir=<gitdir> ...args` and collect its output (never throws on a non-zero exit). */
export function runGit(gitdir: string, args: string[], input?: string): Promise<GitRun> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', [`--git-dir=${gitdir}`, ...args], { env: gitEnv(), stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
    // git may exit before reading its input (e.g. a failed check): its exit code says so, not EPIPE.
    child.stdin.on('error', () => {});
    child.stdin.end(input ?? '');
  });
}
