import { execFile } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { InternalGitProvider } from '@bmms/gitserver';

const run = promisify(execFile);

/** One repository in a backup: a git bundle of every ref, or nothing when it has no commits yet. */
export interface BundledRepo {
  name: string;
  /** The branch HEAD points at (restored as is). */
  head: string;
  /** The bundle, relative to the backup dir; absent for a repository without refs. */
  file?: string;
  refs: number;
}

const gitIn = (gitdir: string, ...args: string[]) =>
  run('git', ['--git-dir', gitdir, ...args], {
    maxBuffer: 64 * 1024 * 1024,
    env: { ...process.env, GIT_TERMINAL_PROMPT: '0' },
  });

/** Writes a bundle of every ref of every `<reposRoot>/<name>.git` under `<dir>/repos/`. */
export async function bundleRepos(reposRoot: string, dir: string): Promise<BundledRepo[]> {
  const names = (await readdir(reposRoot).catch(() => [] as string[]))
    .filter((f) => f.endsWith('.git'))
    .map((f) => f.slice(0, -4))
    .sort();
  const repos: BundledRepo[] = [];
  for (const name of names) {
    const gitdir = path.join(reposRoot, `${name}.git`);
    const head = (
      await gitIn(gitdir, 'symbolic-ref', 'HEAD').catch(() => ({ stdout: 'refs/heads/main' }))
    ).stdout.trim();
    const refs = (await gitIn(gitdir, 'for-each-ref', '--format=%(refname)')).stdout.split('\n').filter(Boolean);
    if (refs.length === 0) {
      repos.push({ name, head, refs: 0 });
      continue;
    }
    const file = path.posix.join('repos', `${name}.bundle`);
    await gitIn(gitdir, 'bundle', 'create', '--quiet', path.join(dir, file), '--all');
    repos.push({ name, head, file, refs: refs.length });
  }
  return repos;
}

/** Re-creates each repository as the platform creates them (hooks, config), then fetches its bundle into it. */
export async function restoreRepos(reposRoot: string, dir: string, repos: BundledRepo[]): Promise<void> {
  const provider = new InternalGitProvider({ root: reposRoot });
  for (const repo of repos) {
    await provider.createRepo(repo.name);
    const gitdir = provider.gitdir(repo.name);
    if (repo.file) {
      await gitIn(gitdir, 'fetch', '--quiet', '--no-tags', path.join(dir, repo.file), '+refs/*:refs/*');
    }
    await gitIn(gitdir, 'symbolic-ref', 'HEAD', repo.head);
  }
}
