/** Base class of every gitserver error: a stable `code` and the HTTP status to answer with. */
export class GitServerError extends Error {
  readonly code: string;
  readonly status: number;
  constructor(code: string, status: number, message: string) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    this.status = status;
  }
}

/** The repository does not exist under the root. */
export class RepoNotFoundError extends GitServerError {
  readonly repo: string;
  constructor(repo: string) {
    super('repo_not_found', 404, `Repository "${repo}" does not exist.`);
    this.repo = repo;
  }
}

/** A repository with that name already exists. */
export class RepoExistsError extends GitServerError {
  readonly repo: string;
  constructor(repo: string) {
    super('repo_exists', 409, `Repository "${repo}" already exists; pick another name or delete it first.`);
    this.repo = repo;
  }
}

/** The repository name is not a safe directory name. */
export class InvalidRepoNameError extends GitServerError {
  constructor(repo: string) {
    super(
      'invalid_repo_name',
      400,
      `Invalid repository name "${repo}": use lowercase letters, digits, ".", "_" and "-" (max 100 chars).`,
    );
  }
}

/** A ref, branch name or sha is malformed, unknown, or not a commit. */
export class InvalidRefError extends GitServerError {
  readonly ref: string;
  constructor(ref: string, reason = 'does not name a commit') {
    super('invalid_ref', 400, `Ref "${ref}" ${reason}.`);
    this.ref = ref;
  }
}

/** A file path is empty, absolute, or escapes the tree ("..", ".git"). */
export class InvalidPathError extends GitServerError {
  readonly path: string;
  constructor(path: string) {
    super(
      'invalid_path',
      400,
      `Invalid file path "${path}": use a relative path without "..", "." or ".git" segments.`,
    );
    this.path = path;
  }
}

/** The branch moved since the caller read it (compare-and-swap failed); re-read and retry. */
export class RefConflictError extends GitServerError {
  readonly ref: string;
  readonly expected: string | null;
  readonly actual: string | null;
  constructor(ref: string, expected: string | null, actual: string | null) {
    super(
      'ref_conflict',
      409,
      `"${ref}" moved: expected ${expected ?? 'no branch'} but found ${actual ?? 'no branch'}; re-read the branch and retry.`,
    );
    this.ref = ref;
    this.expected = expected;
    this.actual = actual;
  }
}

/** A three-way merge has conflicts; nothing was written. */
export class MergeConflictError extends GitServerError {
  readonly paths: string[];
  constructor(paths: string[]) {
    super(
      'merge_conflict',
      409,
      `Merge conflict in ${paths.length ? paths.join(', ') : 'the tree'}; update the branch and retry.`,
    );
    this.paths = paths;
  }
}

/** Reverting a commit conflicts with later changes; nothing was written. */
export class RevertConflictError extends GitServerError {
  readonly paths: string[];
  constructor(paths: string[]) {
    super(
      'revert_conflict',
      409,
      `Revert conflicts with later changes in ${paths.length ? paths.join(', ') : 'the tree'}; revert the later commits first.`,
    );
    this.paths = paths;
  }
}

/** The branch is protected where it lives (GitHub's branch protection): a commit for it must arrive by pull request. */
export class ProtectedBranchError extends GitServerError {
  readonly branch: string;
  /** The commit that was written but could not be put on the branch (its parent is the branch's head). */
  readonly commit: { sha: string; tree: string };
  constructor(branch: string, commit: { sha: string; tree: string }) {
    super('protected_branch', 409, `Branch "${branch}" is protected: a change to it needs a pull request.`);
    this.branch = branch;
    this.commit = commit;
  }
}

/** A git command failed unexpectedly. */
export class GitCommandError extends GitServerError {
  readonly args: string[];
  readonly stderr: string;
  constructor(args: string[], stderr: string) {
    super('git_command_failed', 500, `git ${args[0] ?? ''} failed: ${stderr.trim().split('\n')[0] ?? ''}`);
    this.args = args;
    this.stderr = stderr;
  }
}

/** A tree holds symlinks or submodules: they are never checked out, so checking the rest would pass blind. */
export class UnsupportedTreeEntryError extends GitServerError {
  readonly paths: string[];
  constructor(entries: { path: string; kind: 'symlink' | 'submodule' }[]) {
    const listed = entries
      .slice(0, 10)
      .map((e) => `${e.path} (${e.kind})`)
      .join(', ');
    const more = entries.length > 10 ? ` and ${entries.length - 10} more` : '';
    super(
      'unsupported_tree_entry',
      422,
      `The tree holds entries that are never checked out, built or checked: ${listed}${more}. Replace symlinks and submodules with regular files.`,
    );
    this.paths = entries.map((e) => e.path);
  }
}
