import fs from 'node:fs';
import { chmod, mkdir, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import git from 'isomorphic-git';
import { runGit } from './cli.ts';
import {
  GitCommandError,
  InvalidRefError,
  MergeConflictError,
  RefConflictError,
  RepoExistsError,
  RepoNotFoundError,
  RevertConflictError,
  UnsupportedTreeEntryError,
} from './errors.ts';
import { assertBranchName, assertRepoName, hasControlChar, normalizePath } from './names.ts';
import type {
  CommitFilesInput,
  CommitResult,
  GitAuthor,
  GitProvider,
  MergeInput,
  MergeResult,
  RevertInput,
} from './provider.ts';

const ZERO_SHA = '0'.repeat(40);
const EMPTY_TREE = '4b825dc642cb6eb9a060e54bf8d69288fbee4904';
const DEFAULT_HOOKS_DIR = path.resolve(import.meta.dirname, '../hooks');

/** A non-tree entry of a flattened tree. */
interface FileEntry {
  mode: string;
  oid: string;
  type: 'blob' | 'commit' | 'tree';
}
type DirNode = Map<string, FileEntry | DirNode>;
type MergeOutcome = { tree: string } | { conflicts: string[] };

export interface InternalGitProviderOptions {
  /** Directory holding `<name>.git` bare repos (created if missing). */
  root: string;
  /** Directory with the pre-receive/post-receive hooks (default: gitserver/hooks). */
  hooksDir?: string;
}

/** GitProvider over bare repos on local disk: isomorphic-git for objects, `git update-ref` for compare-and-swap. */
export class InternalGitProvider implements GitProvider {
  readonly root: string;
  readonly hooksDir: string;
  readonly #locks = new Map<string, Promise<unknown>>();

  constructor(options: InternalGitProviderOptions) {
    this.root = path.resolve(options.root);
    this.hooksDir = path.resolve(options.hooksDir ?? DEFAULT_HOOKS_DIR);
  }

  /** Absolute path of a repo's git directory (the repo need not exist). */
  gitdir(name: string): string {
    assertRepoName(name);
    return path.join(this.root, `${name}.git`);
  }

  async createRepo(name: string): Promise<void> {
    const gitdir = this.gitdir(name);
    await mkdir(this.root, { recursive: true });
    try {
      await mkdir(gitdir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new RepoExistsError(name);
      throw err;
    }
    try {
      await git.init({ fs, dir: gitdir, gitdir, bare: true, defaultBranch: 'main' });
      const config: Record<string, string> = {
        'core.hooksPath': this.hooksDir,
        'http.receivepack': 'true',
        'receive.fsckObjects': 'true',
        'core.logAllRefUpdates': 'true',
      };
      for (const [key, value] of Object.entries(config)) await git.setConfig({ fs, gitdir, path: key, value });
      for (const hook of ['pre-receive', 'post-receive']) {
        // A checkout without executable bits would silently skip the hooks (and branch protection).
        await chmod(path.join(this.hooksDir, hook), 0o755).catch(() => undefined);
      }
    } catch (err) {
      await rm(gitdir, { recursive: true, force: true });
      throw err;
    }
  }

  async deleteRepo(name: string): Promise<void> {
    await this.#withLock(name, async () => {
      const gitdir = await this.#existing(name);
      await rm(gitdir, { recursive: true, force: true });
    });
  }

  async repoExists(name: string): Promise<boolean> {
    return isBareRepo(this.gitdir(name));
  }

  async resolveRef(name: string, ref: string): Promise<string | null> {
    return resolveCommit(await this.#existing(name), ref);
  }

  async listBranches(name: string): Promise<Record<string, string>> {
    const gitdir = await this.#existing(name);
    const out: Record<string, string> = {};
    for (const branch of await git.listBranches({ fs, gitdir })) {
      const sha = await branchHead(gitdir, branch);
      if (sha) out[branch] = sha;
    }
    return out;
  }

  async deleteBranch(name: string, branch: string): Promise<void> {
    assertBranchName(branch);
    await this.#withLock(name, async () => {
      const gitdir = await this.#existing(name);
      const current = await branchHead(gitdir, branch);
      if (current === null) return;
      await updateRef(gitdir, branch, ZERO_SHA, current);
    });
  }

  async isAncestor(name: string, ancestor: string, descendant: string): Promise<boolean> {
    const gitdir = await this.#existing(name);
    return contains(gitdir, await mustResolve(gitdir, ancestor), await mustResolve(gitdir, descendant));
  }

  async commitsBetween(name: string, base: string | null, head: string): Promise<string[]> {
    const gitdir = await this.#existing(name);
    const args = ['rev-list', await mustResolve(gitdir, head)];
    if (base !== null) args.push('--not', await mustResolve(gitdir, base));
    const result = await runGit(gitdir, args);
    if (result.code !== 0) throw new GitCommandError(args, result.stderr);
    return result.stdout.split('\n').filter(Boolean);
  }

  async parentsOf(name: string, ref: string): Promise<string[]> {
    const gitdir = await this.#existing(name);
    return (await git.readCommit({ fs, gitdir, oid: await mustResolve(gitdir, ref) })).commit.parent;
  }

  async commitFiles(name: string, input: CommitFilesInput): Promise<CommitResult> {
    assertBranchName(input.branch);
    const files = Object.entries(input.files).map(([p, content]) => [normalizePath(p), content] as const);
    const deletions = (input.deletions ?? []).map(normalizePath);
    return this.#withLock(name, async () => {
      const gitdir = await this.#existing(name);
      const parent = input.parent === null ? null : await mustResolve(gitdir, input.parent);
      const current = await branchHead(gitdir, input.branch);
      // A missing branch may be created from any parent; an existing one must still be at `parent`.
      if (current !== null && current !== parent) {
        throw new RefConflictError(`refs/heads/${input.branch}`, parent, current);
      }
      const entries = new Map<string, FileEntry>();
      if (parent && !input.replaceTree) await flatten(gitdir, await commitTree(gitdir, parent), '', entries);
      for (const p of deletions) removePath(entries, p);
      for (const [p, content] of files) {
        const blob = typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
        const oid = await git.writeBlob({ fs, gitdir, blob });
        const mode = entries.get(p)?.mode === '100755' ? '100755' : '100644';
        removePath(entries, p);
        entries.set(p, { mode, oid, type: 'blob' });
      }
      const tree = await writeTrees(gitdir, entries);
      const sha = await writeCommit(gitdir, tree, parent ? [parent] : [], input.message, input.author);
      await updateRef(gitdir, input.branch, sha, current);
      return { sha, tree };
    });
  }

  async merge(name: string, input: MergeInput): Promise<MergeResult> {
    const into = input.into ?? 'main';
    assertBranchName(into);
    return this.#withLock(name, async () => {
      const gitdir = await this.#existing(name);
      const head = await branchHead(gitdir, into);
      if (head === null) throw new InvalidRefError(into, 'does not exist');
      const from = await mustResolve(gitdir, input.from);
      // Fast-forward first: it walks back from the change's head and stops at main's, where the up-to-date check
      // would walk the whole history of main (for nothing, in the usual merge of a change branched off main's head).
      if (from !== head && (await contains(gitdir, head, from))) {
        await updateRef(gitdir, into, from, head);
        return { sha: from, tree: await commitTree(gitdir, from), fastForward: true, upToDate: false };
      }
      if (await contains(gitdir, from, head)) {
        return { sha: head, tree: await commitTree(gitdir, head), fastForward: false, upToDate: true };
      }
      const outcome = await mergeCommits(gitdir, head, from, input.author);
      if ('conflicts' in outcome) throw new MergeConflictError(outcome.conflicts);
      const sha = await writeCommit(gitdir, outcome.tree, [head, from], input.message, input.author);
      await updateRef(gitdir, into, sha, head);
      return { sha, tree: outcome.tree, fastForward: false, upToDate: false };
    });
  }

  async revert(name: string, input: RevertInput): Promise<CommitResult> {
    const branch = input.branch ?? 'main';
    assertBranchName(branch);
    return this.#withLock(name, async () => {
      const gitdir = await this.#existing(name);
      const head = await branchHead(gitdir, branch);
      if (head === null) throw new InvalidRefError(branch, 'does not exist');
      const target = input.sha === undefined ? head : await mustResolve(gitdir, input.sha);
      if (!(await contains(gitdir, target, head)))
        throw new InvalidRefError(input.sha ?? target, `is not on ${branch}`);
      const { commit } = await git.readCommit({ fs, gitdir, oid: target });
      const firstParent = commit.parent[0];
      const parentTree = firstParent ? await commitTree(gitdir, firstParent) : EMPTY_TREE;
      let tree = parentTree;
      if (target !== head) {
        // Three-way merge with base = target, ours = head, theirs = target's parent: two throw-away
        // commits whose only parent is `target` make `target` their merge base.
        await git.writeTree({ fs, gitdir, tree: [] });
        const ours = await writeCommit(gitdir, await commitTree(gitdir, head), [target], 'revert: ours', input.author);
        const theirs = await writeCommit(gitdir, parentTree, [target], 'revert: theirs', input.author);
        const outcome = await mergeCommits(gitdir, ours, theirs, input.author);
        if ('conflicts' in outcome) throw new RevertConflictError(outcome.conflicts);
        tree = outcome.tree;
      }
      const subject = commit.message.split('\n')[0] ?? '';
      const message = input.message ?? `Revert "${subject}"\n\nThis reverts commit ${target}.`;
      const sha = await writeCommit(gitdir, tree, [head], message, input.author);
      await updateRef(gitdir, branch, sha, head);
      return { sha, tree };
    });
  }

  async readTree(name: string, ref: string): Promise<Record<string, Uint8Array>> {
    const gitdir = await this.#existing(name);
    const entries = new Map<string, FileEntry>();
    await flatten(gitdir, await commitTree(gitdir, await mustResolve(gitdir, ref)), '', entries);
    const cache = {};
    const out: Record<string, Uint8Array> = {};
    for (const [p, entry] of entries) {
      if (entry.type !== 'blob') continue;
      out[p] = (await git.readBlob({ fs, gitdir, oid: entry.oid, cache })).blob;
    }
    return out;
  }

  async readFile(name: string, ref: string, filepath: string): Promise<string | null> {
    const gitdir = await this.#existing(name);
    const oid = await mustResolve(gitdir, ref);
    try {
      const { blob } = await git.readBlob({ fs, gitdir, oid, filepath: normalizePath(filepath) });
      return Buffer.from(blob).toString('utf8');
    } catch (err) {
      if (err instanceof git.Errors.NotFoundError || err instanceof git.Errors.ObjectTypeError) return null;
      throw err;
    }
  }

  async treeOf(name: string, ref: string): Promise<string> {
    const gitdir = await this.#existing(name);
    return commitTree(gitdir, await mustResolve(gitdir, ref));
  }

  async checkout(name: string, ref: string, dir: string): Promise<void> {
    const gitdir = await this.#existing(name);
    const entries = new Map<string, FileEntry>();
    await flatten(gitdir, await commitTree(gitdir, await mustResolve(gitdir, ref)), '', entries);
    // A symlink could point a bundler at host files and a submodule is empty here: dropping either
    // silently would let the checks pass on a tree that is not what the repo says, so refuse the tree.
    const unsupported = [...entries]
      .filter(([, e]) => e.mode === '120000' || e.type === 'commit')
      .map(([p, e]) => ({ path: p, kind: e.mode === '120000' ? ('symlink' as const) : ('submodule' as const) }));
    if (unsupported.length > 0) throw new UnsupportedTreeEntryError(unsupported);
    const cache = {};
    await mkdir(dir, { recursive: true });
    for (const [p, entry] of entries) {
      if (entry.type !== 'blob') continue;
      const target = path.join(dir, normalizePath(p));
      await mkdir(path.dirname(target), { recursive: true });
      const { blob } = await git.readBlob({ fs, gitdir, oid: entry.oid, cache });
      await writeFile(target, blob, { mode: entry.mode === '100755' ? 0o755 : 0o644 });
    }
  }

  async #existing(name: string): Promise<string> {
    const gitdir = this.gitdir(name);
    if (!(await isBareRepo(gitdir))) throw new RepoNotFoundError(name);
    return gitdir;
  }

  /** Run writes to one repo one after another; CAS on the ref still guards against pushes. */
  async #withLock<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.#locks.get(name) ?? Promise.resolve();
    const run = previous.then(fn);
    const tail = run.catch(() => undefined);
    this.#locks.set(name, tail);
    try {
      return await run;
    } finally {
      if (this.#locks.get(name) === tail) this.#locks.delete(name);
    }
  }
}

async function isBareRepo(gitdir: string): Promise<boolean> {
  try {
    return (await stat(path.join(gitdir, 'HEAD'))).isFile() && (await stat(path.join(gitdir, 'objects'))).isDirectory();
  } catch {
    return false;
  }
}

/** Resolve a branch, full ref or (short) sha to a commit sha, or null. */
async function resolveCommit(gitdir: string, ref: string): Promise<string | null> {
  // Refs are read as files under gitdir: refuse anything that could walk out of it.
  if (
    ref.length === 0 ||
    ref.length > 256 ||
    ref.startsWith('/') ||
    ref.includes('..') ||
    hasControlChar(ref) ||
    ref.includes('\\')
  ) {
    return null;
  }
  let oid: string | null = null;
  try {
    oid = await git.resolveRef({ fs, gitdir, ref });
  } catch {
    if (/^[0-9a-f]{4,40}$/.test(ref)) oid = await git.expandOid({ fs, gitdir, oid: ref }).catch(() => null);
  }
  if (oid === null) return null;
  try {
    return (await git.readCommit({ fs, gitdir, oid })).oid;
  } catch {
    return null;
  }
}

async function mustResolve(gitdir: string, ref: string): Promise<string> {
  const sha = await resolveCommit(gitdir, ref);
  if (sha === null) throw new InvalidRefError(ref);
  return sha;
}

async function branchHead(gitdir: string, branch: string): Promise<string | null> {
  try {
    return await git.resolveRef({ fs, gitdir, ref: `refs/heads/${branch}` });
  } catch {
    return null;
  }
}

async function commitTree(gitdir: string, sha: string): Promise<string> {
  return (await git.readCommit({ fs, gitdir, oid: sha })).commit.tree;
}

/** Whether `ancestor` is `descendant` or reachable from it. */
async function contains(gitdir: string, ancestor: string, descendant: string): Promise<boolean> {
  if (ancestor === descendant) return true;
  return git.isDescendent({ fs, gitdir, oid: descendant, ancestor, depth: -1 });
}

/** Compare-and-swap `refs/heads/<branch>` from `expected` (null: must not exist) to `next` (zero sha: delete). */
async function updateRef(gitdir: string, branch: string, next: string, expected: string | null): Promise<void> {
  const ref = `refs/heads/${branch}`;
  const args =
    next === ZERO_SHA
      ? ['update-ref', '-d', ref, expected ?? ZERO_SHA]
      : ['update-ref', '-m', 'bmms', ref, next, expected ?? ZERO_SHA];
  const result = await runGit(gitdir, args);
  if (result.code === 0) return;
  const actual = await branchHead(gitdir, branch);
  // A changed value, or a lock held by a concurrent receive-pack, both mean someone else wrote first.
  if (actual !== expected || /lock/i.test(result.stderr)) throw new RefConflictError(ref, expected, actual);
  throw new GitCommandError(args, result.stderr);
}

function signature(author: GitAuthor): { name: string; email: string; timestamp: number; timezoneOffset: number } {
  const clean = (s: string) => s.replace(/[<>\n\r\0]/g, '').trim();
  return {
    name: clean(author.name),
    email: clean(author.email),
    timestamp: Math.floor(Date.now() / 1000),
    timezoneOffset: 0,
  };
}

async function writeCommit(
  gitdir: string,
  tree: string,
  parent: string[],
  message: string,
  author: GitAuthor,
): Promise<string> {
  const who = signature(author);
  const text = message.endsWith('\n') ? message : `${message}\n`;
  return git.writeCommit({ fs, gitdir, commit: { message: text, tree, parent, author: who, committer: who } });
}

/** Add every non-tree entry below `treeOid` to `out`, keyed by full path. */
async function flatten(gitdir: string, treeOid: string, prefix: string, out: Map<string, FileEntry>): Promise<void> {
  const { tree } = await git.readTree({ fs, gitdir, oid: treeOid });
  for (const entry of tree) {
    const p = prefix ? `${prefix}/${entry.path}` : entry.path;
    if (entry.type === 'tree') await flatten(gitdir, entry.oid, p, out);
    else out.set(p, { mode: entry.mode, oid: entry.oid, type: entry.type });
  }
}

/** Remove a file, a directory below it, and any file standing where one of its parent directories must go. */
function removePath(entries: Map<string, FileEntry>, p: string): void {
  const parts = p.split('/');
  for (let i = 1; i <= parts.length; i++) entries.delete(parts.slice(0, i).join('/'));
  for (const key of entries.keys()) if (key.startsWith(`${p}/`)) entries.delete(key);
}

/** Write the nested trees for a flat path → entry map; returns the root tree sha. */
async function writeTrees(gitdir: string, entries: Map<string, FileEntry>): Promise<string> {
  const root: DirNode = new Map();
  for (const [p, entry] of entries) {
    const parts = p.split('/');
    const leaf = parts.pop() as string;
    let dir = root;
    for (const part of parts) {
      let next = dir.get(part);
      if (!(next instanceof Map)) {
        next = new Map();
        dir.set(part, next);
      }
      dir = next;
    }
    dir.set(leaf, entry);
  }
  const write = async (dir: DirNode): Promise<string> => {
    const tree: { mode: string; path: string; oid: string; type: 'blob' | 'commit' | 'tree' }[] = [];
    for (const [name, node] of dir) {
      if (node instanceof Map) tree.push({ mode: '040000', path: name, oid: await write(node), type: 'tree' });
      else tree.push({ mode: node.mode, path: name, oid: node.oid, type: node.type });
    }
    return git.writeTree({ fs, gitdir, tree });
  };
  return write(root);
}

/** Three-way merge of two commits at their merge base: isomorphic-git first, git's ort merge where it gives up. */
async function mergeCommits(gitdir: string, ours: string, theirs: string, author: GitAuthor): Promise<MergeOutcome> {
  try {
    const result = await git.merge({
      fs,
      gitdir,
      ours,
      theirs,
      fastForward: false,
      noUpdateBranch: true,
      abortOnConflict: true,
      message: 'merge',
      author: signature(author),
    });
    if (result.tree) return { tree: result.tree };
  } catch (err) {
    if (err instanceof git.Errors.MergeConflictError) return { conflicts: [...err.data.filepaths].sort() };
    if (!(err instanceof git.Errors.MergeNotSupportedError)) throw err;
  }
  // isomorphic-git gives up on add/add, file/directory and criss-cross merges; git merge-tree (git >= 2.38) does not.
  const args = ['merge-tree', '--write-tree', '--name-only', '--no-messages', ours, theirs];
  const result = await runGit(gitdir, args);
  const lines = result.stdout.split('\n').filter(Boolean);
  const tree = lines[0];
  if (result.code === 0 && tree) return { tree };
  if (result.code === 1) return { conflicts: [...new Set(lines.slice(1))].sort() };
  if (/unrelated histories/.test(result.stderr)) throw new InvalidRefError(theirs, 'shares no history with the branch');
  throw new GitCommandError(args, result.stderr);
}
