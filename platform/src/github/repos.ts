import {
  type CommitFilesInput,
  type CommitResult,
  GitHubGitProvider,
  type GitProvider,
  type MergeInput,
  type MergeResult,
  ProtectedBranchError,
  RepoExistsError,
  type RevertInput,
} from '@bmms/gitserver';
import type { PrismaClient } from '@bmms/prisma';
import type { Octokit } from '@octokit/rest';
import { ApiError, githubRepoNotEmpty, githubRequestFailed } from '../errors.ts';
import type { InvalidationBus } from '../invalidation.ts';
import { InstallationTokenRefused } from './app-auth.ts';
import { githubMessage, statusOf } from './client.ts';
import type { GitHubConnections } from './connections.ts';

/** Where a server on GitHub lives. */
export interface GitHubRepoRef {
  owner: string;
  repo: string;
}

/** A server's repository on GitHub, with the client of its org's connection. */
export interface GitHubRepo extends GitHubRepoRef {
  octokit: Octokit;
}

/** What the row of a server says about where its repository is. */
interface Binding {
  orgId: string;
  owner: string;
  repo: string;
  private: boolean;
}

/**
 * The servers' repositories, wherever each lives: the platform's own Git store, or the customer's GitHub (the
 * server's row names its owner and repository; its org's connection authenticates). Everything that reads or writes
 * a server's repository (changes, checks, previews, the reconciler) goes through this one `GitProvider`.
 */
export class ServerRepos implements GitProvider {
  readonly #db: PrismaClient;
  readonly #internal: GitProvider;
  readonly #connections: Pick<GitHubConnections, 'account' | 'setProblem'>;
  /** The binding of each server name seen (null: the internal store), forgotten when the server comes or goes. */
  readonly #bindings = new Map<string, Binding | null>();
  /** The GitHub provider of a server, kept while its client is the same (its caches of immutable objects live on). */
  readonly #providers = new Map<string, { octokit: Octokit; provider: GitHubGitProvider }>();

  constructor(deps: {
    db: PrismaClient;
    internal: GitProvider;
    connections: Pick<GitHubConnections, 'account' | 'setProblem'>;
    invalidations?: Pick<InvalidationBus, 'subscribe'>;
  }) {
    this.#db = deps.db;
    this.#internal = deps.internal;
    this.#connections = deps.connections;
    deps.invalidations?.subscribe((event) => {
      if (event.kind === 'server') this.forget(event.name);
      if (event.kind === 'all') this.#bindings.clear();
    });
  }

  /** Forgets what is known of `name` (its row was created or deleted). */
  forget(name: string): void {
    this.#bindings.delete(name);
    this.#providers.delete(name);
  }

  async #binding(name: string): Promise<Binding | null> {
    if (this.#bindings.has(name)) return this.#bindings.get(name) ?? null;
    const row = await this.#db.server.findUnique({
      where: { name },
      select: { orgId: true, githubOwner: true, githubRepo: true, githubPrivate: true },
    });
    const binding =
      row?.githubOwner && row.githubRepo
        ? { orgId: row.orgId, owner: row.githubOwner, repo: row.githubRepo, private: row.githubPrivate ?? true }
        : null;
    // A name without a row is not remembered: its row may be about to be created.
    if (row) this.#bindings.set(name, binding);
    return binding;
  }

  /** The server's repository on GitHub with its client, or null when it lives in the internal store. */
  async github(name: string): Promise<GitHubRepo | null> {
    const binding = await this.#binding(name);
    if (!binding) return null;
    const { octokit } = await this.#connections.account(binding.orgId);
    return { owner: binding.owner, repo: binding.repo, octokit };
  }

  async #of(name: string): Promise<GitProvider> {
    const binding = await this.#binding(name);
    if (!binding) return this.#internal;
    return this.#githubProvider(name, binding);
  }

  async #githubProvider(name: string, binding: Binding): Promise<GitHubGitProvider> {
    const account = await this.#connections.account(binding.orgId);
    const kept = this.#providers.get(name);
    if (kept && kept.octokit === account.octokit) return kept.provider;
    const provider = new GitHubGitProvider({
      octokit: account.octokit,
      owner: binding.owner,
      ownerIsUser: account.kind === 'token' && binding.owner.toLowerCase() === account.login.toLowerCase(),
      repoOf: () => binding.repo,
      private: binding.private,
    });
    this.#providers.set(name, { octokit: account.octokit, provider });
    return provider;
  }

  /**
   * Creates the repository; on GitHub an existing empty repository is adopted, and one with commits refused
   * (`github_repo_not_empty`). GitHub's refusals (no such owner, no permission) say what GitHub said.
   */
  async createRepo(name: string): Promise<void> {
    const binding = await this.#binding(name);
    if (!binding) return this.#internal.createRepo(name);
    const provider = await this.#githubProvider(name, binding);
    const full = `${binding.owner}/${binding.repo}`;
    try {
      await provider.createRepo(name);
      return;
    } catch (err) {
      if (!(err instanceof RepoExistsError))
        throw githubRequestFailed(`creating ${full}`, statusOf(err) ?? null, githubMessage(err));
    }
    // An empty repository (no commit, so no branch) is adopted; its first commit is the server's.
    const branches = await provider.listBranches(name).catch((err: unknown) => {
      throw githubRequestFailed(`reading ${full}`, statusOf(err) ?? null, githubMessage(err));
    });
    if (Object.keys(branches).length > 0) throw githubRepoNotEmpty(full);
  }

  async deleteRepo(name: string): Promise<void> {
    return (await this.#of(name)).deleteRepo(name);
  }
  async repoExists(name: string): Promise<boolean> {
    return (await this.#of(name)).repoExists(name);
  }
  /**
   * On GitHub, a refusal says what GitHub said and which repository (401 also becomes the connection's problem),
   * and a repository that is gone is an error, not a repository without `main`.
   */
  async resolveRef(name: string, ref: string): Promise<string | null> {
    const binding = await this.#binding(name);
    if (!binding) return this.#internal.resolveRef(name, ref);
    const full = `${binding.owner}/${binding.repo}`;
    try {
      const provider = await this.#githubProvider(name, binding);
      const sha = await provider.resolveRef(name, ref);
      if (sha === null && !(await provider.repoExists(name))) {
        throw new Error(`the GitHub repository ${full} is gone (deleted, or no longer visible to the connection)`);
      }
      return sha;
    } catch (err) {
      if (err instanceof ApiError) throw err;
      const status = statusOf(err);
      if (err instanceof InstallationTokenRefused) {
        await this.#connections.setProblem(binding.orgId, err.message).catch(() => false);
      } else if (status === 401) {
        await this.#connections
          .setProblem(
            binding.orgId,
            `GitHub refused the connection (401 ${githubMessage(err)}): connect GitHub again in Settings → GitHub`,
          )
          .catch(() => false);
      }
      if (status === undefined) throw err;
      throw githubRequestFailed(`reading ${full}`, status, githubMessage(err));
    }
  }
  async listBranches(name: string): Promise<Record<string, string>> {
    return (await this.#of(name)).listBranches(name);
  }
  async deleteBranch(name: string, branch: string): Promise<void> {
    return (await this.#of(name)).deleteBranch(name, branch);
  }
  async isAncestor(name: string, ancestor: string, descendant: string): Promise<boolean> {
    return (await this.#of(name)).isAncestor(name, ancestor, descendant);
  }
  async commitsBetween(name: string, base: string | null, head: string): Promise<string[]> {
    return (await this.#of(name)).commitsBetween(name, base, head);
  }
  async parentsOf(name: string, ref: string): Promise<string[]> {
    return (await this.#of(name)).parentsOf(name, ref);
  }
  async commitFiles(name: string, input: CommitFilesInput): Promise<CommitResult> {
    return (await this.#of(name)).commitFiles(name, input);
  }
  async merge(name: string, input: MergeInput): Promise<MergeResult> {
    return (await this.#of(name)).merge(name, input);
  }
  /**
   * Adds the revert commit to the branch; on GitHub, when branch protection refuses a direct update, the same commit
   * goes on a branch of its own, as a pull request that is merged at once (its merge commit is the branch's head).
   */
  async revert(name: string, input: RevertInput): Promise<CommitResult> {
    const provider = await this.#of(name);
    try {
      return await provider.revert(name, input);
    } catch (err) {
      if (!(err instanceof ProtectedBranchError)) throw err;
      return this.#revertByPullRequest(name, err);
    }
  }

  async #revertByPullRequest(name: string, refused: ProtectedBranchError): Promise<CommitResult> {
    const gh = await this.github(name);
    if (!gh) throw refused;
    const at = { owner: gh.owner, repo: gh.repo };
    const { sha, tree } = refused.commit;
    const branch = `bmms/revert-${sha.slice(0, 7)}`;
    const step = async <T>(what: string, request: () => Promise<T>): Promise<T> => {
      try {
        return await request();
      } catch (err) {
        throw githubRequestFailed(
          `${what} (${refused.branch} is protected)`,
          statusOf(err) ?? null,
          githubMessage(err),
        );
      }
    };
    const { data: commit } = await step('reading the revert commit', () =>
      gh.octokit.git.getCommit({ ...at, commit_sha: sha }),
    );
    await step('pushing the revert branch', () =>
      gh.octokit.git.createRef({ ...at, ref: `refs/heads/${branch}`, sha }),
    );
    const { data: pull } = await step('opening the revert pull request', () =>
      gh.octokit.pulls.create({
        ...at,
        head: branch,
        base: refused.branch,
        title: commit.message.split('\n')[0] ?? `Revert ${sha.slice(0, 7)}`,
        body: `${commit.message}\n\nOpened and merged by the platform: \`${refused.branch}\` is protected, so the revert arrives as a pull request.`,
      }),
    );
    const { data: merged } = await step(`merging revert pull request #${pull.number}`, () =>
      gh.octokit.pulls.merge({ ...at, pull_number: pull.number, sha, merge_method: 'merge' }),
    );
    await gh.octokit.git.deleteRef({ ...at, ref: `heads/${branch}` }).catch(() => {});
    // The merge commit's tree is the revert's: the pull request's base was the revert's parent.
    return { sha: merged.sha, tree };
  }
  async readTree(name: string, ref: string): Promise<Record<string, Uint8Array>> {
    return (await this.#of(name)).readTree(name, ref);
  }
  async readFile(name: string, ref: string, path: string): Promise<string | null> {
    return (await this.#of(name)).readFile(name, ref, path);
  }
  async treeOf(name: string, ref: string): Promise<string> {
    return (await this.#of(name)).treeOf(name, ref);
  }
  async checkout(name: string, ref: string, dir: string): Promise<void> {
    return (await this.#of(name)).checkout(name, ref, dir);
  }
}
