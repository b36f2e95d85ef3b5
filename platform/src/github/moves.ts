import type { PrismaClient, Server } from '@bmms/prisma';
import { audit } from '../audit.ts';
import type { InvalidationBus } from '../invalidation.ts';

/** What following a repository that moved needs. */
export interface MoveDeps {
  db: PrismaClient;
  invalidations: Pick<InvalidationBus, 'publish'>;
}

/** Where a repository is now, as GitHub says (its `repository` webhook, or the repository read again). */
export interface RepositoryPlace {
  owner: string;
  repo: string;
  /** Its page on GitHub (`html_url`). */
  url?: string | undefined;
}

/**
 * A server's repository was renamed or transferred on GitHub: the server follows it (its row names the new owner and
 * name, every process forgets the old binding) and an audit entry `github.repository_moved` says from where to
 * where. Nothing is written when the server already names that place. Returns whether it moved.
 */
export async function repositoryMoved(ctx: MoveDeps, server: Server, to: RepositoryPlace): Promise<boolean> {
  const from = `${server.githubOwner}/${server.githubRepo}`;
  if (from === `${to.owner}/${to.repo}`) return false;
  const moved = await ctx.db.server.updateMany({
    where: { id: server.id, githubOwner: server.githubOwner, githubRepo: server.githubRepo },
    data: { githubOwner: to.owner, githubRepo: to.repo, ...(to.url ? { githubUrl: to.url } : {}) },
  });
  if (moved.count === 0) return false;
  await ctx.invalidations.publish({ kind: 'server', name: server.name });
  await audit(
    ctx.db,
    undefined,
    'github.repository_moved',
    { type: 'server', id: server.id, orgId: server.orgId },
    { server: server.name, from, to: `${to.owner}/${to.repo}` },
  );
  return true;
}
