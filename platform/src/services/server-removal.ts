import type { GitProvider } from '@bmms/gitserver';
import type { PrismaClient } from '@bmms/prisma';
import type { Reconciler, ServerFiles } from '@bmms/reconciler';
import type { InvalidationBus } from '../invalidation.ts';
import type { Logger } from '../logger.ts';

/** What removing a server (or an org's servers) takes. */
export interface RemovalDeps {
  /** The server's rows and everything that cascades from them. */
  db: PrismaClient;
  /** Its repository. */
  git: GitProvider;
  /** Stops its instances and previews and removes their files. */
  reconciler: Reconciler;
  /** Tells every gateway the server (or the org's memberships) is gone. */
  invalidations: InvalidationBus;
  log: Logger;
  /** Its check suites under way, cancelled first: a check must not start an instance or write a file afterwards. */
  checks?: { cancelServer(serverId: string): Promise<void> };
  /** The payment provider, when the platform takes payments: a deleted org's customer and subscription go too. */
  billing?: { forgetCustomer(orgId: string): Promise<void> };
}

/** What a deleted server leaves outside its rows, read before the rows go. */
export interface ServerLeftovers {
  name: string;
  /** Its preview targets (routes `<server>--pr-<N>`). */
  previews: string[];
  /** Every tree it checked, deployed or previewed (compile caches are per server and tree). */
  trees: string[];
  /** The trees whose bundles no other server uses: they go with it. */
  bundles: string[];
}

/** Reads what `server` has outside its own rows: previews, trees, and which bundles only it uses. */
async function leftoversOf(ctx: RemovalDeps, server: { id: string; name: string }): Promise<ServerLeftovers> {
  const { db } = ctx;
  const [suites, deployments, previews] = await Promise.all([
    db.checkSuite.findMany({ where: { serverId: server.id }, select: { treeSha: true } }),
    db.deployment.findMany({ where: { serverId: server.id }, select: { treeSha: true }, distinct: ['treeSha'] }),
    db.previewTarget.findMany({ where: { serverId: server.id }, select: { target: true, tree: true } }),
  ]);
  const trees = [
    ...new Set([...suites.map((s) => s.treeSha), ...deployments.map((d) => d.treeSha), ...previews.map((p) => p.tree)]),
  ];
  const others = { serverId: { not: server.id } };
  const shared = await Promise.all([
    db.checkSuite.findMany({ where: { ...others, treeSha: { in: trees } }, select: { treeSha: true } }),
    db.deployment.findMany({ where: { ...others, treeSha: { in: trees } }, select: { treeSha: true } }),
    db.previewTarget.findMany({ where: { ...others, tree: { in: trees } }, select: { tree: true } }),
  ]);
  const used = new Set(shared.flat().map((r) => ('treeSha' in r ? r.treeSha : r.tree)));
  return {
    name: server.name,
    previews: previews.map((p) => p.target),
    trees,
    bundles: trees.filter((t) => !used.has(t)),
  };
}

/**
 * Removes the OAuth records that name routes of `servers` or the custom domains `hostnames` (grants, with their
 * refresh tokens and codes, and interactions): every record of a grant that covers one of them goes, so a token
 * issued for a name can never reach whatever later answers on it. Registered clients stay.
 */
export async function dropOauthRecordsOf(
  ctx: Pick<RemovalDeps, 'db' | 'invalidations'>,
  servers: string[],
  hostnames: string[] = [],
): Promise<number> {
  if (servers.length === 0 && hostnames.length === 0) return 0;
  // Server names are DNS labels and hostnames letters, digits, dots and hyphens: no LIKE wildcard can hide in them.
  const patterns = [
    ...servers.flatMap((name) => [`%/s/${name}/mcp%`, `%/s/${name}--pr-%`, `%://${name}.%`]),
    ...hostnames.flatMap((host) => [`%://${host}/mcp%`, `%://${host}:%`]),
  ];
  const rows = await ctx.db.$queryRaw<{ id: string; grant_id: string | null }[]>`
    SELECT "id", "grant_id" FROM "oauth_payloads"
     WHERE "model" <> 'Client' AND "payload"::text LIKE ANY(${patterns}::text[])`;
  if (rows.length === 0) return 0;
  const grants = rows.map((r) => r.grant_id).filter((g): g is string => g !== null);
  const { count } = await ctx.db.oauthPayload.deleteMany({
    where: { OR: [{ id: { in: rows.map((r) => r.id) } }, { grantId: { in: grants } }] },
  });
  await ctx.invalidations.publish({ kind: 'grant' });
  return count;
}

/**
 * Deletes a server's rows (with them its changes, checks, history, secrets, previews, reconciler state and every
 * table that cascades from it), its instance uids and the OAuth records naming it; every platform process learns
 * it is gone. Returns what is left to remove outside the database (`removeServerFiles`), or null when another
 * deletion (on any platform process) took the rows first: the rest is that one's to remove.
 */
export async function dropServerRows(
  ctx: RemovalDeps,
  server: { id: string; name: string },
): Promise<ServerLeftovers | null> {
  await ctx.checks?.cancelServer(server.id);
  const leftovers = await leftoversOf(ctx, server);
  const domains = await ctx.db.serverDomain.findMany({ where: { serverId: server.id }, select: { hostname: true } });
  const [removed] = await ctx.db.$transaction([
    ctx.db.server.deleteMany({ where: { id: server.id } }),
    ctx.db.instanceUid.deleteMany({ where: { key: { in: [server.name, `${server.name}#preview`] } } }),
  ]);
  if (removed.count === 0) return null;
  // Calls in flight elsewhere are refused from now on, on every platform process.
  await ctx.invalidations.publish({ kind: 'server', name: server.name });
  await dropOauthRecordsOf(
    ctx,
    [server.name],
    domains.map((d) => d.hostname),
  );
  return leftovers;
}

/** Removes a deleted server's repository, instances (stopped by the reconciler), routes, folders and bundles. */
export async function removeServerFiles(ctx: RemovalDeps, leftovers: ServerLeftovers): Promise<void> {
  const { name } = leftovers;
  if (await ctx.git.repoExists(name)) {
    await ctx.git.deleteRepo(name).catch((err) => ctx.log.warn('repo removal failed', { server: name, err }));
  }
  await ctx.reconciler.removed(name, leftovers);
}

/** Deletes a server entirely: rows, then repository, instances and files (unless another deletion has them). */
export async function purgeServer(ctx: RemovalDeps, server: { id: string; name: string }): Promise<void> {
  const leftovers = await dropServerRows(ctx, server);
  if (leftovers) await removeServerFiles(ctx, leftovers);
}

/**
 * Removes the files no server owns any more (instance folders, compile caches, bundles): what a deletion that a
 * crash interrupted left. Run at start, once the reconciler stopped what a previous process left running.
 */
export async function sweepOrphanFiles(ctx: RemovalDeps, files: ServerFiles): Promise<number> {
  const { db } = ctx;
  const [servers, suites, deployments, previews] = await Promise.all([
    db.server.findMany({ select: { id: true, name: true } }),
    db.checkSuite.findMany({ select: { serverId: true, treeSha: true } }),
    db.deployment.findMany({ select: { serverId: true, treeSha: true }, distinct: ['serverId', 'treeSha'] }),
    db.previewTarget.findMany({ select: { serverId: true, tree: true } }),
  ]);
  const trees = new Map(servers.map((s) => [s.id, new Set<string>()]));
  for (const r of [...suites, ...deployments]) trees.get(r.serverId)?.add(r.treeSha);
  for (const p of previews) trees.get(p.serverId)?.add(p.tree);
  return files.sweep(new Map(servers.map((s) => [s.name, [...(trees.get(s.id) ?? [])]])));
}
