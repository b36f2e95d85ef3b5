import { InvalidPathError, InvalidRefError, InvalidRepoNameError } from './errors.ts';

const REPO_NAME = /^[a-z0-9][a-z0-9._-]{0,99}$/;

/** Throw InvalidRepoNameError unless `name` is a safe repo directory name (without `.git`). */
export function assertRepoName(name: string): void {
  if (!REPO_NAME.test(name) || name.endsWith('.git') || name.includes('..')) throw new InvalidRepoNameError(name);
}

/** Throw InvalidRefError unless `branch` is a valid short branch name (git check-ref-format rules). */
export function assertBranchName(branch: string): void {
  const bad =
    branch.length === 0 ||
    branch.length > 200 ||
    branch.startsWith('refs/') ||
    branch.startsWith('-') ||
    branch === '@' ||
    branch === 'HEAD' ||
    branch.includes('..') ||
    branch.includes('@{') ||
    branch.includes('//') ||
    branch.startsWith('/') ||
    branch.endsWith('/') ||
    branch.endsWith('.') ||
    branch.endsWith('.lock') ||
    branch.split('/').some((part) => part.startsWith('.') || part.endsWith('.lock')) ||
    hasControlChar(branch) ||
    /[ ~^:?*[\\]/.test(branch);
  if (bad) throw new InvalidRefError(branch, 'is not a valid branch name');
}

/** Normalize a repo-relative file path or throw InvalidPathError. */
export function normalizePath(path: string): string {
  const parts = path.replace(/^\.\//, '').split('/');
  const bad =
    path.length === 0 ||
    path.startsWith('/') ||
    hasControlChar(path) ||
    path.includes('\\') ||
    parts.some((p) => p === '' || p === '.' || p === '..' || p.toLowerCase() === '.git');
  if (bad) throw new InvalidPathError(path);
  return parts.join('/');
}

/** Whether `s` contains an ASCII control character (never valid in a ref or path). */
export function hasControlChar(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}
