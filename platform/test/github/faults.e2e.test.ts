import { generateKeyPairSync } from 'node:crypto';
import { Octokit } from '@octokit/rest';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { poll, TestStack } from '../harness.ts';
import { GitHubStandIn } from './standin.ts';

// Faults of a server on GitHub, on the OpenAPI-validated stand-in, connected as a GitHub App: main force-pushed
// (checked like any new head), the repository renamed and transferred (followed, by webhook and by polling), the app
// uninstalled (the server's Degraded condition says so, it keeps serving) and installed again (followed, recovered).
const PERSON = 'github_pat_person_faults_0123456';
const APP_ID = '5151';
const INSTALLATION = '88';
const keys = generateKeyPairSync('rsa', { modulusLength: 2048 });
const privateKey = keys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();

let github: GitHubStandIn;
let stack: TestStack;
let person: Octokit;
/** Where the server's repository is now. */
const at = { owner: 'acme', repo: 'tides' };

beforeAll(async () => {
  github = await new GitHubStandIn({
    tokens: { [PERSON]: 'octocat' },
    apps: {
      [APP_ID]: {
        publicKey: keys.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
        installations: { [INSTALLATION]: 'acme' },
      },
    },
  }).start();
  person = new Octokit({ auth: PERSON, baseUrl: github.url, request: { retries: 0 } });
  stack = await TestStack.start({ githubApiUrl: github.url, githubPollMs: 600_000 });
  const connected = await stack.api('PUT', '/api/v1/github/connection', {
    appId: APP_ID,
    privateKey,
    installationId: INSTALLATION,
    webhookSecret: 'faults-webhook-secret-0123456789',
  });
  expect(connected.status).toBe(200);
  github.webhook = { url: String(connected.body.webhookUrl), secret: 'faults-webhook-secret-0123456789' };
}, 120_000);
afterAll(async () => {
  await stack?.destroy();
  await github?.stop();
});
afterEach(() => expect(github.violations).toEqual([]));

type Condition = { type: string; status: string; reason: string; message: string };
type ServerView = { observedRevision: string; conditions: Condition[]; github: { owner: string; repo: string } };

const serverView = async () => (await stack.api<ServerView>('GET', '/api/v1/servers/tides')).body;

/** A person's commit on GitHub whose parent is `parent`, changing one file; main is moved to it (forced or not). */
async function commitOnMain(parent: string, file: string, content: string, message: string, force: boolean) {
  const base = await person.git.getCommit({ ...at, commit_sha: parent });
  const blob = await person.git.createBlob({ ...at, content, encoding: 'utf-8' });
  const tree = await person.git.createTree({
    ...at,
    base_tree: base.data.tree.sha,
    tree: [{ path: file, mode: '100644', type: 'blob', sha: blob.data.sha }],
  });
  const commit = await person.git.createCommit({ ...at, message, tree: tree.data.sha, parents: [parent] });
  await person.git.updateRef({ ...at, ref: 'heads/main', sha: commit.data.sha, force });
  return commit.data.sha;
}

const mainHead = async () => (await person.git.getRef({ ...at, ref: 'heads/main' })).data.object.sha;

/** Answers the MCP client's tools/list: the server still serves. */
async function stillServes(): Promise<void> {
  const client = await stack.mcpClient(`${stack.url}/s/tides/mcp`);
  expect((await client.listTools()).tools.map((t) => t.name)).toContain('echo');
  await client.close();
}

describe('a server on GitHub when things happen to its repository', () => {
  it('is created, checked, merged on GitHub and deployed', async () => {
    const created = await stack.api('POST', '/api/v1/servers', {
      name: 'tides',
      template: 'echo',
      github: { owner: 'acme' },
    });
    expect(created.status).toBe(201);
    expect((await stack.waitChecks('tides', 1, 240_000)).checkSuite.conclusion).toBe('success');
    const merged = await person.pulls.merge({ ...at, pull_number: 1 });
    await stack.waitReady('tides', merged.data.sha, 240_000);
  }, 360_000);

  it('treats a force-push to main like any new head: a failing one is not deployed, a green one is', async () => {
    const serving = (await serverView()).observedRevision;
    // History rewritten: the new head's parent is the change's head, not the merge commit that is serving.
    const [, changeHead] = (await person.git.getCommit({ ...at, commit_sha: await mainHead() })).data.parents;
    const broken = await commitOnMain(
      changeHead?.sha ?? '',
      'src/tools/echo.ts',
      'export const broken: number = "text";\n',
      'Rewrite echo',
      true,
    );
    const stalled = await stack.waitCondition('tides', 'Stalled', 'ChecksFailed', 240_000);
    expect(stalled.conditions.find((c) => c.type === 'Stalled')?.message).toContain(
      `checks failed on ${broken.slice(0, 7)}`,
    );
    expect(stalled.observedRevision).toBe(serving);
    await stillServes();

    const green = await commitOnMain(serving, 'README.md', '# tides\n\nForce-pushed.\n', 'Note', true);
    expect(await mainHead()).toBe(green);
    const ready = await stack.waitReady('tides', green, 240_000);
    expect(ready.observedRevision).toBe(green);
  }, 600_000);

  it('follows its repository renamed and transferred on GitHub (by webhook), and keeps deploying from it', async () => {
    github.renameRepo('acme', 'tides', 'tides-api');
    await github.settled();
    expect((await serverView()).github).toMatchObject({ owner: 'acme', repo: 'tides-api' });
    // GitHub redirects the old name: 301 for a read, followed.
    expect((await person.repos.get({ owner: 'acme', repo: 'tides' })).data.full_name).toBe('acme/tides-api');

    github.transferRepo('acme', 'tides-api', 'globex');
    await github.settled();
    expect((await serverView()).github).toMatchObject({
      owner: 'globex',
      repo: 'tides-api',
      url: 'https://github.com/globex/tides-api',
    });
    Object.assign(at, { owner: 'globex', repo: 'tides-api' });
    const pushed = await commitOnMain(await mainHead(), 'README.md', '# tides\n\nMoved.\n', 'Moved', false);
    await stack.waitReady('tides', pushed, 240_000);

    const audit = await stack.api<{ events: { action: string; data: Record<string, unknown> }[] }>(
      'GET',
      '/api/v1/audit?action=github.repository_moved',
    );
    expect(audit.body.events.map((e) => e.data).reverse()).toEqual([
      { server: 'tides', from: 'acme/tides', to: 'acme/tides-api' },
      { server: 'tides', from: 'acme/tides-api', to: 'globex/tides-api' },
    ]);
  }, 360_000);

  it('follows a rename it was not told about, by polling (GitHub redirects the old name)', async () => {
    const hook = github.webhook;
    github.webhook = null;
    github.renameRepo('globex', 'tides-api', 'tides');
    Object.assign(at, { repo: 'tides' });
    await stack.platform.githubPoller.pollOnce();
    expect((await serverView()).github).toMatchObject({ owner: 'globex', repo: 'tides' });
    github.webhook = hook;
    const pushed = await commitOnMain(await mainHead(), 'README.md', '# tides\n\nRenamed again.\n', 'Again', false);
    await stack.waitReady('tides', pushed, 240_000);
  }, 300_000);

  it('says so when the app is uninstalled, keeps serving, and follows it when installed again', async () => {
    const serving = (await serverView()).observedRevision;
    github.uninstall(INSTALLATION);
    const degraded = await poll(
      async () => {
        const c = (await serverView()).conditions.find((x) => x.type === 'Degraded');
        return c?.status === 'True' && c.reason === 'RepositoryUnreachable' ? c : undefined;
      },
      60_000,
      'Degraded (RepositoryUnreachable)',
    );
    expect(degraded.message).toContain(`app installation ${INSTALLATION}`);
    expect(degraded.message).toContain('uninstalled');
    expect(degraded.message).toContain(`still serving ${serving.slice(0, 7)}`);
    expect(String((await stack.api('GET', '/api/v1/github/connection')).body.problem)).toContain('uninstalled');
    await stillServes();

    const installation = github.install(APP_ID, 'acme');
    await github.settled();
    const connection = await stack.api('GET', '/api/v1/github/connection');
    expect(connection.body).toMatchObject({ kind: 'app', installationId: installation, problem: null });
    await poll(
      async () => (await serverView()).conditions.find((x) => x.type === 'Degraded' && x.status === 'False'),
      60_000,
      'Degraded=False',
    );
    const pushed = await commitOnMain(await mainHead(), 'README.md', '# tides\n\nReinstalled.\n', 'Back', false);
    await stack.waitReady('tides', pushed, 240_000);
    const audit = await stack.api<{ events: { data: Record<string, unknown> }[] }>(
      'GET',
      '/api/v1/audit?action=github.reinstalled',
    );
    expect(audit.body.events[0]?.data).toEqual({
      account: 'acme',
      installationId: installation,
      replaced: INSTALLATION,
    });
  }, 360_000);
});
