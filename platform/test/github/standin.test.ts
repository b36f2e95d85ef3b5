import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Octokit } from '@octokit/rest';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { minimalInstance, validateResponse } from './openapi.ts';
import { GitHubStandIn } from './standin.ts';

const TOKEN = 'github_pat_standin_0123456789';
let github: GitHubStandIn;
let octokit: Octokit;

beforeAll(async () => {
  github = await new GitHubStandIn({ tokens: { [TOKEN]: 'acme-bot' } }).start();
  octokit = new Octokit({ auth: TOKEN, baseUrl: github.url, request: { retries: 0 } });
}, 60_000);
afterAll(() => github.stop());
// Every response the stand-in sent validated against GitHub's published description.
afterEach(() => expect(github.violations).toEqual([]));

/** One atomic commit on `branch` (blobs → tree → commit → ref), as a GitProvider on GitHub writes it. */
async function commitFiles(repo: string, branch: string, files: Record<string, string>, parent: string | null) {
  const owner = 'acme';
  const blobs = await Promise.all(
    Object.entries(files).map(async ([path, text]) => {
      const blob = await octokit.git.createBlob({
        owner,
        repo,
        content: Buffer.from(text).toString('base64'),
        encoding: 'base64',
      });
      return { path, mode: '100644' as const, type: 'blob' as const, sha: blob.data.sha };
    }),
  );
  const base = parent ? (await octokit.git.getCommit({ owner, repo, commit_sha: parent })).data.tree.sha : undefined;
  const tree = await octokit.git.createTree({ owner, repo, tree: blobs, ...(base ? { base_tree: base } : {}) });
  const commit = await octokit.git.createCommit({
    owner,
    repo,
    message: `write ${Object.keys(files).join(', ')}`,
    tree: tree.data.sha,
    parents: parent ? [parent] : [],
    author: { name: 'BuildMyMCPServer', email: 'bot@example.invalid', date: '2026-12-04T12:00:00Z' },
  });
  const ref = `heads/${branch}`;
  const existing = await octokit.git.getRef({ owner, repo, ref }).catch(() => null);
  if (existing) await octokit.git.updateRef({ owner, repo, ref, sha: commit.data.sha });
  else await octokit.git.createRef({ owner, repo, ref: `refs/${ref}`, sha: commit.data.sha });
  return commit.data;
}

describe("the GitHub stand-in, judged by GitHub's OpenAPI description", () => {
  it('creates a repository, writes atomic commits with real Git SHAs, opens, checks and merges a pull request', async () => {
    const created = await octokit.repos.createInOrg({ org: 'acme', name: 'weather', private: true });
    expect(created.data).toMatchObject({ full_name: 'acme/weather', private: true, default_branch: 'main' });
    expect((await octokit.repos.get({ owner: 'acme', repo: 'weather' })).data.id).toBe(created.data.id);

    // An empty repository takes no Git data request (409, as github.com answers) until the contents API writes.
    const at = { owner: 'acme', repo: 'weather' };
    const refused = [
      () => octokit.git.createBlob({ ...at, content: 'eA==', encoding: 'base64' }),
      () => octokit.git.createTree({ ...at, tree: [] }),
      () => octokit.git.getRef({ ...at, ref: 'heads/main' }),
      () => octokit.git.listMatchingRefs({ ...at, ref: 'heads/' }),
    ];
    for (const request of refused) {
      await expect(request()).rejects.toMatchObject({
        status: 409,
        response: { data: { message: 'Git Repository is empty.' } },
      });
    }
    const first = await octokit.repos.createOrUpdateFileContents({
      ...at,
      path: 'README.md',
      message: 'Initial commit',
      content: Buffer.from('# weather\n').toString('base64'),
    });
    expect(first.status).toBe(201);
    expect(first.data.content?.sha).toBe('c3242822052ae35a13313988cc45e585460c95cd');
    const root = (await octokit.git.getCommit({ ...at, commit_sha: first.data.commit.sha ?? '' })).data;
    expect(root.parents).toEqual([]);
    expect((await octokit.git.getRef({ ...at, ref: 'heads/main' })).data.object.sha).toBe(root.sha);
    // The same bytes git writes: the blob of "# weather\n" and the tree holding it.
    const tree = await octokit.git.getTree({ owner: 'acme', repo: 'weather', tree_sha: root.tree.sha });
    expect(tree.data.tree).toEqual([
      expect.objectContaining({ path: 'README.md', type: 'blob', sha: 'c3242822052ae35a13313988cc45e585460c95cd' }),
    ]);

    const head = await commitFiles('weather', 'bmms/change-1', { 'src/server.ts': 'export {};\n' }, root.sha);
    expect(head.parents.map((p) => p.sha)).toEqual([root.sha]);
    const nested = await octokit.git.getTree({
      owner: 'acme',
      repo: 'weather',
      tree_sha: head.tree.sha,
      recursive: '1',
    });
    expect(nested.data.tree.map((e) => `${e.type} ${e.path}`)).toEqual([
      'blob README.md',
      'tree src',
      'blob src/server.ts',
    ]);
    const blob = await octokit.git.getBlob({
      owner: 'acme',
      repo: 'weather',
      file_sha: nested.data.tree[2]?.sha ?? '',
    });
    expect(Buffer.from(blob.data.content, 'base64').toString()).toBe('export {};\n');

    const pull = await octokit.pulls.create({
      owner: 'acme',
      repo: 'weather',
      title: 'Create weather',
      body: 'Tools: `forecast`.',
      head: 'bmms/change-1',
      base: 'main',
    });
    expect(pull.data).toMatchObject({ number: 1, state: 'open', head: { sha: head.sha }, base: { sha: root.sha } });

    const run = await octokit.checks.create({
      owner: 'acme',
      repo: 'weather',
      name: 'typecheck',
      head_sha: head.sha,
      status: 'in_progress',
      details_url: 'https://platform.example/servers/weather/changes/1',
    });
    await octokit.checks.update({
      owner: 'acme',
      repo: 'weather',
      check_run_id: run.data.id,
      conclusion: 'success',
      output: { title: 'tsc: no type errors', summary: 'tsc: no type errors' },
    });
    const runs = await octokit.checks.listForRef({ owner: 'acme', repo: 'weather', ref: head.sha });
    expect(runs.data.check_runs.map((r) => `${r.name} ${r.status} ${r.conclusion}`)).toEqual([
      'typecheck completed success',
    ]);
    await octokit.repos.createCommitStatus({
      owner: 'acme',
      repo: 'weather',
      sha: head.sha,
      state: 'success',
      context: 'bmms/checks',
    });
    const combined = await octokit.repos.getCombinedStatusForRef({
      owner: 'acme',
      repo: 'weather',
      ref: 'bmms/change-1',
    });
    expect(combined.data).toMatchObject({ state: 'success', sha: head.sha, total_count: 1 });

    const merged = await octokit.pulls.merge({ owner: 'acme', repo: 'weather', pull_number: 1, sha: head.sha });
    expect(merged.data.merged).toBe(true);
    const main = await octokit.git.getRef({ owner: 'acme', repo: 'weather', ref: 'heads/main' });
    expect(main.data.object.sha).toBe(merged.data.sha);
    const mergeCommit = await octokit.git.getCommit({ owner: 'acme', repo: 'weather', commit_sha: merged.data.sha });
    expect(mergeCommit.data.parents.map((p) => p.sha)).toEqual([root.sha, head.sha]);
    expect(mergeCommit.data.tree.sha).toBe(head.tree.sha);
    expect((await octokit.pulls.get({ owner: 'acme', repo: 'weather', pull_number: 1 })).data).toMatchObject({
      state: 'closed',
      merged: true,
      merge_commit_sha: merged.data.sha,
    });
    expect((await octokit.pulls.list({ owner: 'acme', repo: 'weather', state: 'all' })).data).toHaveLength(1);
    await octokit.git.deleteRef({ owner: 'acme', repo: 'weather', ref: 'heads/bmms/change-1' });
  });

  it('answers errors the way GitHub does: 404, 422 (no fast-forward), 401 (bad token), 405 (merged twice)', async () => {
    await expect(octokit.repos.get({ owner: 'acme', repo: 'nope' })).rejects.toMatchObject({ status: 404 });
    const own = await octokit.repos.createForAuthenticatedUser({ name: 'scratch' });
    expect(own.data.full_name).toBe('acme-bot/scratch');
    await expect(octokit.repos.createInOrg({ org: 'acme', name: 'weather' })).rejects.toMatchObject({ status: 422 });
    const bad = new Octokit({ auth: 'wrong', baseUrl: github.url, request: { retries: 0 } });
    await expect(bad.repos.get({ owner: 'acme', repo: 'weather' })).rejects.toMatchObject({ status: 401 });
    const main = await octokit.git.getRef({ owner: 'acme', repo: 'weather', ref: 'heads/main' });
    const parent = (await octokit.git.getCommit({ owner: 'acme', repo: 'weather', commit_sha: main.data.object.sha }))
      .data.parents[0]?.sha as string;
    await expect(
      octokit.git.updateRef({ owner: 'acme', repo: 'weather', ref: 'heads/main', sha: parent }),
    ).rejects.toMatchObject({ status: 422 });
    await expect(octokit.pulls.merge({ owner: 'acme', repo: 'weather', pull_number: 1 })).rejects.toMatchObject({
      status: 405,
    });
  });

  it('updates a file only with its blob sha, and changes the default branch only to a branch that exists', async () => {
    const at = { owner: 'acme', repo: 'weather' };
    const content = Buffer.from('# weather, again\n').toString('base64');
    const put = { ...at, path: 'README.md', message: 'Edit README', content };
    await expect(octokit.repos.createOrUpdateFileContents(put)).rejects.toMatchObject({ status: 422 });
    await expect(octokit.repos.createOrUpdateFileContents({ ...put, sha: '0'.repeat(40) })).rejects.toMatchObject({
      status: 409,
    });
    const readme = (await octokit.repos.get(at)).data;
    expect(readme.default_branch).toBe('main');
    const main = await octokit.git.getRef({ ...at, ref: 'heads/main' });
    const tree = await octokit.git.getTree({
      ...at,
      tree_sha: (await octokit.git.getCommit({ ...at, commit_sha: main.data.object.sha })).data.tree.sha,
    });
    const sha = tree.data.tree.find((e) => e.path === 'README.md')?.sha;
    const updated = await octokit.repos.createOrUpdateFileContents({ ...put, sha });
    expect(updated.status).toBe(200);
    expect(updated.data.commit.parents?.map((p) => p.sha)).toEqual([main.data.object.sha]);

    await expect(octokit.repos.update({ ...at, default_branch: 'trunk' })).rejects.toMatchObject({ status: 422 });
    await expect(octokit.git.deleteRef({ ...at, ref: 'heads/main' })).rejects.toMatchObject({ status: 422 });
    await octokit.git.createRef({ ...at, ref: 'refs/heads/trunk', sha: updated.data.commit.sha ?? '' });
    expect((await octokit.repos.update({ ...at, default_branch: 'trunk', private: false })).data).toMatchObject({
      default_branch: 'trunk',
      private: false,
    });
    await octokit.repos.update({ ...at, default_branch: 'main' });
    await octokit.git.deleteRef({ ...at, ref: 'heads/trunk' });
  });

  it('mints installation tokens that then authenticate like a token of the app', async () => {
    const minted = await new Octokit({ baseUrl: github.url }).apps.createInstallationAccessToken({
      installation_id: 42,
    });
    expect(minted.data.token).toMatch(/^ghs_/);
    const asApp = new Octokit({ auth: minted.data.token, baseUrl: github.url });
    expect((await asApp.repos.get({ owner: 'acme', repo: 'weather' })).status).toBe(200);
  });

  it('redirects a renamed repository (301 for a read, 307 for a write, both followed) and delivers `repository` `renamed`', async () => {
    const received: { event: string; action: unknown }[] = [];
    const hook = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk) => {
        body += chunk;
      });
      req.on('end', () => {
        received.push({ event: String(req.headers['x-github-event']), action: JSON.parse(body).action });
        res.writeHead(202).end();
      });
    });
    await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
    github.webhook = { url: `http://127.0.0.1:${(hook.address() as AddressInfo).port}/`, secret: 'standin-secret' };
    try {
      github.renameRepo('acme', 'weather', 'climate');
      await github.settled();
      // Validated against GitHub's webhook description (@octokit/openapi-webhooks) before it was sent.
      expect(received).toEqual([{ event: 'repository', action: 'renamed' }]);
      expect((await octokit.repos.get({ owner: 'acme', repo: 'weather' })).data.full_name).toBe('acme/climate');
      const blob = await octokit.git.createBlob({
        owner: 'acme',
        repo: 'weather',
        content: 'eA==',
        encoding: 'base64',
      });
      expect(github.repos.get('acme/climate')?.blobs.has(blob.data.sha)).toBe(true);
    } finally {
      github.webhook = null;
      hook.close();
      github.renameRepo('acme', 'climate', 'weather');
    }
  });

  it('refuses to send a response that does not validate, and records it (the stand-in cannot drift)', async () => {
    github.breakNext = { operationId: 'repos/get', field: 'full_name' };
    await expect(octokit.repos.get({ owner: 'acme', repo: 'weather' })).rejects.toMatchObject({ status: 500 });
    const [violation] = github.violations.splice(0);
    expect(violation).toMatchObject({ operationId: 'repos/get', status: 200 });
    expect(violation?.problems.join(' ')).toContain("must have required property 'full_name'");
  });
});

describe('the validator', () => {
  it('builds minimal instances that validate, and rejects a wrong type', () => {
    const pull = minimalInstance({ $ref: '#/components/schemas/pull-request' });
    expect(validateResponse('pulls/get', 200, pull)).toEqual([]);
    expect(validateResponse('pulls/get', 200, { ...(pull as object), number: 'one' })).toEqual([
      '/number must be integer',
    ]);
  });
});
