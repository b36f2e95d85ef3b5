import { createHmac } from 'node:crypto';
import { Octokit } from '@octokit/rest';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { poll, TestStack } from '../harness.ts';
import { GitHubStandIn } from './standin.ts';

// The whole loop of a server on GitHub, on the OpenAPI-validated stand-in: the pull request gets check runs and a
// description with the results, a person merges it through GitHub's API as github.com would, GitHub delivers the
// webhooks, the platform deploys the merge. Forged and replayed deliveries change nothing. With webhooks off,
// polling with ETags converges the same way.
const TOKEN = 'github_pat_loop_0123456789abcdef';
const PERSON = 'github_pat_person_loop_012345678';

let github: GitHubStandIn;
let stack: TestStack;
let person: Octokit;
let hookUrl = '';
let hookSecret = '';

beforeAll(async () => {
  github = await new GitHubStandIn({ tokens: { [TOKEN]: 'acme-dev', [PERSON]: 'octocat' } }).start();
  person = new Octokit({ auth: PERSON, baseUrl: github.url, request: { retries: 0 } });
  // Polling runs too, but only every 10 minutes here: what converges below came by webhook.
  stack = await TestStack.start({ githubApiUrl: github.url, githubPollMs: 600_000 });
  const connected = await stack.api('PUT', '/api/v1/github/connection', { token: TOKEN });
  expect(connected.status).toBe(200);
  hookUrl = String(connected.body.webhookUrl);
  hookSecret = String(connected.body.webhookSecret);
  github.webhook = { url: hookUrl, secret: hookSecret };
}, 120_000);
afterAll(async () => {
  await stack?.destroy();
  await github?.stop();
});
afterEach(() => expect(github.violations).toEqual([]));

/** The stand-in's check runs of a commit, by name. */
function checkRuns(repo: string, sha: string) {
  const state = github.repos.get(`acme/${repo}`);
  return new Map((state?.checkRuns ?? []).filter((r) => r.headSha === sha).map((r) => [r.name, r]));
}

/** Posts a delivery to the platform as GitHub would (or as a forger would). */
function post(body: string, headers: Record<string, string>) {
  return fetch(hookUrl, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
}

describe('a server on GitHub, from pull request to deploy', () => {
  let head = '';

  it('reports every check as a check run of the pull request and writes the results into its description', async () => {
    const created = await stack.api<{ change: { head: string } }>('POST', '/api/v1/servers', {
      name: 'loop',
      template: 'echo',
      github: { owner: 'acme' },
    });
    expect(created.status).toBe(201);
    head = created.body.change.head;
    const change = await stack.waitChecks('loop', 1, 240_000);
    expect(change.checkSuite.conclusion).toBe('success');
    const names = change.checks.map((c) => c.name);
    const runs = await poll(
      async () => {
        const r = checkRuns('loop', head);
        return names.every((n) => r.get(n)?.status === 'completed') ? r : undefined;
      },
      30_000,
      'every check reported on GitHub',
    );
    for (const name of names) {
      expect(runs.get(name)).toMatchObject({ conclusion: expect.stringMatching(/^(success|neutral|skipped)$/) });
      expect(runs.get(name)?.detailsUrl).toBe(`${stack.url}/servers/loop/changes/1/#check-${name}`);
    }
    const [pull] = (await person.pulls.list({ owner: 'acme', repo: 'loop' })).data;
    const body = await poll(
      async () => {
        const text = (await person.pulls.get({ owner: 'acme', repo: 'loop', pull_number: pull?.number ?? 1 })).data
          .body;
        return text?.includes('| `typecheck` | ✅ success') ? text : undefined;
      },
      30_000,
      'the pull request description with the check results',
    );
    expect(body).toContain('| `preview` | ✅ success');
    expect(body).toContain(`${stack.url}/s/loop--pr-1/mcp`);
    expect(body).toContain('### Tool surface\n\n```diff\nTool surface against base');
    expect(body).toContain('+ added `echo` (text: string)');
  }, 300_000);

  it('refuses a forged delivery and a replayed one; neither changes anything', async () => {
    const body = JSON.stringify({
      ref: 'refs/heads/main',
      before: head,
      after: head,
      repository: { name: 'loop', owner: { login: 'acme' } },
    });
    const forged = await post(body, {
      'x-github-event': 'push',
      'x-github-delivery': 'forged-1',
      'x-hub-signature-256': `sha256=${createHmac('sha256', 'not-the-secret').update(body).digest('hex')}`,
    });
    expect(forged.status).toBe(401);
    expect(await forged.json()).toMatchObject({ error: { code: 'github_webhook_unverified' } });

    const earlier = github.deliveries.find((d) => d.status === 202);
    if (!earlier) throw new Error('no delivery reached the platform yet');
    const replayed = await post(earlier.body, {
      'x-github-event': earlier.event,
      'x-github-delivery': earlier.id,
      'x-hub-signature-256': earlier.signature,
    });
    expect(replayed.status).toBe(409);
    expect(await replayed.json()).toMatchObject({ error: { code: 'webhook_replayed' } });
    const server = await stack.api<{ desiredRevision: string | null }>('GET', '/api/v1/servers/loop');
    expect(server.body.desiredRevision).not.toBe(head);
  });

  it('deploys what a person merges on GitHub, through the webhook', async () => {
    const merged = await person.pulls.merge({ owner: 'acme', repo: 'loop', pull_number: 1 });
    const ready = await stack.waitReady('loop', merged.data.sha, 120_000);
    expect(ready.observedRevision).toBe(merged.data.sha);
    await github.settled();
    expect(github.deliveries.filter((d) => d.event === 'push' || d.event === 'pull_request').at(-1)?.status).toBe(202);
    const change = await stack.api<{ state: string; mergeSha: string }>('GET', '/api/v1/servers/loop/changes/1');
    expect(change.body).toMatchObject({ state: 'merged', mergeSha: merged.data.sha });
    const client = await stack.mcpClient(`${stack.url}/s/loop/mcp`);
    expect((await client.listTools()).tools.length).toBeGreaterThan(0);
    await client.close();
  }, 180_000);

  it('takes a pull request someone opened on GitHub as a change: checked and reported on it', async () => {
    const at = { owner: 'acme', repo: 'loop' };
    const main = (await person.git.getRef({ ...at, ref: 'heads/main' })).data.object.sha;
    const parent = await person.git.getCommit({ ...at, commit_sha: main });
    const blob = await person.git.createBlob({ ...at, content: '# loop\n\nEdited on GitHub.\n', encoding: 'utf-8' });
    const tree = await person.git.createTree({
      ...at,
      base_tree: parent.data.tree.sha,
      tree: [{ path: 'README.md', mode: '100644', type: 'blob', sha: blob.data.sha }],
    });
    const commit = await person.git.createCommit({
      ...at,
      message: 'Edit the README',
      tree: tree.data.sha,
      parents: [main],
    });
    await person.git.createRef({ ...at, ref: 'refs/heads/person-edit', sha: commit.data.sha });
    const pull = await person.pulls.create({
      ...at,
      head: 'person-edit',
      base: 'main',
      title: 'Edit the README',
      body: 'Says more.',
    });
    const change = await poll(
      async () => {
        const r = await stack.api<{
          changes: { number: number; branch: string; pullRequest: { number: number } | null }[];
        }>('GET', '/api/v1/servers/loop/changes');
        return r.body.changes.find((c) => c.branch === 'person-edit');
      },
      30_000,
      'the change of the pull request opened on GitHub',
    );
    expect(change.pullRequest?.number).toBe(pull.data.number);
    const checked = await stack.waitChecks('loop', change.number, 240_000);
    expect(checked.checkSuite.conclusion).toBe('success');
    await poll(
      async () => (checkRuns('loop', commit.data.sha).get('typecheck')?.status === 'completed' ? true : undefined),
      30_000,
      'typecheck reported on the pull request',
    );
    // Closed on GitHub: the change closes.
    await person.pulls.update({ ...at, pull_number: pull.data.number, state: 'closed' });
    await poll(
      async () => {
        const r = await stack.api<{ state: string }>('GET', `/api/v1/servers/loop/changes/${change.number}`);
        return r.body.state === 'closed' ? true : undefined;
      },
      30_000,
      'the change closed with its pull request',
    );
  }, 300_000);

  it('re-runs a check when someone re-runs its check run on GitHub', async () => {
    const run = checkRuns('loop', head).get('typecheck');
    if (!run) throw new Error('no typecheck check run');
    const before = github.repos.get('acme/loop')?.checkRuns.length ?? 0;
    github.rerequest('acme', 'loop', run.id);
    await github.settled();
    expect(github.deliveries.at(-1)).toMatchObject({ event: 'check_run', status: 202 });
    await poll(
      async () => {
        const runs = github.repos.get('acme/loop')?.checkRuns ?? [];
        const again = runs.slice(before).filter((r) => r.name === 'typecheck' && r.headSha === head);
        return again.some((r) => r.status === 'completed') ? true : undefined;
      },
      120_000,
      'typecheck re-run and reported again',
    );
  }, 180_000);
});

/** A person's commit straight onto main on GitHub (blob → tree → commit → ref), changing one file. */
async function pushToMain(repo: string, file: string, content: string, message: string): Promise<string> {
  const at = { owner: 'acme', repo };
  const main = (await person.git.getRef({ ...at, ref: 'heads/main' })).data.object.sha;
  const parent = await person.git.getCommit({ ...at, commit_sha: main });
  const blob = await person.git.createBlob({ ...at, content, encoding: 'utf-8' });
  const tree = await person.git.createTree({
    ...at,
    base_tree: parent.data.tree.sha,
    tree: [{ path: file, mode: '100644', type: 'blob', sha: blob.data.sha }],
  });
  const commit = await person.git.createCommit({ ...at, message, tree: tree.data.sha, parents: [main] });
  await person.git.updateRef({ ...at, ref: 'heads/main', sha: commit.data.sha });
  return commit.data.sha;
}

describe('a direct push to main on GitHub, and rolling back through GitHub', () => {
  let serving = '';

  it('checks a direct push that fails a check and deploys nothing: the previous revision keeps serving', async () => {
    serving = String(
      (await stack.api<{ observedRevision: string }>('GET', '/api/v1/servers/loop')).body.observedRevision,
    );
    const broken = await pushToMain(
      'loop',
      'src/tools/echo.ts',
      'export const broken: number = "text";\n',
      'Break echo',
    );
    const stalled = await stack.waitCondition('loop', 'Stalled', 'ChecksFailed', 240_000);
    const condition = stalled.conditions.find((c) => c.type === 'Stalled');
    expect(condition?.message).toContain(`checks failed on ${broken.slice(0, 7)}`);
    expect(condition?.message).toContain('typecheck');
    expect(stalled.observedRevision).toBe(serving);
    const client = await stack.mcpClient(`${stack.url}/s/loop/mcp`);
    expect((await client.listTools()).tools.map((t) => t.name)).toContain('echo');
    await client.close();
  }, 300_000);

  it('reverts through GitHub: POST /revert adds the revert commit to main there, and the server rolls back', async () => {
    const head = (await person.git.getRef({ owner: 'acme', repo: 'loop', ref: 'heads/main' })).data.object.sha;
    const reverted = await stack.api<{ sha: string; reverted: string }>('POST', '/api/v1/servers/loop/revert', {});
    expect(reverted.status).toBe(201);
    expect(reverted.body.reverted).toBe(head);
    const main = (await person.git.getRef({ owner: 'acme', repo: 'loop', ref: 'heads/main' })).data.object.sha;
    expect(main).toBe(reverted.body.sha);
    const commit = await person.git.getCommit({ owner: 'acme', repo: 'loop', commit_sha: main });
    expect(commit.data.parents.map((p) => p.sha)).toEqual([head]);
    const servingTree = (await person.git.getCommit({ owner: 'acme', repo: 'loop', commit_sha: serving })).data.tree
      .sha;
    expect(commit.data.tree.sha).toBe(servingTree);
    await stack.waitReady('loop', reverted.body.sha, 120_000);
  }, 180_000);

  it('reverts by pull request when main is protected on GitHub, and deploys its merge', async () => {
    const readme = await pushToMain('loop', 'README.md', '# loop\n\nA note.\n', 'Add a note');
    await stack.waitReady('loop', readme, 240_000);
    github.protect('acme', 'loop', 'main');
    const reverted = await stack.api<{ sha: string; reverted: string }>('POST', '/api/v1/servers/loop/revert', {});
    expect(reverted.status).toBe(201);
    expect(reverted.body.reverted).toBe(readme);
    const pulls = (await person.pulls.list({ owner: 'acme', repo: 'loop', state: 'closed' })).data;
    const revertPull = pulls.find((p) => p.title === `Revert ${readme.slice(0, 7)}`);
    expect(revertPull).toMatchObject({ merged_at: expect.any(String), merge_commit_sha: reverted.body.sha });
    expect((await person.git.getRef({ owner: 'acme', repo: 'loop', ref: 'heads/main' })).data.object.sha).toBe(
      reverted.body.sha,
    );
    await stack.waitReady('loop', reverted.body.sha, 120_000);
  }, 360_000);
});

describe('with webhooks off, polling with ETags', () => {
  it('still merges the change and deploys what was merged on GitHub', async () => {
    github.webhook = null;
    const created = await stack.api('POST', '/api/v1/servers', {
      name: 'quiet',
      template: 'echo',
      github: { owner: 'acme' },
    });
    expect(created.status).toBe(201);
    await stack.waitChecks('quiet', 1, 240_000);
    const merged = await person.pulls.merge({ owner: 'acme', repo: 'quiet', pull_number: 1 });
    const sent = github.deliveries.length;
    await stack.platform.githubPoller.pollOnce();
    const ready = await stack.waitReady('quiet', merged.data.sha, 120_000);
    expect(ready.observedRevision).toBe(merged.data.sha);
    expect((await stack.api('GET', '/api/v1/servers/quiet/changes/1')).body).toMatchObject({ state: 'merged' });
    // Nothing was delivered; the next pass finds nothing new and GitHub answers 304 to its conditional requests.
    expect(github.deliveries.length).toBe(sent);
    const before = github.notModified;
    await stack.platform.githubPoller.pollOnce();
    expect(github.notModified).toBeGreaterThan(before);
  }, 300_000);
});

describe('faults: a revoked token, a deleted repository', () => {
  /** The server's Degraded condition, once it matches. */
  const degraded = (server: string, status: 'True' | 'False', reason?: string) =>
    poll(
      async () => {
        const r = await stack.api<{ conditions: { type: string; status: string; reason: string; message: string }[] }>(
          'GET',
          `/api/v1/servers/${server}`,
        );
        const c = r.body.conditions.find((x) => x.type === 'Degraded');
        return c && c.status === status && (reason === undefined || c.reason === reason) ? c : undefined;
      },
      60_000,
      `${server}: Degraded=${status}${reason ? ` (${reason})` : ''}`,
    );

  it('says so in the conditions when GitHub refuses the token, keeps serving, and recovers when reconnected', async () => {
    const serving = String((await stack.api('GET', '/api/v1/servers/quiet')).body.observedRevision);
    github.revoke(TOKEN);
    const pushed = await pushToMain('quiet', 'README.md', '# quiet\n\nWhile the token was revoked.\n', 'Note');
    const condition = await degraded('quiet', 'True', 'RepositoryUnreachable');
    expect(condition.message).toContain('401');
    expect(condition.message).toContain(`still serving ${serving.slice(0, 7)}`);
    const connection = await stack.api('GET', '/api/v1/github/connection');
    expect(String(connection.body.problem)).toContain('401');
    const client = await stack.mcpClient(`${stack.url}/s/quiet/mcp`);
    expect((await client.listTools()).tools.length).toBeGreaterThan(0);
    await client.close();

    const renewed = 'github_pat_loop_renewed_0123456789';
    github.addToken(renewed, 'acme-dev');
    expect((await stack.api('PUT', '/api/v1/github/connection', { token: renewed })).status).toBe(200);
    await stack.waitReady('quiet', pushed, 240_000);
    await degraded('quiet', 'False');
    expect((await stack.api('GET', '/api/v1/github/connection')).body).toMatchObject({ problem: null });
  }, 360_000);

  it('says so when the repository is deleted on GitHub, and keeps serving', async () => {
    const serving = String((await stack.api('GET', '/api/v1/servers/quiet')).body.observedRevision);
    github.deleteRepo('acme', 'quiet');
    const condition = await degraded('quiet', 'True', 'RepositoryUnreachable');
    expect(condition.message).toContain('acme/quiet is gone');
    const client = await stack.mcpClient(`${stack.url}/s/quiet/mcp`);
    expect((await client.listTools()).tools.length).toBeGreaterThan(0);
    await client.close();
    expect(String((await stack.api('GET', '/api/v1/servers/quiet')).body.observedRevision)).toBe(serving);
  }, 120_000);
});
