/** Who wrote a commit. */
export interface GitAuthor {
  name: string;
  email: string;
}

/** A commit written by the provider. */
export interface CommitResult {
  sha: string;
  tree: string;
}

/** The outcome of a merge into a branch. */
export interface MergeResult extends CommitResult {
  /** The branch was moved to `from` without a merge commit. */
  fastForward: boolean;
  /** `from` was already contained in the branch; nothing was written. */
  upToDate: boolean;
}

export interface CommitFilesInput {
  branch: string;
  /** Expected current head of `branch` and parent of the new commit; null = root commit on a new branch. */
  parent: string | null;
  /** Files to write, by repo-relative path. */
  files: Record<string, string | Uint8Array>;
  /** Paths (files or whole directories) to remove. */
  deletions?: string[];
  /** Start from an empty tree instead of the parent's. */
  replaceTree?: boolean;
  message: string;
  author: GitAuthor;
}

export interface MergeInput {
  /** Branch receiving the merge (default `main`). */
  into?: string;
  /** Branch name, full ref or sha to merge. */
  from: string;
  message: string;
  author: GitAuthor;
}

export interface RevertInput {
  /** Branch to add the revert commit to (default `main`). */
  branch?: string;
  /** Commit to undo (default: the branch head); a merge commit is undone relative to its first parent. */
  sha?: string;
  message?: string;
  author: GitAuthor;
}

/** Storage of one bare Git repository per MCP server. */
export interface GitProvider {
  /** Create an empty bare repo whose HEAD is refs/heads/main; throws RepoExistsError. */
  createRepo(name: string): Promise<void>;
  /** Delete the repo and everything in it; throws RepoNotFoundError. */
  deleteRepo(name: string): Promise<void>;
  /** Whether the repo exists. */
  repoExists(name: string): Promise<boolean>;
  /** Resolve a branch name, full ref or (abbreviated) sha to a commit sha, or null when unknown. */
  resolveRef(name: string, ref: string): Promise<string | null>;
  /** All branches with their head sha. */
  listBranches(name: string): Promise<Record<string, string>>;
  /** Delete a branch (no-op when absent). */
  deleteBranch(name: string, branch: string): Promise<void>;
  /** Whether `ancestor` is reachable from `descendant` (true when equal). */
  isAncestor(name: string, ancestor: string, descendant: string): Promise<boolean>;
  /** Commits reachable from `head` but not from `base` (null: all of head's history), newest first. */
  commitsBetween(name: string, base: string | null, head: string): Promise<string[]>;
  /** The parents of a commit (first parent first; none for a root commit). */
  parentsOf(name: string, ref: string): Promise<string[]>;
  /** Write a commit of `files` on top of `parent` and move `branch` to it (compare-and-swap; RefConflictError). */
  commitFiles(name: string, input: CommitFilesInput): Promise<CommitResult>;
  /** Merge `from` into a branch: fast-forward when possible, else a merge commit; MergeConflictError writes nothing. */
  merge(name: string, input: MergeInput): Promise<MergeResult>;
  /** Add a commit that undoes `sha` on the branch; RevertConflictError writes nothing. */
  revert(name: string, input: RevertInput): Promise<CommitResult>;
  /** Every file of the commit's tree, recursively, by path. */
  readTree(name: string, ref: string): Promise<Record<string, Uint8Array>>;
  /** One file of the commit as UTF-8, or null when absent. */
  readFile(name: string, ref: string, path: string): Promise<string | null>;
  /** The tree sha of the commit. */
  treeOf(name: string, ref: string): Promise<string>;
  /** Write the commit's files into `dir` (created if missing). */
  checkout(name: string, ref: string, dir: string): Promise<void>;
}
