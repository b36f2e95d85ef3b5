import type { PreviewEndpoint } from '../../previews.ts';
import type { Recording, ReplaySettingsView } from '../../replay/types.ts';
import { callPreview } from '../contract/call.ts';
import { show } from '../contract/index.ts';
import type { Check, CheckOutcome } from '../types.ts';
import { canonical, previewComparable, recordedComparable, sameComparable } from './compare.ts';

/** What the replay check reads and calls. */
export interface ReplayDeps {
  /** The preview serving the checked tree, or why there is none. */
  endpoint(serverName: string, commitSha: string): Promise<PreviewEndpoint | string>;
  /** The server's consent, its recordings (opened) and its secret values, or why there are none. */
  sample(
    serverName: string,
  ): Promise<{ settings: ReplaySettingsView; recordings: Recording[]; secrets: string[] } | string>;
  /** Runs a call while the previews of the tree answer upstream requests with the recorded exchanges. */
  serving<T>(
    serverName: string,
    tree: string,
    exchanges: Recording['exchanges'],
    secrets: readonly string[],
    call: () => Promise<T>,
  ): Promise<T>;
}

export interface ReplayOptions {
  /** Time per replayed call (default 30 s). */
  callTimeoutMs?: number;
  /** Calls are no longer replayed once the run took this long (default 90 s). */
  budgetMs?: number;
}

/** How many differing calls the summary shows (all are in the log). */
const SHOWN = 20;

interface Difference {
  recording: Recording;
  recorded: string;
  now: string;
}

/**
 * `replay`: the calls recorded in production (with the owner's consent) are sent again to the preview, which gets
 * the upstream answers recorded with them through its egress listener; every call that answers differently is
 * listed with both answers. Differences never block a merge (`neutral`): they are what a reviewer reads first.
 */
export function replayCheck(deps: ReplayDeps, after: string[], options: ReplayOptions = {}): Check {
  const budgetMs = options.budgetMs ?? 90_000;
  return {
    name: 'replay',
    after,
    timeoutMs: budgetMs + 30_000,
    async run(input): Promise<CheckOutcome> {
      const sample = await deps.sample(input.serverName);
      if (typeof sample === 'string') return skipped(`no replay: ${sample}`);
      // Nothing recorded is nothing that could answer differently: a pass, as a views check with no view is.
      if (sample.recordings.length === 0) {
        return nothing(
          sample.settings.enabled
            ? 'nothing to replay: no production call is recorded yet (recording is on)'
            : 'nothing to replay: recording of production calls is off for this server (the owner turns it on in its settings)',
        );
      }
      input.progress?.('waiting for the preview');
      const endpoint = await deps.endpoint(input.serverName, input.commitSha);
      if (typeof endpoint === 'string') return skipped(`no replay: ${endpoint}`);
      const tree = await input.git.treeOf(input.serverName, input.commitSha);
      const deadline = Date.now() + budgetMs;
      const differences: Difference[] = [];
      const log: string[] = [];
      let replayed = 0;
      for (const recording of sample.recordings) {
        if (input.signal.aborted || Date.now() > deadline) break;
        input.progress?.(`replaying call ${replayed + 1} of ${sample.recordings.length} (${recording.tool})`);
        const answer = await deps.serving(input.serverName, tree, recording.exchanges, sample.secrets, () =>
          callPreview(endpoint, recording.tool, recording.arguments, options.callTimeoutMs ?? 30_000),
        );
        replayed++;
        const recorded = recordedComparable(recording.answer);
        const now = previewComparable(answer, sample.secrets);
        const same = sameComparable(recorded, now);
        log.push(
          `${same ? '=' : '≠'} ${recording.tool} ${show(recording.arguments)} (recorded ${recording.recordedAt.toISOString()} at ${recording.revision.slice(0, 7)})`,
        );
        if (!same) {
          differences.push({ recording, recorded: canonical(recorded), now: canonical(now) });
          log.push(`    recorded: ${canonical(recorded)}`, `    now:      ${canonical(now)}`);
        }
      }
      return outcome(replayed, sample.recordings.length, differences, log);
    },
  };
}

function nothing(summary: string): CheckOutcome {
  return { conclusion: 'success', summary, log: `${summary}\n` };
}

function skipped(summary: string): CheckOutcome {
  return { conclusion: 'skipped', summary, log: `${summary}\n` };
}

function outcome(replayed: number, total: number, differences: Difference[], log: string[]): CheckOutcome {
  const unsent = replayed < total ? ` (${total - replayed} not replayed: time ran out)` : '';
  if (differences.length === 0) {
    const summary = `no difference in ${replayed} replayed call${replayed === 1 ? '' : 's'}${unsent}`;
    return { conclusion: 'success', summary, log: `${summary}\n\n${log.join('\n')}\n` };
  }
  const lines = differences
    .slice(0, SHOWN)
    .map(
      (d) =>
        `${d.recording.tool} ${show(d.recording.arguments)}\n  recorded: ${clip(d.recorded)}\n  now:      ${clip(d.now)}`,
    );
  if (differences.length > SHOWN) lines.push(`… and ${differences.length - SHOWN} more (see the log)`);
  const summary = `${differences.length} of ${replayed} replayed call(s) answer differently${unsent}:\n${lines.join('\n')}`;
  return { conclusion: 'neutral', summary, log: `${summary}\n\n${log.join('\n')}\n` };
}

function clip(text: string): string {
  return text.length > 600 ? `${text.slice(0, 599)}…` : text;
}
