import { spawn } from 'node:child_process';
import { readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  InternalGitProvider,
  InvalidRefError,
  InvalidRepoNameError,
  MergeConflictError,
  RefConflictError,
  RepoExistsError,
  RepoNotFoundError,
  RevertConflictError,
  UnsupportedTreeEntryError,
} from '../src/index.ts';
import { author, gitOk, tempDir } from './helpers.ts';

const text = (bytes: Uint8Array | undefined) => (bytes ? Buffer.from(bytes).toString('utf8') : undefined);

let root: string;
let cleanup: () => Promise<void>;
let git: InternalGitProvider;

beforeEach(async () => {
  ({ dir: root, cleanup } = await tempDir());
  git = new InternalGitProvider({ root: path.join(root, 'repos') });
  await git.createRepo('demo');
});
afterEach(() => cleanup());

/** git CLI against the bare repo, to check what we wrote with a second implementation. */
const cli = (...args: string[]) => gitOk(root, [`--git-dir=${git.gitdir('demo')}`, ...args]);

async function commit(branch: string, parent: string | null, files: Record<string, string>, deletions?: string[]) {
  return git.commitFiles('demo', { branch, parent, files, deletions, message: `edit ${branch}`, author });
}

describe('repos', () => {
  it('creates an empty bare repo on main with our hooks, and refuses duplicates and bad names', async () => {
    expect(await git.repoExists('demo')).toBe(true);
    expect((await readFile(path.join(git.gitdir('demo'), 'HEAD'), 'utf8')).trim()).toBe('ref: refs/heads/main');
    expect(await cli('config', 'core.hooksPath')).toBe(git.hooksDir);
    expect(await cli('config', 'http.receivepack')).toBe('true');
    expect(await git.listBranches('demo')).toEqual({});
    await expect(git.createRepo('demo')).rejects.toBeInstanceOf(RepoExistsError);
    await expect(git.createRepo('../evil')).rejects.toBeInstanceOf(InvalidRepoNameError);
    await git.deleteRepo('demo');
    expect(await git.repoExists('demo')).toBe(false);
    await expect(git.listBranches('demo')).rejects.toBeInstanceOf(RepoNotFoundError);
  });
});

describe('commit and read', () => {
  it('writes commits that git itself reads back, and reads files, trees and checkouts', async () => {
    const first = await commit('main', null, { 'README.md': '# demo\n', 'src/server.ts': 'export {};\n' });
    const second = await commit('main', first.sha, { 'src/tools/echo.ts': 'echo\n', 'mcp.json': '{}\n' }, [
      'README.md',
    ]);

    expect(await cli('rev-parse', 'refs/heads/main')).toBe(second.sha);
    expect(await cli('rev-parse', `${second.sha}^`)).toBe(first.sha);
    expect(await cli('rev-parse', `${second.sha}^{tree}`)).toBe(second.tree);
    expect((await cli('ls-tree', '-r', '--name-only', second.sha)).split('\n')).toEqual([
      'mcp.json',
      'src/server.ts',
      'src/tools/echo.ts',
    ]);
    await cli('fsck', '--strict');

    expect(await git.readFile('demo', 'main', 'src/tools/echo.ts')).toBe('echo\n');
    expect(await git.readFile('demo', 'main', 'README.md')).toBeNull();
    expect(await git.readFile('demo', first.sha, 'README.md')).toBe('# demo\n');
    const tree = await git.readTree('demo', 'refs/heads/main');
    expect(Object.keys(tree).sort()).toEqual(['mcp.json', 'src/server.ts', 'src/tools/echo.ts']);
    expect(text(tree['src/server.ts'])).toBe('export {};\n');
    expect(await git.treeOf('demo', second.sha)).toBe(second.tree);
    expect(await git.resolveRef('demo', second.sha.slice(0, 8))).toBe(second.sha);
    expect(await git.resolveRef('demo', 'nope')).toBeNull();
    expect(await git.listBranches('demo')).toEqual({ main: second.sha });

    const out = path.join(root, 'checkout');
    await git.checkout('demo', first.sha, out);
    expect(await readFile(path.join(out, 'src/server.ts'), 'utf8')).toBe('export {};\n');
    await expect(stat(path.join(out, 'mcp.json'))).rejects.toThrow();
  });

  it('replaces the whole tree on request, creates branches from a parent, and deletes them', async () => {
    const base = await commit('main', null, { 'a.txt': 'a\n', 'dir/b.txt': 'b\n' });
    const replaced = await git.commitFiles('demo', {
      branch: 'rewrite',
      parent: base.sha,
      files: { 'c.txt': 'c\n' },
      replaceTree: true,
      message: 'rewrite',
      author,
    });
    expect(Object.keys(await git.readTree('demo', replaced.sha))).toEqual(['c.txt']);
    expect(await git.isAncestor('demo', base.sha, 'rewrite')).toBe(true);
    expect(await git.isAncestor('demo', 'rewrite', 'main')).toBe(false);
    await git.deleteBranch('demo', 'rewrite');
    expect(Object.keys(await git.listBranches('demo'))).toEqual(['main']);
    await expect(commit('bad..name', base.sha, {})).rejects.toBeInstanceOf(InvalidRefError);
  });
});

describe('history', () => {
  it('lists the commits of a branch that its base does not have, newest first, including merged ones', async () => {
    const base = await commit('main', null, { 'a.txt': 'a\n' });
    const one = await commit('feature', base.sha, { 'b.txt': 'b\n' });
    const two = await commit('feature', one.sha, { 'c.txt': 'c\n' });
    expect(await git.commitsBetween('demo', base.sha, two.sha)).toEqual([two.sha, one.sha]);
    expect(await git.commitsBetween('demo', 'main', 'feature')).toEqual([two.sha, one.sha]);
    expect(await git.commitsBetween('demo', null, two.sha)).toEqual([two.sha, one.sha, base.sha]);
    expect(await git.commitsBetween('demo', two.sha, base.sha)).toEqual([]);
    await expect(git.commitsBetween('demo', base.sha, 'nope')).rejects.toBeInstanceOf(InvalidRefError);
  });

  it('tells the parents of a commit, first parent first', async () => {
    const base = await commit('main', null, { 'a.txt': 'a\n' });
    const side = await commit('side', base.sha, { 'b.txt': 'b\n' });
    const next = await commit('main', base.sha, { 'c.txt': 'c\n' });
    const merged = await git.merge('demo', {
      into: 'main',
      from: 'side',
      message: 'merge',
      author: { name: 't', email: 't@example.com' },
    });
    expect(await git.parentsOf('demo', base.sha)).toEqual([]);
    expect(await git.parentsOf('demo', next.sha)).toEqual([base.sha]);
    expect(await git.parentsOf('demo', merged.sha)).toEqual([next.sha, side.sha]);
    expect(await git.parentsOf('demo', 'main')).toEqual([next.sha, side.sha]);
  });
});

describe('merge', () => {
  it('fast-forwards main when it has not moved', async () => {
    const base = await commit('main', null, { 'a.txt': 'a\n' });
    const feature = await commit('feature', base.sha, { 'b.txt': 'b\n' });
    const result = await git.merge('demo', { into: 'main', from: 'feature', message: 'merge', author });
    expect(result).toEqual({ sha: feature.sha, tree: feature.tree, fastForward: true, upToDate: false });
    expect(await git.resolveRef('demo', 'main')).toBe(feature.sha);
    const again = await git.merge('demo', { from: feature.sha, message: 'merge', author });
    expect(again.upToDate).toBe(true);
  });

  it('writes a merge commit with both parents when main moved', async () => {
    const base = await commit('main', null, { 'a.txt': '1\n2\n3\n', 'b.txt': 'b\n' });
    const feature = await commit('feature', base.sha, { 'a.txt': '1\n2\nthree\n' });
    const main = await commit('main', base.sha, { 'a.txt': 'one\n2\n3\n', 'c.txt': 'c\n' });
    const result = await git.merge('demo', { from: 'feature', message: 'Merge feature', author });
    expect(result.fastForward).toBe(false);
    expect((await cli('rev-list', '--parents', '-n1', result.sha)).split(' ')).toEqual([
      result.sha,
      main.sha,
      feature.sha,
    ]);
    expect(await git.readFile('demo', 'main', 'a.txt')).toBe('one\n2\nthree\n');
    expect(await git.readFile('demo', 'main', 'c.txt')).toBe('c\n');
    await cli('fsck', '--strict');
  });

  it('reports conflicting paths and leaves main untouched', async () => {
    const base = await commit('main', null, { 'a.txt': 'a\n', 'keep.txt': 'k\n' });
    await commit('feature', base.sha, { 'a.txt': 'feature\n', 'new.ts': 'feature\n' });
    const main = await commit('main', base.sha, { 'a.txt': 'main\n', 'new.ts': 'main\n' });
    const err = await git.merge('demo', { from: 'feature', message: 'm', author }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MergeConflictError);
    expect((err as MergeConflictError).paths).toEqual(['a.txt', 'new.ts']);
    expect((err as MergeConflictError).code).toBe('merge_conflict');
    expect(await git.resolveRef('demo', 'main')).toBe(main.sha);
  });
});

describe('revert', () => {
  it('reverting the head gives exactly the parent tree, also for a merge commit', async () => {
    const base = await commit('main', null, { 'a.txt': 'a\n' });
    const head = await commit('main', base.sha, { 'b.txt': 'b\n' }, ['a.txt']);
    const reverted = await git.revert('demo', { author });
    expect(reverted.tree).toBe(base.tree);
    expect(await cli('rev-parse', `${reverted.sha}^`)).toBe(head.sha);
    expect(await cli('log', '-1', '--format=%s', reverted.sha)).toBe('Revert "edit main"');

    await commit('feature', reverted.sha, { 'f.txt': 'f\n' });
    const main = await commit('main', reverted.sha, { 'm.txt': 'm\n' });
    const merged = await git.merge('demo', { from: 'feature', message: 'merge', author });
    const undone = await git.revert('demo', { branch: 'main', sha: merged.sha, author });
    expect(undone.tree).toBe(main.tree);
  });

  it('reverts an older commit while keeping later changes', async () => {
    const base = await commit('main', null, { 'a.txt': 'a\n' });
    const bad = await commit('main', base.sha, { 'bad.txt': 'oops\n', 'a.txt': 'a\nmore\n' });
    await commit('main', bad.sha, { 'later.txt': 'later\n' });
    await git.revert('demo', { sha: bad.sha, author });
    expect(Object.keys(await git.readTree('demo', 'main')).sort()).toEqual(['a.txt', 'later.txt']);
    expect(await git.readFile('demo', 'main', 'a.txt')).toBe('a\n');
  });

  it('refuses a conflicting revert with the paths and writes nothing', async () => {
    const base = await commit('main', null, { 'a.txt': 'one\n' });
    const changed = await commit('main', base.sha, { 'a.txt': 'two\n' });
    const later = await commit('main', changed.sha, { 'a.txt': 'three\n' });
    const err = await git.revert('demo', { sha: changed.sha, author }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RevertConflictError);
    expect((err as RevertConflictError).paths).toEqual(['a.txt']);
    expect(await git.resolveRef('demo', 'main')).toBe(later.sha);
  });
});

describe('compare-and-swap', () => {
  it('lets exactly one of two concurrent commits on a branch win', async () => {
    const base = await commit('main', null, { 'a.txt': 'a\n' });
    const results = await Promise.allSettled([
      commit('main', base.sha, { 'x.txt': 'x\n' }),
      commit('main', base.sha, { 'y.txt': 'y\n' }),
    ]);
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r) => r.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    expect((lost[0] as PromiseRejectedResult).reason).toBeInstanceOf(RefConflictError);
    expect(await git.resolveRef('demo', 'main')).toBe((won[0] as PromiseFulfilledResult<{ sha: string }>).value.sha);
  });

  it('refuses a commit on a stale parent after someone else moved the branch, and a root commit on an existing branch', async () => {
    const base = await commit('main', null, { 'a.txt': 'a\n' });
    const other = await git.commitFiles('demo', {
      branch: 'elsewhere',
      parent: base.sha,
      files: { 'b.txt': 'b\n' },
      message: 'x',
      author,
    });
    await cli('update-ref', 'refs/heads/main', other.sha, base.sha); // what a push does
    await expect(commit('main', base.sha, { 'c.txt': 'c\n' })).rejects.toBeInstanceOf(RefConflictError);
    await expect(commit('main', null, { 'c.txt': 'c\n' })).rejects.toBeInstanceOf(RefConflictError);
    expect(await git.resolveRef('demo', 'main')).toBe(other.sha);
  });
});

describe('trees that arrive by another route than a checked push', () => {
  it('refuses to check out a tree with a symlink or a submodule, naming them, instead of dropping them', async () => {
    const first = await commit('main', null, { 'src/server.ts': 'export {};\n' });
    // Written with git plumbing straight into the bare repo: no hook sees it.
    await writeFile(path.join(root, 'target'), '/etc/passwd');
    const link = await cli('hash-object', '-w', path.join(root, 'target'));
    const entries = `120000 blob ${link}\tpasswd\n160000 commit ${first.sha}\tvendor\n`;
    const odd = await new Promise<string>((resolve, reject) => {
      const child = spawn('git', [`--git-dir=${git.gitdir('demo')}`, 'mktree'], { stdio: ['pipe', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
      });
      child.on('close', (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(`mktree exited ${code}`))));
      child.stdin.end(entries);
    });
    const sha = await cli('commit-tree', odd, '-p', first.sha, '-m', 'odd tree');
    await cli('update-ref', 'refs/heads/odd', sha);
    const out = path.join(root, 'odd-checkout');
    const err = await git.checkout('demo', 'odd', out).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnsupportedTreeEntryError);
    expect((err as UnsupportedTreeEntryError).code).toBe('unsupported_tree_entry');
    expect((err as Error).message).toBe(
      'The tree holds entries that are never checked out, built or checked: passwd (symlink), vendor (submodule). Replace symlinks and submodules with regular files.',
    );
  });
});
