import type { ChangeRequest, PrismaClient, Server } from '@bmms/prisma';
import { githubRequestFailed, invalidRequest } from '../errors.ts';
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

  constructor(deps: {
    db: PrismaClient;
    repos: Pick<ServerRepos, 'github'>;
    connections: Pick<GitHubConnections, 'account'>;
    /** The platform's public base URL (links in pull requests). */
    baseUrl: () => string;
  }) {
    this.#db = deps.db;
    this.#repos = deps.repos;
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
