import { generateKeyPairSync } from 'node:crypto';
import { Octokit } from '@octokit/rest';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TestStack } from '../harness.ts';
import { GitHubStandIn } from './standin.ts';

// A server created "in GitHub": the org connects GitHub (a token, or an app installation), POST /servers with
// "github" creates the repository there, writes the first commit and the change's branch through the Git data API
// and opens the pull request, all on the OpenAPI-validated stand-in.
const TOKEN = 'github_pat_e2e_0123456789abcdef';
const PERSON = 'github_pat_person_0123456789abcd';
const APP_ID = '4242';
const INSTALLATION = '77';
const keys = generateKeyPairSync('rsa', { modulusLength: 2048 });
const privateKey = keys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();

let github: GitHubStandIn;
let stack: TestStack;
/** The stand-in as someone on github.com sees it (their own token). */
let person: Octokit;

beforeAll(async () => {
  github = await new GitHubStandIn({
    tokens: { [TOKEN]: 'acme-dev', [PERSON]: 'octocat' },
    // Repositories of globex start on "master" (an account setting on github.com).
    defaultBranches: { globex: 'master' },
    apps: {
      [APP_ID]: {
        publicKey: keys.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
        installations: { [INSTALLATION]: 'acme' },
      },
    },
  }).start();
  person = new Octokit({ auth: PERSON, baseUrl: github.url, request: { retries: 0 } });
  stack = await TestStack.start({ githubApiUrl: github.url });
}, 120_000);
afterAll(async () => {
  await stack?.destroy();
  await github?.stop();
});
afterEach(() => expect(github.violations).toEqual([]));

describe('servers in GitHub', () => {
  it('is not connected until an admin connects it; a refused token changes nothing', async () => {
    const before = await stack.api('GET', '/api/v1/github/connection');
    expect(before.status).toBe(200);
    expect(before.body).toMatchObject({ connected: false, login: null, apiUrl: github.url });
    expect(String(before.body.webhookUrl)).toMatch(/\/github\/webhooks\/[0-9a-f-]{36}$/);

    const early = await stack.api('POST', '/api/v1/servers', {
      name: 'early',
      template: 'echo',
      github: { owner: 'acme' },
    });
    expect(early.status).toBe(409);
    expect(early.body).toMatchObject({ error: { code: 'github_not_connected' } });
    expect((await stack.api('GET', '/api/v1/servers/early')).status).toBe(404);

    const refused = await stack.api('PUT', '/api/v1/github/connection', { token: 'github_pat_not_a_real_one' });
    expect(refused.status).toBe(400);
    expect(refused.body).toMatchObject({ error: { code: 'github_credentials_refused' } });
    expect(String((refused.body as { error: { message: string } }).error.message)).toContain('401 Bad credentials');
    expect((await stack.api('GET', '/api/v1/github/connection')).body).toMatchObject({ connected: false });
  });

  it('connects with a token, stored encrypted and shown only as "connected as …"', async () => {
    const connected = await stack.api('PUT', '/api/v1/github/connection', { token: TOKEN });
    expect(connected.status).toBe(200);
    expect(connected.body).toMatchObject({ connected: true, kind: 'token', login: 'acme-dev', problem: null });
    expect(String(connected.body.webhookSecret).length).toBeGreaterThanOrEqual(24);

    const shown = await stack.api('GET', '/api/v1/github/connection');
    expect(shown.body).toMatchObject({ connected: true, kind: 'token', login: 'acme-dev' });
    expect(JSON.stringify(shown.body)).not.toContain(TOKEN);
    expect(shown.body).not.toHaveProperty('webhookSecret');

    const row = await stack.platform.ctx.db.gitHubConnection.findFirstOrThrow();
    for (const stored of [row.ciphertext, row.webhookCiphertext]) {
      expect(Buffer.from(stored).toString('latin1')).not.toContain(TOKEN);
      expect(Buffer.from(stored).toString('latin1')).not.toContain(String(connected.body.webhookSecret));
    }
    const audit = await stack.api<{ events: { action: string; data: Record<string, unknown> }[] }>(
      'GET',
      '/api/v1/audit?action=github.connect',
    );
    expect(audit.body.events[0]).toMatchObject({
      action: 'github.connect',
      data: { kind: 'token', login: 'acme-dev' },
    });
    expect(JSON.stringify(audit.body)).not.toContain(TOKEN);
  });

  it('creates the server in GitHub: repository, first commit on main, the change on a branch, a pull request', async () => {
    const created = await stack.api<{
      server: { github: unknown; gitUrl: string };
      change: { number: number; head: string; pullRequest: { number: number } | null };
    }>('POST', '/api/v1/servers', { name: 'weather', template: 'echo', github: { owner: 'acme' } });
    expect(created.status).toBe(201);
    expect(created.body.server.github).toEqual({
      owner: 'acme',
      repo: 'weather',
      url: 'https://github.com/acme/weather',
    });
    expect(created.body.server.gitUrl).toBe('https://github.com/acme/weather.git');
    expect(created.body.change.pullRequest).toEqual({ number: 1, url: 'https://github.com/acme/weather/pull/1' });

    const repo = await person.repos.get({ owner: 'acme', repo: 'weather' });
    expect(repo.data.private).toBe(true);
    const [pull] = (await person.pulls.list({ owner: 'acme', repo: 'weather', state: 'open' })).data;
    expect(pull).toMatchObject({ number: 1, title: 'Create weather from the echo template' });
    expect(pull?.head.ref).toBe('bmms/init');
    expect(pull?.head.sha).toBe(created.body.change.head);
    expect(pull?.base.ref).toBe('main');
    const body = pull?.body ?? '';
    expect(body).toContain('Renders the `echo` template');
    expect(body).toContain('### Tool surface');
    expect(body).toContain('### Checks');
    expect(body).toContain(`claude mcp add --transport http weather ${stack.url}/s/weather/mcp`);
    expect(body).toContain(`${stack.url}/servers/weather/changes/1/`);

    // The files are on GitHub, one commit on top of the empty first commit of main.
    const branch = await person.git.getRef({ owner: 'acme', repo: 'weather', ref: 'heads/bmms/init' });
    const commit = await person.git.getCommit({ owner: 'acme', repo: 'weather', commit_sha: branch.data.object.sha });
    const main = await person.git.getRef({ owner: 'acme', repo: 'weather', ref: 'heads/main' });
    expect(commit.data.parents.map((p) => p.sha)).toEqual([main.data.object.sha]);
    // Main's history is the platform's root commit alone (the contents API's seed of the empty repository is gone),
    // and the repository has main and the change's branch, nothing else.
    const root = await person.git.getCommit({ owner: 'acme', repo: 'weather', commit_sha: main.data.object.sha });
    expect(root.data).toMatchObject({ message: 'Initialize repository', parents: [] });
    expect(root.data.tree.sha).toBe('4b825dc642cb6eb9a060e54bf8d69288fbee4904');
    const heads = await person.git.listMatchingRefs({ owner: 'acme', repo: 'weather', ref: 'heads/' });
    expect(heads.data.map((r) => r.ref)).toEqual(['refs/heads/bmms/init', 'refs/heads/main']);
    const tree = await person.git.getTree({
      owner: 'acme',
      repo: 'weather',
      tree_sha: commit.data.tree.sha,
      recursive: '1',
    });
    expect(tree.data.tree.map((e) => e.path)).toEqual(
      expect.arrayContaining(['mcp.json', 'src/server.ts', 'package.json']),
    );
    // Nothing is in the platform's own store.
    expect(await stack.platform.ctx.git.github('weather')).not.toBeNull();
  });

  it('checks the change from GitHub', async () => {
    const change = await stack.waitChecks('weather', 1, 240_000);
    expect(change.checkSuite.conclusion).toBe('success');
  }, 300_000);

  it('adopts an existing empty repository and refuses one with commits', async () => {
    const admin = new Octokit({ auth: TOKEN, baseUrl: github.url, request: { retries: 0 } });
    await admin.repos.createInOrg({ org: 'globex', name: 'empty-one' });
    const at = { owner: 'globex', repo: 'empty-one' };
    expect((await person.repos.get(at)).data.default_branch).toBe('master');
    const adopted = await stack.api('POST', '/api/v1/servers', {
      name: 'adopted',
      template: 'echo',
      github: { owner: 'globex', repo: 'empty-one', private: false },
    });
    expect(adopted.status).toBe(201);
    expect(adopted.body).toMatchObject({ server: { github: { owner: 'globex', repo: 'empty-one' } } });
    // Its default branch was "master": main is now the default, and the seed's branch is gone.
    expect((await person.repos.get(at)).data.default_branch).toBe('main');
    const heads = await person.git.listMatchingRefs({ ...at, ref: 'heads/' });
    expect(heads.data.map((r) => r.ref)).toEqual(['refs/heads/bmms/init', 'refs/heads/main']);
    const main = heads.data.find((r) => r.ref === 'refs/heads/main')?.object.sha ?? '';
    expect((await person.git.getCommit({ ...at, commit_sha: main })).data.parents).toEqual([]);

    const taken = await stack.api('POST', '/api/v1/servers', {
      name: 'second',
      template: 'echo',
      github: { owner: 'acme', repo: 'weather' },
    });
    expect(taken.status).toBe(409);
    expect(taken.body).toMatchObject({ error: { code: 'github_repo_not_empty' } });
    expect(String((taken.body as { error: { message: string } }).error.message)).toContain('acme/weather');
    expect((await stack.api('GET', '/api/v1/servers/second')).status).toBe(404);

    const bad = await stack.api('POST', '/api/v1/servers', {
      name: 'bad',
      template: 'echo',
      github: { owner: '-acme' },
    });
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ error: { code: 'invalid_request' } });
  });

  it('connects a GitHub App installation: the app JWT mints installation tokens the repositories are written with', async () => {
    const connected = await stack.api('PUT', '/api/v1/github/connection', {
      appId: Number(APP_ID),
      privateKey,
      installationId: INSTALLATION,
      webhookSecret: 'app-webhook-secret-0123456789',
    });
    expect(connected.status).toBe(200);
    expect(connected.body).toMatchObject({
      connected: true,
      kind: 'app',
      login: 'acme',
      appId: APP_ID,
      installationId: INSTALLATION,
      webhookSecret: 'app-webhook-secret-0123456789',
    });
    const created = await stack.api('POST', '/api/v1/servers', {
      name: 'by-app',
      template: 'echo',
      github: { owner: 'acme' },
    });
    expect(created.status).toBe(201);
    const [pull] = (await person.pulls.list({ owner: 'acme', repo: 'by-app' })).data;
    expect(pull?.head.ref).toBe('bmms/init');

    const wrongKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({
      type: 'pkcs8',
      format: 'pem',
    });
    const refused = await stack.api('PUT', '/api/v1/github/connection', {
      appId: APP_ID,
      privateKey: wrongKey.toString(),
      installationId: INSTALLATION,
    });
    expect(refused.status).toBe(400);
    expect(refused.body).toMatchObject({ error: { code: 'github_credentials_refused' } });
    // The working connection stays.
    expect((await stack.api('GET', '/api/v1/github/connection')).body).toMatchObject({ kind: 'app', login: 'acme' });
  });

  it('says what GitHub answered when it refuses a write (a revoked token), and creates nothing', async () => {
    const revocable = 'github_pat_revocable_0123456789ab';
    github.addToken(revocable, 'acme-dev');
    expect((await stack.api('PUT', '/api/v1/github/connection', { token: revocable })).status).toBe(200);
    github.revoke(revocable);
    const failed = await stack.api('POST', '/api/v1/servers', {
      name: 'revoked',
      template: 'echo',
      github: { owner: 'acme' },
    });
    expect(failed.status).toBe(502);
    expect(failed.body).toMatchObject({ error: { code: 'github_request_failed' } });
    expect(String((failed.body as { error: { message: string } }).error.message)).toContain('401');
    expect((await stack.api('GET', '/api/v1/servers/revoked')).status).toBe(404);
  });

  it('disconnects: the credential is gone', async () => {
    expect((await stack.api('DELETE', '/api/v1/github/connection')).status).toBe(204);
    expect((await stack.api('GET', '/api/v1/github/connection')).body).toMatchObject({ connected: false });
    expect(await stack.platform.ctx.db.gitHubConnection.count()).toBe(0);
  });
});
