/** What one check concluded about a checked-out tree. */
export interface CheckOutcome {
  conclusion: 'success' | 'failure';
  /** What a reviewer reads first: for failures, `file:line: message` lines. */
  summary: string;
  /** The full output. */
  log: string;
}

/** A check: a name and a function of the checked-out tree (read-only). */
export interface Check {
  name: string;
  run(input: CheckInput): Promise<CheckOutcome>;
}

/** A check's input: the tree checked out at `dir` (= `<workDir>/repo`), and a scratch folder. */
export interface CheckInput {
  dir: string;
  workDir: string;
  serverName: string;
  signal: AbortSignal;
}
