import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Octokit } from '@octokit/rest';
import {
  MergeConflictError,
  ProtectedBranchError,
  RefConflictError,
  RepoExistsError,
  RepoNotFoundError,
  RevertConflictError,
} from './errors.ts';
import type { CommitFilesInput, CommitResult, GitProvider, MergeInput, MergeResult, RevertInput } from './provider.ts';

/** Where a GitHub provider keeps its servers' repositories. */
export interface GitHubGitProviderOptions {
  /** An authenticated client; its `baseUrl` may be GitHub Enterprise Server's (or a local stand-in). */
  octokit: Octokit;
  /** The organization (or user) owning the repositories. */
  owner: string;
  /** Whether `owner` is the authenticated user rather than an organization. */
  ownerIsUser?: boolean;
  /** The repository of a server (default: the server's name). */
  repoOf?: (name: string) => string;
  /** Whether repositories it creates are private (default true). */
  private?: boolean;
}

const SHA = /^[0-9a-f]{40}$/;
const MAX_WALK = 10_000;
/** Objects kept in memory: commits and blobs never change, so each is fetched once (bounded). */
const MAX_CACHED = 5_000;

/** A bounded map that forgets its oldest entry first. */
class Kept<V> extends Map<string, V> {
  override set(key: string, value: V): this {
    super.set(key, value);
    if (this.size > MAX_CACHED) this.delete(this.keys().next().value as string);
    return this;
  }
}

const statusOf = (err: unknown): number | undefined =>
  typeof err === 'object' && err !== null ? (err as { status?: number }).status : undefined;
/** GitHub's `message` of a failed request (e.g. "Protected branch update failed for refs/heads/main."). */
const messageOf = (err: unknown): string => {
  const data = (err as { response?: { data?: { message?: unknown } } } | null)?.response?.data;
  return typeof data?.message === 'string' ? data.message : err instanceof Error ? err.message : '';
};

/** GitHub's answer to a Git data request on a repository without a commit: 409 "Git Repository is empty." */
const isEmptyRepository = (err: unknown): boolean => statusOf(err) === 409 && /empty/i.test(messageOf(err));

/** What the contents API wrote to make an empty repository writable: its default branch and that commit. */
interface Seed {
  branch: string;
  sha: string;
}

/** The placeholder file of the seed commit (never part of main's history: the first real commit replaces it). */
const SEED_PATH = '.bmms-seed';

/**
 * A `GitProvider` on a GitHub organization through its REST API: every commit is one atomic write through the Git
 * data API (blobs → tree → commit → ref, compare-and-swap on the ref). It never deletes a repository: the
 * repository is the customer's, so `deleteRepo` leaves it where it is.
 */
export class GitHubGitProvider implements GitProvider {
  readonly #octokit: Octokit;
  readonly #owner: string;
  readonly #ownerIsUser: boolean;
  readonly #repoOf: (name: string) => string;
  readonly #private: boolean;
  readonly #commits = new Kept<{ tree: string; parents: string[] }>();
  readonly #blobs = new Kept<Uint8Array>();

  constructor(options: GitHubGitProviderOptions) {
    this.#octokit = options.octokit;
    this.#owner = options.owner;
    this.#ownerIsUser = options.ownerIsUser ?? false;
    this.#repoOf = options.repoOf ?? ((name) => name);
    this.#private = options.private ?? true;
  }

  #at(name: string) {
    return { owner: this.#owner, repo: this.#repoOf(name) };
  }

  async createRepo(name: string): Promise<void> {
    const repo = this.#repoOf(name);
    try {
      if (this.#ownerIsUser) {
        await this.#octokit.repos.createForAuthenticatedUser({ name: repo, private: this.#private, auto_init: false });
      } else {
        await this.#octokit.repos.createInOrg({
          org: this.#owner,
          name: repo,
          private: this.#private,
          auto_init: false,
        });
      }
    } catch (err) {
      if (statusOf(err) === 422) throw new RepoExistsError(name);
      throw err;
    }
  }

  /** Never deletes: the repository belongs to the customer (deleting or rolling back a server leaves it intact). */
  async deleteRepo(name: string): Promise<void> {
    if (!(await this.repoExists(name))) throw new RepoNotFoundError(name);
  }

  async repoExists(name: string): Promise<boolean> {
    try {
      await this.#octokit.repos.get(this.#at(name));
      return true;
    } catch (err) {
      if (statusOf(err) === 404) return false;
      throw err;
    }
  }

  async resolveRef(name: string, ref: string): Promise<string | null> {
    if (SHA.test(ref)) {
      try {
        return (await this.#octokit.git.getCommit({ ...this.#at(name), commit_sha: ref })).data.sha;
      } catch (err) {
        if (statusOf(err) === 404 || statusOf(err) === 422 || isEmptyRepository(err)) return null;
        throw err;
      }
    }
    const branch = ref.replace(/^refs\/heads\//, '');
    try {
      return (await this.#octokit.git.getRef({ ...this.#at(name), ref: `heads/${branch}` })).data.object.sha;
    } catch (err) {
      if (statusOf(err) === 404 || statusOf(err) === 409) return null;
      throw err;
    }
  }

  /** The branches and their heads; none for an empty repository (which GitHub answers 409). */
  async listBranches(name: string): Promise<Record<string, string>> {
    let refs: { ref: string; object: { sha: string } }[];
    try {
      refs = await this.#octokit.paginate(this.#octokit.git.listMatchingRefs, { ...this.#at(name), ref: 'heads/' });
    } catch (err) {
      if (isEmptyRepository(err)) return {};
      throw err;
    }
    return Object.fromEntries(refs.map((r) => [r.ref.replace(/^refs\/heads\//, ''), r.object.sha]));
  }

  async deleteBranch(name: string, branch: string): Promise<void> {
    try {
      await this.#octokit.git.deleteRef({ ...this.#at(name), ref: `heads/${branch}` });
    } catch (err) {
      if (statusOf(err) !== 404 && statusOf(err) !== 422) throw err;
    }
  }

  async parentsOf(name: string, ref: string): Promise<string[]> {
    return (await this.#commit(name, await this.#mustResolve(name, ref))).parents;
  }

  /** A commit's tree and parents (fetched once: a commit never changes). */
  async #commit(name: string, sha: string): Promise<{ tree: string; parents: string[] }> {
    const key = `${this.#repoOf(name)}:${sha}`;
    const kept = this.#commits.get(key);
    if (kept) return kept;
    const { data } = await this.#octokit.git.getCommit({ ...this.#at(name), commit_sha: sha });
    const commit = { tree: data.tree.sha, parents: data.parents.map((p) => p.sha) };
    this.#commits.set(key, commit);
    return commit;
  }

  /** A blob's bytes (fetched once). */
  async #blob(name: string, sha: string): Promise<Uint8Array> {
    const key = `${this.#repoOf(name)}:${sha}`;
    const kept = this.#blobs.get(key);
    if (kept) return kept;
    const blob = await this.#octokit.git.getBlob({ ...this.#at(name), file_sha: sha });
    const bytes = new Uint8Array(Buffer.from(blob.data.content, 'base64'));
    this.#blobs.set(key, bytes);
    return bytes;
  }

  /** Every commit reachable from `head`, breadth first (bounded). */
  async #ancestry(name: string, head: string): Promise<string[]> {
    const seen = new Set<string>();
    const order: string[] = [];
    const queue = [head];
    while (queue.length > 0 && order.length < MAX_WALK) {
      const sha = queue.shift() as string;
      if (seen.has(sha)) continue;
      seen.add(sha);
      order.push(sha);
      queue.push(...(await this.parentsOf(name, sha)));
    }
    return order;
  }

  async isAncestor(name: string, ancestor: string, descendant: string): Promise<boolean> {
    return (await this.#ancestry(name, descendant)).includes(ancestor);
  }

  async commitsBetween(name: string, base: string | null, head: string): Promise<string[]> {
    const excluded = new Set(base ? await this.#ancestry(name, base) : []);
    return (await this.#ancestry(name, head)).filter((sha) => !excluded.has(sha));
  }

  async #mustResolve(name: string, ref: string): Promise<string> {
    const sha = await this.resolveRef(name, ref);
    if (!sha) throw new RefConflictError(ref, null, null);
    return sha;
  }

  async treeOf(name: string, ref: string): Promise<string> {
    return (await this.#commit(name, await this.#mustResolve(name, ref))).tree;
  }

  /**
   * One atomic commit through the Git data API. GitHub takes no Git data write into an empty repository, so the first
   * commit of one goes in two steps: the contents API seeds the default branch with a placeholder commit, which the
   * real commit (parentless) then replaces by a forced update; when the branch written is not the default one, it
   * becomes the default and the seed's branch is deleted. Main's history starts with the real commit.
   */
  async commitFiles(name: string, input: CommitFilesInput): Promise<CommitResult> {
    try {
      return await this.#commitFiles(name, input, null);
    } catch (err) {
      if (input.parent !== null || !isEmptyRepository(err)) throw err;
    }
    const seed = await this.#seed(name);
    const written = await this.#commitFiles(name, input, seed);
    if (seed.branch !== input.branch) {
      await this.#octokit.repos.update({ ...this.#at(name), default_branch: input.branch });
      await this.deleteBranch(name, seed.branch);
    }
    return written;
  }

  /** Writes the placeholder commit that makes an empty repository take Git data requests. */
  async #seed(name: string): Promise<Seed> {
    const { data } = await this.#octokit.repos.createOrUpdateFileContents({
      ...this.#at(name),
      path: SEED_PATH,
      message: 'Seed the empty repository (replaced by its first commit)',
      content: Buffer.from('Replaced by the first commit of BuildMyMCPServer.\n').toString('base64'),
    });
    const sha = data.commit.sha;
    const { data: repo } = await this.#octokit.repos.get(this.#at(name));
    if (!sha) throw new Error(`GitHub did not say which commit seeded ${this.#owner}/${this.#repoOf(name)}`);
    return { branch: repo.default_branch, sha };
  }

  async #commitFiles(name: string, input: CommitFilesInput, seed: Seed | null): Promise<CommitResult> {
    const at = this.#at(name);
    const current = await this.resolveRef(name, `refs/heads/${input.branch}`);
    // The seed commit is the one head that may be replaced rather than moved from.
    const replacing = seed !== null && current === seed.sha;
    // A new branch may start from any parent; an existing one only moves from the head the writer saw.
    if (current !== null && current !== input.parent && !replacing) {
      throw new RefConflictError(input.branch, input.parent, current);
    }
    const entries = await Promise.all(
      Object.entries(input.files).map(async ([file, content]) => {
        const bytes = typeof content === 'string' ? Buffer.from(content) : Buffer.from(content);
        const blob = await this.#octokit.git.createBlob({
          ...at,
          content: bytes.toString('base64'),
          encoding: 'base64',
        });
        return { path: file, mode: '100644' as const, type: 'blob' as const, sha: blob.data.sha };
      }),
    );
    const removed = (input.deletions ?? []).map((file) => ({
      path: file,
      mode: '100644' as const,
      type: 'blob' as const,
      sha: null,
    }));
    const baseTree = input.parent && !input.replaceTree ? await this.treeOf(name, input.parent) : undefined;
    const tree = await this.#octokit.git.createTree({
      ...at,
      tree: [...entries, ...removed],
      ...(baseTree ? { base_tree: baseTree } : {}),
    });
    return this.#writeCommit(
      name,
      input.branch,
      current,
      {
        tree: tree.data.sha,
        parents: input.parent ? [input.parent] : [],
        message: input.message,
        author: input.author,
      },
      replacing,
    );
  }

  /** Writes a commit object and moves `branch` from `current` to it (a forced update only to replace the seed). */
  async #writeCommit(
    name: string,
    branch: string,
    current: string | null,
    commit: { tree: string; parents: string[]; message: string; author: { name: string; email: string } },
    force = false,
  ): Promise<CommitResult> {
    const at = this.#at(name);
    const created = await this.#octokit.git.createCommit({ ...at, ...commit });
    try {
      if (current === null) {
        await this.#octokit.git.createRef({ ...at, ref: `refs/heads/${branch}`, sha: created.data.sha });
      } else {
        await this.#octokit.git.updateRef({ ...at, ref: `heads/${branch}`, sha: created.data.sha, force });
      }
    } catch (err) {
      if (statusOf(err) === 422 && /protected branch/i.test(messageOf(err))) {
        throw new ProtectedBranchError(branch, { sha: created.data.sha, tree: commit.tree });
      }
      if (statusOf(err) === 422 || statusOf(err) === 409) {
        throw new RefConflictError(branch, current, await this.resolveRef(name, `refs/heads/${branch}`));
      }
      throw err;
    }
    return { sha: created.data.sha, tree: commit.tree };
  }

  async merge(name: string, input: MergeInput): Promise<MergeResult> {
    const into = input.into ?? 'main';
    const from = await this.#mustResolve(name, input.from);
    const current = await this.#mustResolve(name, `refs/heads/${into}`);
    if (await this.isAncestor(name, from, current)) {
      return { sha: current, tree: await this.treeOf(name, current), fastForward: false, upToDate: true };
    }
    if (await this.isAncestor(name, current, from)) {
      const moved = await this.#octokit.git
        .updateRef({ ...this.#at(name), ref: `heads/${into}`, sha: from, force: false })
        .catch((err: unknown) => {
          if (statusOf(err) === 422) throw new RefConflictError(into, current, null);
          throw err;
        });
      return { sha: moved.data.object.sha, tree: await this.treeOf(name, from), fastForward: true, upToDate: false };
    }
    try {
      const merged = await this.#octokit.repos.merge({
        ...this.#at(name),
        base: into,
        head: from,
        commit_message: input.message,
      });
      return { sha: merged.data.sha, tree: merged.data.commit.tree.sha, fastForward: false, upToDate: false };
    } catch (err) {
      if (statusOf(err) === 409) throw new MergeConflictError([]);
      throw err;
    }
  }

  /** Undoes the branch head (or `sha` when it is the head): a commit whose tree is its first parent's. */
  async revert(name: string, input: RevertInput): Promise<CommitResult> {
    const branch = input.branch ?? 'main';
    const head = await this.#mustResolve(name, `refs/heads/${branch}`);
    const target = input.sha ? await this.#mustResolve(name, input.sha) : head;
    const [parent] = await this.parentsOf(name, target);
    // Undoing an older commit needs a three-way merge of trees, which the Git data API does not offer.
    if (target !== head || !parent) throw new RevertConflictError([]);
    return this.#writeCommit(name, branch, head, {
      tree: await this.treeOf(name, parent),
      parents: [head],
      message: input.message ?? `Revert ${target.slice(0, 7)}`,
      author: input.author,
    });
  }

  /** The blobs of the commit's tree, by path (one recursive tree read). */
  async #entries(name: string, ref: string): Promise<{ path: string; sha: string }[]> {
    const tree = await this.#octokit.git.getTree({
      ...this.#at(name),
      tree_sha: await this.treeOf(name, ref),
      recursive: '1',
    });
    return tree.data.tree.flatMap((e) => (e.type === 'blob' && e.path && e.sha ? [{ path: e.path, sha: e.sha }] : []));
  }

  async readTree(name: string, ref: string): Promise<Record<string, Uint8Array>> {
    const files: Record<string, Uint8Array> = {};
    for (const entry of await this.#entries(name, ref)) files[entry.path] = await this.#blob(name, entry.sha);
    return files;
  }

  async readFile(name: string, ref: string, file: string): Promise<string | null> {
    const entry = (await this.#entries(name, ref)).find((e) => e.path === file);
    return entry ? Buffer.from(await this.#blob(name, entry.sha)).toString('utf8') : null;
  }

  async checkout(name: string, ref: string, dir: string): Promise<void> {
    for (const [file, bytes] of Object.entries(await this.readTree(name, ref))) {
      await mkdir(path.dirname(path.join(dir, file)), { recursive: true });
      await writeFile(path.join(dir, file), bytes);
    }
    await mkdir(dir, { recursive: true });
  }
}
