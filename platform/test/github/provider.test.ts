import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { GitHubGitProvider, RefConflictError, RepoExistsError, RevertConflictError } from '@bmms/gitserver';
import { Octokit } from '@octokit/rest';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { GitHubStandIn } from './standin.ts';

const TOKEN = 'github_pat_provider_0123456789';
const author = { name: 'BuildMyMCPServer', email: 'bot@example.invalid' };
let github: GitHubStandIn;
let git: GitHubGitProvider;
const dirs: string[] = [];

beforeAll(async () => {
  github = await new GitHubStandIn({ tokens: { [TOKEN]: 'acme-bot' }, defaultBranches: { globex: 'master' } }).start();
  git = new GitHubGitProvider({
    octokit: new Octokit({ auth: TOKEN, baseUrl: github.url, request: { retries: 0 } }),
    owner: 'acme',
  });
}, 60_000);
afterAll(async () => {
  await github.stop();
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});
afterEach(() => expect(github.violations).toEqual([]));

describe('GitHubGitProvider on the GitHub stand-in', () => {
  it('creates the repository, commits atomically on branches, merges and reads back files, binary ones too', async () => {
    await git.createRepo('weather');
    await expect(git.createRepo('weather')).rejects.toBeInstanceOf(RepoExistsError);
    expect(await git.repoExists('weather')).toBe(true);
    expect(await git.resolveRef('weather', 'refs/heads/main')).toBeNull();
    expect(await git.listBranches('weather')).toEqual({});

    // GitHub takes no Git data write into an empty repository: the contents API seeds it, the root commit replaces
    // the seed, and main's history is the root commit alone.
    const root = await git.commitFiles('weather', {
      branch: 'main',
      parent: null,
      files: {},
      message: 'Initialize repository',
      author,
    });
    expect(await git.parentsOf('weather', root.sha)).toEqual([]);
    expect(await git.listBranches('weather')).toEqual({ main: root.sha });
    expect(await git.readTree('weather', 'main')).toEqual({});
    const tarball = Uint8Array.from([0x1f, 0x8b, 0x08, 0x00, 0xff, 0x00, 0x10]);
    const change = await git.commitFiles('weather', {
      branch: 'bmms/init',
      parent: root.sha,
      files: { 'mcp.json': '{"name":"weather"}\n', 'src/server.ts': 'export {};\n', 'vendor/runtime.tgz': tarball },
      message: 'Create weather',
      author,
    });
    // Compare-and-swap: a writer that saw an older head is refused and nothing moves.
    await expect(
      git.commitFiles('weather', { branch: 'bmms/init', parent: root.sha, files: { x: 'y' }, message: 'late', author }),
    ).rejects.toBeInstanceOf(RefConflictError);
    expect(await git.listBranches('weather')).toEqual({ main: root.sha, 'bmms/init': change.sha });
    expect(await git.parentsOf('weather', change.sha)).toEqual([root.sha]);
    expect(await git.commitsBetween('weather', root.sha, change.sha)).toEqual([change.sha]);
    expect(await git.isAncestor('weather', root.sha, change.sha)).toBe(true);

    const merged = await git.merge('weather', { from: 'bmms/init', message: 'Merge change #1', author });
    expect(merged).toMatchObject({ sha: change.sha, tree: change.tree, fastForward: true, upToDate: false });
    expect(await git.merge('weather', { from: change.sha, message: 'again', author })).toMatchObject({
      upToDate: true,
    });
    expect(await git.treeOf('weather', 'main')).toBe(change.tree);
    const files = await git.readTree('weather', 'main');
    expect(Object.keys(files).sort()).toEqual(['mcp.json', 'src/server.ts', 'vendor/runtime.tgz']);
    expect(files['vendor/runtime.tgz']).toEqual(tarball);
    expect(await git.readFile('weather', 'main', 'mcp.json')).toBe('{"name":"weather"}\n');
    expect(await git.readFile('weather', 'main', 'nope.ts')).toBeNull();

    const dir = await mkdtemp(path.join(tmpdir(), 'bmms-gh-checkout-'));
    dirs.push(dir);
    await git.checkout('weather', 'main', dir);
    expect(await readFile(path.join(dir, 'src/server.ts'), 'utf8')).toBe('export {};\n');
    await git.deleteBranch('weather', 'bmms/init');
    expect(Object.keys(await git.listBranches('weather'))).toEqual(['main']);
  });

  it("adds and deletes files in one commit, writes git's own SHAs, and reverts the head", async () => {
    const main = (await git.resolveRef('weather', 'main')) as string;
    const edit = await git.commitFiles('weather', {
      branch: 'edit',
      parent: null,
      files: {},
      message: 'empty',
      author,
    });
    expect(edit.tree).toBe('4b825dc642cb6eb9a060e54bf8d69288fbee4904'); // git's empty tree
    const removal = await git.commitFiles('weather', {
      branch: 'main',
      parent: main,
      files: { 'src/tools/forecast.ts': 'export default 1;\n' },
      deletions: ['vendor'],
      message: 'Add forecast, drop vendor',
      author,
    });
    expect(Object.keys(await git.readTree('weather', removal.sha)).sort()).toEqual([
      'mcp.json',
      'src/server.ts',
      'src/tools/forecast.ts',
    ]);
    const reverted = await git.revert('weather', { author });
    expect(reverted.tree).toBe(await git.treeOf('weather', main));
    expect(await git.parentsOf('weather', reverted.sha)).toEqual([removal.sha]);
    // Reverting anything but the head would need a three-way merge of trees: refused, nothing written.
    await expect(git.revert('weather', { sha: main, author })).rejects.toBeInstanceOf(RevertConflictError);
    expect(await git.resolveRef('weather', 'main')).toBe(reverted.sha);
  });

  it('starts an empty repository whose default branch is "master" on main, and makes main the default', async () => {
    const octokit = new Octokit({ auth: TOKEN, baseUrl: github.url, request: { retries: 0 } });
    const globex = new GitHubGitProvider({ octokit, owner: 'globex' });
    await globex.createRepo('tides');
    expect((await octokit.repos.get({ owner: 'globex', repo: 'tides' })).data.default_branch).toBe('master');
    const root = await globex.commitFiles('tides', {
      branch: 'main',
      parent: null,
      files: { 'README.md': '# tides\n' },
      message: 'Initialize repository',
      author,
    });
    expect(await globex.listBranches('tides')).toEqual({ main: root.sha });
    expect(await globex.parentsOf('tides', 'main')).toEqual([]);
    expect(await globex.readFile('tides', 'main', 'README.md')).toBe('# tides\n');
    expect((await octokit.repos.get({ owner: 'globex', repo: 'tides' })).data.default_branch).toBe('main');
    // A first commit on a branch of a repository that has commits is not a seeded one.
    const other = await globex.commitFiles('tides', { branch: 'other', parent: null, files: {}, message: 'x', author });
    expect(await globex.parentsOf('tides', other.sha)).toEqual([]);
    await expect(
      globex.commitFiles('tides', { branch: 'main', parent: null, files: {}, message: 'again', author }),
    ).rejects.toBeInstanceOf(RefConflictError);
  });

  it("never deletes the customer's repository", async () => {
    await git.deleteRepo('weather');
    expect(await git.repoExists('weather')).toBe(true);
    expect(await git.readFile('weather', 'main', 'mcp.json')).toBe('{"name":"weather"}\n');
  });
});
