import type { Octokit } from '@octokit/rest';
import type { CheckOutcome } from '../checks/types.ts';

/** GitHub's limits: a check run's title, its summary and text; a commit status's description. */
const TITLE_MAX = 255;
const OUTPUT_MAX = 65_535;
const DESCRIPTION_MAX = 140;
/** How much of a check's log a reviewer sees on GitHub (its end, where the verdict is). */
const LOG_TAIL_LINES = 60;

/** One check of a suite as GitHub shows it: running, or done with the platform's outcome. */
export interface CheckReport {
  /** The check's name (`typecheck`, `security`, …). */
  name: string;
  /** The commit checked. */
  sha: string;
  /** The dashboard's page of this check (GitHub's "Details" link). */
  detailsUrl: string;
  /** Absent while the check runs. */
  outcome?: CheckOutcome;
}

/** Where it was reported: a check run (with its id, for updates), or a commit status when checks are not allowed. */
export type Reported = { kind: 'check-run'; id: number } | { kind: 'status'; context: string };

const statusOf = (err: unknown): number | undefined =>
  typeof err === 'object' && err !== null ? (err as { status?: number }).status : undefined;

const clip = (text: string, max: number): string => (text.length <= max ? text : `${text.slice(0, max - 1)}…`);

/** The last lines of a log, within GitHub's size limit. */
export function logTail(log: string, lines = LOG_TAIL_LINES): string {
  const all = log.trimEnd().split('\n');
  const tail = all.slice(-lines).join('\n');
  const skipped = all.length - Math.min(all.length, lines);
  const text = skipped > 0 ? `… ${skipped} earlier line(s) on the dashboard\n${tail}` : tail;
  return text.length <= OUTPUT_MAX ? text : text.slice(text.length - OUTPUT_MAX);
}

/**
 * Reports a check on GitHub as a check run (title, summary, the log's tail, a details link to the dashboard), and
 * as a commit status instead when the token may not write checks (403): e.g. a fine-grained token without the
 * checks permission. `previous` updates the check run reported before.
 */
export async function reportCheck(
  octokit: Octokit,
  repo: { owner: string; repo: string },
  report: CheckReport,
  previous?: Reported,
): Promise<Reported> {
  if (previous?.kind !== 'status') {
    try {
      return await checkRun(octokit, repo, report, previous?.id);
    } catch (err) {
      if (statusOf(err) !== 403) throw err;
    }
  }
  return commitStatus(octokit, repo, report);
}

async function checkRun(
  octokit: Octokit,
  repo: { owner: string; repo: string },
  report: CheckReport,
  id: number | undefined,
): Promise<Reported> {
  const { outcome } = report;
  const fields = {
    ...repo,
    name: report.name,
    details_url: report.detailsUrl,
    external_id: `${report.name}@${report.sha}`,
    ...(outcome
      ? {
          status: 'completed' as const,
          conclusion: outcome.conclusion,
          output: {
            title: clip(outcome.summary.split('\n')[0] ?? report.name, TITLE_MAX),
            summary: clip(outcome.summary, OUTPUT_MAX),
            text: logTail(outcome.log),
          },
        }
      : { status: 'in_progress' as const }),
  };
  const run =
    id === undefined
      ? await octokit.checks.create({ ...fields, head_sha: report.sha })
      : await octokit.checks.update({ ...fields, check_run_id: id });
  return { kind: 'check-run', id: run.data.id };
}

async function commitStatus(
  octokit: Octokit,
  repo: { owner: string; repo: string },
  report: CheckReport,
): Promise<Reported> {
  const context = `bmms/${report.name}`;
  const conclusion = report.outcome?.conclusion;
  // A status has no neutral or skipped: neither blocks a merge here, so both are success there.
  const state = conclusion === undefined ? 'pending' : conclusion === 'failure' ? 'failure' : 'success';
  const description = report.outcome ? (report.outcome.summary.split('\n')[0] ?? '') : 'running';
  await octokit.repos.createCommitStatus({
    ...repo,
    sha: report.sha,
    state,
    context,
    description: clip(description, DESCRIPTION_MAX),
    target_url: report.detailsUrl,
  });
  return { kind: 'status', context };
}
