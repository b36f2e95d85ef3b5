import { Octokit } from '@octokit/rest';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { logTail, reportCheck } from '../../src/github/check-runs.ts';
import { GitHubStandIn } from './standin.ts';

const FULL = 'github_pat_checks_full_0123456789';
const NO_CHECKS = 'github_pat_checks_none_0123456789';
let github: GitHubStandIn;
const client = (token: string) => new Octokit({ auth: token, baseUrl: github.url, request: { retries: 0 } });
const repo = { owner: 'acme', repo: 'weather' };
let sha: string;

beforeAll(async () => {
  github = await new GitHubStandIn({
    tokens: { [FULL]: 'acme-bot', [NO_CHECKS]: 'acme-bot' },
    withoutChecks: [NO_CHECKS],
  }).start();
  const octokit = client(FULL);
  await octokit.repos.createInOrg({ org: 'acme', name: 'weather' });
  // An empty repository's first commit comes through the contents API, as on github.com.
  const first = await octokit.repos.createOrUpdateFileContents({
    ...repo,
    path: 'a',
    message: 'a',
    content: Buffer.from('a\n').toString('base64'),
  });
  sha = first.data.commit.sha ?? '';
}, 60_000);
afterAll(() => github.stop());
afterEach(() => expect(github.violations).toEqual([]));

describe('checks reported on GitHub', () => {
  it('as a check run: in progress, then completed with title, summary, the log tail and a details link', async () => {
    const octokit = client(FULL);
    const detailsUrl = 'https://platform.example/dashboard/servers/weather/changes/1#typecheck';
    const running = await reportCheck(octokit, repo, { name: 'typecheck', sha, detailsUrl });
    expect(running.kind).toBe('check-run');
    const log = Array.from({ length: 200 }, (_, i) => `line ${i + 1}`).join('\n');
    const done = await reportCheck(
      octokit,
      repo,
      {
        name: 'typecheck',
        sha,
        detailsUrl,
        outcome: { conclusion: 'failure', summary: '1 type error(s):\nsrc/tools/add.ts:3: TS2339 nope', log },
      },
      running,
    );
    expect(done).toEqual(running);
    const [run] = (await octokit.checks.listForRef({ ...repo, ref: sha })).data.check_runs;
    expect(run).toMatchObject({
      name: 'typecheck',
      status: 'completed',
      conclusion: 'failure',
      details_url: detailsUrl,
      output: { title: '1 type error(s):', summary: '1 type error(s):\nsrc/tools/add.ts:3: TS2339 nope' },
    });
    expect(run?.output.text?.split('\n')).toEqual([
      '… 140 earlier line(s) on the dashboard',
      ...Array.from({ length: 60 }, (_, i) => `line ${i + 141}`),
    ]);
  });

  it('as commit statuses when the token may not write checks (403), named bmms/<check>', async () => {
    const octokit = client(NO_CHECKS);
    const report = { name: 'security', sha, detailsUrl: 'https://platform.example/checks/security' };
    expect(await reportCheck(octokit, repo, report)).toEqual({ kind: 'status', context: 'bmms/security' });
    await reportCheck(octokit, repo, {
      ...report,
      outcome: { conclusion: 'failure', summary: '2 finding(s):\nsrc/x.ts:1: [no-eval] eval', log: '' },
    });
    const combined = (await octokit.repos.getCombinedStatusForRef({ ...repo, ref: sha })).data;
    expect(combined.state).toBe('failure');
    expect(combined.statuses).toEqual([
      expect.objectContaining({
        context: 'bmms/security',
        state: 'failure',
        description: '2 finding(s):',
        target_url: 'https://platform.example/checks/security',
      }),
    ]);
  });

  it('keeps a short log whole', () => {
    expect(logTail('tsc: no type errors\n')).toBe('tsc: no type errors');
  });
});
