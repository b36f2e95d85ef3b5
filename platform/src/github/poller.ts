import type { PrismaClient, Server } from '@bmms/prisma';
import type { Logger } from '../logger.ts';
import { handlePush } from '../services/changes.ts';
import { githubMessage, statusOf } from './client.ts';
import { type GitHubEventDeps, pullClosed, pullOpened } from './events.ts';
import { repositoryMoved } from './moves.ts';
import type { ServerRepos } from './repos.ts';

/** What polling GitHub needs: the servers' repositories and what acting on an event needs. */
export interface PollerDeps extends GitHubEventDeps {
  db: PrismaClient;
  git: Pick<ServerRepos, 'github'>;
  log: Logger;
}

const ZERO = '0'.repeat(40);

/**
 * Catches what webhooks missed (or everything, when they are off): every interval it asks GitHub, with the ETag of
 * its last answer (a 304 costs no rate limit), for each server's branch heads and its open pull requests, and acts
 * on what moved exactly as a webhook delivery would: main moved → checked, then deployed; a change's branch moved →
 * re-checked; a pull request merged or closed on GitHub → its change merged or closed; a repository renamed or
 * transferred → followed.
 */
export class GitHubPoller {
  readonly #deps: PollerDeps;
  readonly #intervalMs: number;
  readonly #etags = new Map<string, string>();
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;

  constructor(deps: PollerDeps, intervalMs: number) {
    this.#deps = deps;
    this.#intervalMs = intervalMs;
  }

  /** Polls every interval (nothing when the interval is 0). */
  start(): void {
    if (this.#intervalMs <= 0 || this.#timer) return;
    this.#timer = setInterval(() => {
      this.#running ??= this.pollOnce().finally(() => {
        this.#running = undefined;
      });
    }, this.#intervalMs);
    this.#timer.unref();
  }

  /** Stops polling and waits for a poll under way. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }

  /** One pass over every server on GitHub; a server GitHub refuses is logged and skipped. */
  async pollOnce(): Promise<void> {
    const servers = await this.#deps.db.server.findMany({ where: { githubOwner: { not: null } } });
    for (const server of servers) {
      try {
        await this.#poll(server);
      } catch (err) {
        this.#deps.log.warn('polling GitHub failed', {
          server: server.name,
          status: statusOf(err),
          why: githubMessage(err),
        });
      }
    }
  }

  async #poll(server: Server): Promise<void> {
    const gh = await this.#deps.git.github(server.name);
    if (!gh) return;
    const at = { owner: gh.owner, repo: gh.repo };
    // GitHub follows a renamed or transferred repository (301/307 to its new place): the server follows it too.
    const repository = await this.#conditional(`${server.id}:repo`, (headers) =>
      gh.octokit.repos.get({ ...at, headers }),
    );
    if (repository) {
      const to = { owner: repository.owner.login, repo: repository.name, url: repository.html_url };
      if (await repositoryMoved(this.#deps, server, to)) return;
    }
    const refs = await this.#conditional(`${server.id}:refs`, (headers) =>
      gh.octokit.git.listMatchingRefs({ ...at, ref: 'heads/', headers }),
    );
    if (refs) await this.#branchesMoved(server, Object.fromEntries(refs.map((r) => [r.ref.slice(11), r.object.sha])));
    const pulls = await this.#conditional(`${server.id}:pulls`, (headers) =>
      gh.octokit.pulls.list({ ...at, state: 'open', per_page: 100, headers }),
    );
    for (const pull of pulls ?? []) await pullOpened(this.#deps, server, pull as unknown as Record<string, unknown>);
    const open = await this.#deps.db.changeRequest.findMany({
      where: { serverId: server.id, state: 'open', githubPull: { not: null } },
    });
    for (const change of open) {
      const number = change.githubPull as number;
      const pull = await this.#conditional(`${server.id}:pull:${number}`, (headers) =>
        gh.octokit.pulls.get({ ...at, pull_number: number, headers }),
      );
      if (pull?.state !== 'closed') continue;
      const sha = pull.merged ? pull.merge_commit_sha : null;
      await pullClosed(this.#deps, server, number, sha ? { sha } : null);
    }
  }

  /** What moved since the platform last looked: main against the desired revision, branches against their changes. */
  async #branchesMoved(server: Server, heads: Record<string, string>): Promise<void> {
    const updates: { ref: string; oldSha: string; newSha: string }[] = [];
    const main = heads.main;
    if (main && main !== server.desiredRevision) {
      updates.push({ ref: 'refs/heads/main', oldSha: server.desiredRevision ?? ZERO, newSha: main });
    }
    const open = await this.#deps.db.changeRequest.findMany({ where: { serverId: server.id, state: 'open' } });
    for (const change of open) {
      const head = heads[change.branch];
      if (head && head !== change.headSha) {
        updates.push({ ref: `refs/heads/${change.branch}`, oldSha: change.headSha, newSha: head });
      }
    }
    if (updates.length > 0) await handlePush(this.#deps, undefined, server.name, updates);
  }

  /** A GET with the ETag of the last answer: the data when it changed, null when GitHub answered 304. */
  async #conditional<T>(
    key: string,
    request: (headers: Record<string, string>) => Promise<{ data: T; headers: { etag?: string | undefined } }>,
  ): Promise<T | null> {
    const etag = this.#etags.get(key);
    try {
      const answer = await request(etag ? { 'if-none-match': etag } : {});
      if (answer.headers.etag) this.#etags.set(key, answer.headers.etag);
      return answer.data;
    } catch (err) {
      if (statusOf(err) === 304) return null;
      throw err;
    }
  }
}
