import type { GitProvider } from '@bmms/gitserver';

/** A path into a JSON document: `['tools', 0, 'name']`. */
export type JsonPath = readonly (string | number)[];

/** One problem a check found: where, which rule, why it matters and how to fix it. */
export interface Finding {
  /** Repo-relative path (or `mcp.json`, `package.json`); omitted for findings about the whole tree. */
  file?: string;
  /** 1-based line, when known. */
  line?: number;
  /** Stable rule id, e.g. `no-eval`, `secret-github-token`, `egress-ip-literal`. */
  rule: string;
  /** What is wrong and why it matters. Never contains a secret value (mask it first). */
  message: string;
  /** How to fix it. */
  fix?: string;
}

/** What one check concluded about a checked-out tree. */
export interface CheckOutcome {
  /** `skipped` and `neutral` do not block a merge: nothing was wrong with the tree. */
  conclusion: 'success' | 'failure' | 'neutral' | 'skipped';
  /** What a reviewer reads first: for failures, `file:line: [rule] message — fix` lines. */
  summary: string;
  /** The full output. */
  log: string;
  /** Structured findings (also rendered into summary and log). */
  findings?: Finding[];
}

/** A check's input: the tree checked out at `dir` (= `<workDir>/repo`), and a scratch folder. */
export interface CheckInput {
  /** The checked-out tree. Read it; never write into it. */
  dir: string;
  /** Scratch space of this suite (other checks use it too: make your own sub-folder). */
  workDir: string;
  serverName: string;
  /** The commit being checked. */
  commitSha: string;
  /** main's head when the suite was created, or null (a repo's first change, or main itself). */
  baseSha: string | null;
  /** Read access to the server's repository (diffs, the base tree). */
  git: GitProvider;
  /** Aborted when the check times out or the platform stops: stop work and return. */
  signal: AbortSignal;
  /** Says what a long check is doing (shown as its summary while it runs); the outcome replaces it. */
  progress?: (text: string) => void;
}

/** A check: a name and a function of the checked-out tree (read-only). */
export interface Check {
  name: string;
  /** Upper bound on one run; the suite reports `failure` ("timed out after N s") past it. */
  timeoutMs?: number;
  /**
   * Runs only once these checks passed (`'all'`: every check without prerequisites), else it is
   * `skipped`: a preview runs the code, so it never starts a tree the static checks refused.
   */
  after?: 'all' | string[];
  /** Work that is safe before the other checks pass (building, never running), started alongside them. */
  prepare?(input: CheckInput): Promise<void>;
  run(input: CheckInput): Promise<CheckOutcome>;
}

/** Conclusions that do not block a merge. */
export const PASSING_CONCLUSIONS: ReadonlySet<string> = new Set(['success', 'neutral', 'skipped']);

/** Renders findings as `file:line: [rule] message — fix` lines. */
export function formatFinding(f: Finding): string {
  const where = f.file ? `${f.file}${f.line ? `:${f.line}` : ''}: ` : '';
  return `${where}[${f.rule}] ${f.message}${f.fix ? ` — ${f.fix}` : ''}`;
}

/** A failure outcome from findings (success when there are none). */
export function outcomeOf(findings: Finding[], okSummary: string, maxSummaryLines = 30): CheckOutcome {
  if (findings.length === 0) return { conclusion: 'success', summary: okSummary, log: `${okSummary}\n`, findings };
  const lines = findings.map(formatFinding);
  const shown = lines.slice(0, maxSummaryLines);
  if (lines.length > shown.length) shown.push(`… and ${lines.length - shown.length} more (see the log)`);
  return {
    conclusion: 'failure',
    summary: `${findings.length} finding(s):\n${shown.join('\n')}`,
    log: `${lines.join('\n')}\n`,
    findings,
  };
}
