import type { GitProvider } from '@bmms/gitserver';
import type { ChangeRequest, CheckRun, PrismaClient, Server } from '@bmms/prisma';
import type { CheckOutcome } from '../checks/types.ts';
import { githubRequestFailed, invalidRequest } from '../errors.ts';
import { previewName } from '../previews.ts';
import { type Reported, reportCheck } from './check-runs.ts';
import { githubMessage, statusOf } from './client.ts';
import type { GitHubConnections } from './connections.ts';
import { type PullFacts, pullBody } from './pull-body.ts';
import type { GitHubRepo, ServerRepos } from './repos.ts';

/** What `"github"` of POST /servers asks for: the owner, and optionally the repository's name and visibility. */
export interface GitHubPlacement {
  owner: string;
  repo?: string | undefined;
  private?: boolean | undefined;
}

/** GitHub's rules for an owner (user or organization) and a repository name. */
const OWNER = /^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$/;
const REPO = /^[A-Za-z0-9._-]{1,100}$/;

/**
 * Servers whose repository is on GitHub: where a new one goes (checked before anything is written), its pull
 * requests (opened for every change, their body kept up to date) and its repository's address.
 */
export class GitHubServers {
  readonly #db: PrismaClient;
  readonly #repos: Pick<ServerRepos, 'github'>;
  readonly #connections: Pick<GitHubConnections, 'account'>;
  readonly #baseUrl: () => string;
  readonly #git: Pick<GitProvider, 'treeOf'>;
  /** Check runs reported for a suite's check and still running (their id, to complete them). */
  readonly #reported = new Map<string, Reported>();
  /** The report of each check under way, so the next one waits for it. */
  readonly #reporting = new Map<string, Promise<void>>();

  constructor(deps: {
    db: PrismaClient;
    repos: Pick<ServerRepos, 'github'> & Pick<GitProvider, 'treeOf'>;
    connections: Pick<GitHubConnections, 'account'>;
    /** The platform's public base URL (links in pull requests). */
    baseUrl: () => string;
  }) {
    this.#db = deps.db;
    this.#repos = deps.repos;
    this.#git = deps.repos;
    this.#connections = deps.connections;
    this.#baseUrl = deps.baseUrl;
  }

  /**
   * The row fields of a new server on GitHub (the repository is named after the server unless `repo` says
   * otherwise; private unless `private: false`). Refuses a bad owner or name, and an org without a connection.
   */
  async placement(orgId: string, server: string, input: GitHubPlacement) {
    if (!OWNER.test(input.owner)) throw invalidRequest('"github.owner" must be a GitHub user or organization name');
    const repo = input.repo ?? server;
    if (!REPO.test(repo) || repo === '.' || repo === '..') {
      throw invalidRequest('"github.repo" must be a repository name: letters, digits, ".", "-" and "_"');
    }
    await this.#connections.account(orgId);
    return { githubOwner: input.owner, githubRepo: repo, githubPrivate: input.private ?? true };
  }

  /** Records the repository's web address once it exists (the dashboard links to it). */
  async created(server: Server): Promise<void> {
    const gh = await this.#repos.github(server.name);
    if (!gh) return;
    const { data } = await this.#call(gh, 'reading the repository', () =>
      gh.octokit.repos.get({ owner: gh.owner, repo: gh.repo }),
    );
    await this.#db.server.update({ where: { id: server.id }, data: { githubUrl: data.html_url } });
  }

  /** Opens the change's pull request on GitHub (adopting one already open for its branch) and records its number. */
  async opened(server: Server, change: ChangeRequest): Promise<number | null> {
    const gh = await this.#repos.github(server.name);
    if (!gh) return null;
    const body = pullBody(this.#facts(server, change, {}));
    const at = { owner: gh.owner, repo: gh.repo };
    let number: number;
    try {
      const { data } = await gh.octokit.pulls.create({
        ...at,
        head: change.branch,
        base: 'main',
        title: change.title,
        body,
      });
      number = data.number;
    } catch (err) {
      if (statusOf(err) !== 422)
        throw githubRequestFailed('opening the pull request', statusOf(err) ?? null, githubMessage(err));
      // The branch already has an open pull request (someone opened it on GitHub): it is the change's.
      const { data } = await this.#call(gh, 'listing pull requests', () =>
        gh.octokit.pulls.list({ ...at, state: 'open', head: `${gh.owner}:${change.branch}` }),
      );
      const open = data.find((p) => p.head.ref === change.branch);
      if (!open) throw githubRequestFailed('opening the pull request', 422, githubMessage(err));
      number = open.number;
      await this.#call(gh, 'updating the pull request', () =>
        gh.octokit.pulls.update({ ...at, pull_number: number, body }),
      );
    }
    await this.#db.changeRequest.update({ where: { id: change.id }, data: { githubPull: number } });
    return number;
  }

  /** Rewrites the pull request's body from what is known now (checks, tool-surface diff, preview). */
  async describe(server: Server, change: ChangeRequest, known: Partial<PullFacts>): Promise<void> {
    if (change.githubPull === null) return;
    const gh = await this.#repos.github(server.name);
    if (!gh) return;
    const pull = change.githubPull;
    await this.#call(gh, 'updating the pull request', () =>
      gh.octokit.pulls.update({
        owner: gh.owner,
        repo: gh.repo,
        pull_number: pull,
        body: pullBody(this.#facts(server, change, known)),
      }),
    );
  }

  /**
   * Reports one check of a suite on GitHub: a check run in progress (no outcome yet), then completed, or a commit
   * status when the connection may not write checks. Its "Details" link is the check on the dashboard.
   */
  checkChanged(
    server: { id: string; name: string },
    suite: { id: string; commitSha: string },
    name: string,
    outcome?: CheckOutcome,
  ): Promise<void> {
    // One check's reports go out in order: its completion updates the check run its start created.
    const key = `${suite.id}:${name}`;
    const previous = this.#reporting.get(key) ?? Promise.resolve();
    const next = previous.catch(() => {}).then(() => this.#report(server, suite, name, outcome));
    this.#reporting.set(key, next);
    void next
      .finally(() => {
        if (this.#reporting.get(key) === next) this.#reporting.delete(key);
      })
      .catch(() => {});
    return next;
  }

  async #report(
    server: { id: string; name: string },
    suite: { id: string; commitSha: string },
    name: string,
    outcome: CheckOutcome | undefined,
  ): Promise<void> {
    const gh = await this.#repos.github(server.name);
    if (!gh) return;
    const key = `${suite.id}:${name}`;
    const change = await this.#db.changeRequest.findFirst({
      where: { serverId: server.id, headSha: suite.commitSha },
      orderBy: { number: 'desc' },
    });
    const base = this.#baseUrl();
    const detailsUrl = change
      ? `${base}/servers/${server.name}/changes/${change.number}/#check-${name}`
      : `${base}/servers/${server.name}/`;
    const report = { name, sha: suite.commitSha, detailsUrl, ...(outcome ? { outcome } : {}) };
    const reported = await this.#call(gh, `reporting the ${name} check`, () =>
      reportCheck(gh.octokit, { owner: gh.owner, repo: gh.repo }, report, this.#reported.get(key)),
    );
    if (outcome) this.#reported.delete(key);
    else this.#reported.set(key, reported);
  }

  /** A suite completed: the pull requests of the open changes with that tree get its checks, surface and preview. */
  async suiteCompleted(ref: { id: string; name: string }, treeSha: string): Promise<void> {
    const server = await this.#db.server.findUnique({ where: { id: ref.id } });
    const suite = await this.#db.checkSuite.findUnique({
      where: { serverId_treeSha: { serverId: ref.id, treeSha } },
      include: { runs: true },
    });
    if (!server?.githubOwner || !suite) return;
    // The reports of its checks first: the description then agrees with the check runs.
    await Promise.allSettled([...this.#reporting.values()]);
    const changes = await this.#db.changeRequest.findMany({
      where: { serverId: server.id, state: 'open', githubPull: { not: null } },
    });
    for (const change of changes) {
      if ((await this.#git.treeOf(server.name, change.headSha)) !== suite.treeSha) continue;
      const run = (name: string): CheckRun | undefined => suite.runs.find((r) => r.name === name);
      const surface = run('surface');
      const preview = run('preview');
      await this.describe(server, change, {
        checks: suite.runs.map((r) => ({
          name: r.name,
          conclusion: r.status === 'completed' ? r.conclusion : null,
          summary: r.summary.split('\n')[0] ?? '',
        })),
        surface: surface?.log ? surfaceLines(surface.log) : null,
        previewUrl:
          preview?.conclusion === 'success'
            ? `${this.#baseUrl()}/s/${previewName(server.name, change.number)}/mcp`
            : null,
      });
    }
  }

  #facts(server: Server, change: ChangeRequest, known: Partial<PullFacts>): PullFacts {
    const base = this.#baseUrl();
    return {
      server: server.name,
      number: change.number,
      summary: change.body,
      changeUrl: `${base}/servers/${server.name}/changes/${change.number}/`,
      mcpUrl: `${base}/s/${server.name}/mcp`,
      checks: null,
      surface: null,
      previewUrl: null,
      ...known,
    };
  }

  async #call<T>(gh: GitHubRepo, what: string, request: () => Promise<T>): Promise<T> {
    try {
      return await request();
    } catch (err) {
      throw githubRequestFailed(`${what} of ${gh.owner}/${gh.repo}`, statusOf(err) ?? null, githubMessage(err));
    }
  }
}

/** The surface check's diff as a Markdown block (its report, before the description lint). */
function surfaceLines(log: string): string[] {
  const report = log.split('\nDescription lint')[0] ?? log;
  const lines = report.trim().split('\n').slice(0, 80);
  return ['```diff', ...lines, '```'];
}
