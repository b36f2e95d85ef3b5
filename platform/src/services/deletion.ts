import type { Prisma } from '@bmms/prisma';
import type { Principal } from '../accounts/principal.ts';
import { anonymizeAudit, audit } from '../audit.ts';
import { forbidden, invalidRequest, notFound, operatorOrg, orgHasMembers } from '../errors.ts';
import { purgeServer, type RemovalDeps } from './server-removal.ts';

type Tx = Prisma.TransactionClient;

/** The platform operator's org (the first one): never deleted, or another org would become the operator. */
async function refuseOperatorOrg(ctx: RemovalDeps, orgId: string): Promise<void> {
  const operator = await ctx.db.org.findFirst({ orderBy: { createdAt: 'asc' }, select: { id: true } });
  if (operator?.id === orgId) throw operatorOrg();
}

/**
 * The first, quick step of an org's deletion, in the caller's transaction: the org is marked `deleting`, and its
 * members, API keys and invitations go, so nobody acts in it any more. Returns the members (to invalidate).
 */
async function beginOrgDeletion(tx: Tx, orgId: string): Promise<string[]> {
  await tx.org.updateMany({ where: { id: orgId, deletingAt: null }, data: { deletingAt: new Date() } });
  const members = await tx.membership.findMany({ where: { orgId }, select: { userId: true } });
  await tx.apiKey.deleteMany({ where: { orgId } });
  await tx.membership.deleteMany({ where: { orgId } });
  await tx.invitation.deleteMany({ where: { orgId } });
  return members.map((m) => m.userId);
}

/** Every platform process forgets the memberships (and with them the keys) of `users` in `orgId`. */
async function forgetMembers(ctx: RemovalDeps, orgId: string, users: string[]): Promise<void> {
  for (const userId of users) await ctx.invalidations.publish({ kind: 'member', orgId, userId });
}

/**
 * The long step of an org's deletion (also what a restart resumes): every server goes the way a deleted server
 * goes (rows, repository, instances, files), then the org's generations, its audit trail is anonymized, and the
 * org row goes (with what cascades from it: templates…). Idempotent.
 */
export async function finishOrgDeletion(ctx: RemovalDeps, orgId: string): Promise<void> {
  // Until none is left: a generation under way may still create one.
  for (let servers = await serversOf(ctx, orgId); servers.length > 0; servers = await serversOf(ctx, orgId)) {
    for (const server of servers) await purgeServer(ctx, server);
  }
  // Again for a deletion a previous process started (a no-op once the customer is gone). While Stripe cannot be
  // reached the org row stays, marked deleting and inert, and the next start tries again: never gone but charged.
  try {
    await ctx.billing?.forgetCustomer(orgId);
  } catch (err) {
    ctx.log.error('organization deletion waits for its Stripe customer to be deleted; retried at the next start', {
      org: orgId,
      error: err instanceof Error ? err.message : String(err),
    });
    return;
  }
  await ctx.db.$transaction(async (tx) => {
    await tx.generation.deleteMany({ where: { orgId } });
    await anonymizeAudit(tx, { orgId });
    await tx.org.deleteMany({ where: { id: orgId } });
  });
  ctx.log.info('organization deleted', { org: orgId });
}

const serversOf = (ctx: RemovalDeps, orgId: string) =>
  ctx.db.server.findMany({ where: { orgId }, select: { id: true, name: true } });

/**
 * Deletes the caller's org (owners only; `confirm` must be its slug or its name): marked deleting with its members,
 * keys and invitations gone at once, an anonymous `org.deleted` event, then every server, row and file of it.
 */
export async function deleteOrg(
  ctx: RemovalDeps,
  principal: Principal,
  confirm: string,
  requestId?: string,
): Promise<{ servers: number }> {
  if (principal.role !== 'owner') throw forbidden('only an owner may delete the organization');
  const org = await ctx.db.org.findUnique({ where: { id: principal.orgId } });
  if (!org || org.deletingAt) throw notFound('organization');
  if (confirm !== org.slug && confirm !== org.name) {
    throw invalidRequest(`"confirm" must be the organization's slug ("${org.slug}") or its name`, {
      field: 'confirm',
    });
  }
  await refuseOperatorOrg(ctx, org.id);
  // The subscription first: when Stripe cannot be reached the deletion is refused with nothing changed, rather than
  // an org that is gone and still charged.
  await ctx.billing?.forgetCustomer(org.id);
  const servers = await ctx.db.server.count({ where: { orgId: org.id } });
  const anonymous = { requestId, ip: null };
  const members = await ctx.db.$transaction(async (tx) => {
    const members = await beginOrgDeletion(tx, org.id);
    // No actor, no name: the org's trail is anonymized below, and its name may be a person's.
    await audit(tx, undefined, 'org.deleted', { type: 'org', id: org.id, orgId: org.id }, { servers }, anonymous);
    return members;
  });
  await forgetMembers(ctx, org.id, members);
  await finishOrgDeletion(ctx, org.id);
  return { servers };
}

/** Finishes the org deletions a previous process started (run at start). Returns how many. */
export async function resumeDeletions(ctx: RemovalDeps): Promise<number> {
  const orgs = await ctx.db.org.findMany({ where: { deletingAt: { not: null } }, select: { id: true } });
  for (const org of orgs) {
    const members = await ctx.db.$transaction((tx) => beginOrgDeletion(tx, org.id));
    await forgetMembers(ctx, org.id, members);
    await finishOrgDeletion(ctx, org.id);
  }
  return orgs.length;
}

/**
 * The orgs a user's deletion takes along (those where they are the only member), after refusing when they are the
 * last owner of an org that has other members, or the only member of the operator's org.
 */
async function orgsGoingWith(ctx: RemovalDeps, userId: string): Promise<{ alone: string[]; staying: string[] }> {
  const memberships = await ctx.db.membership.findMany({
    where: { userId, org: { deletingAt: null } },
    include: { org: true },
  });
  const alone: string[] = [];
  const staying: string[] = [];
  for (const m of memberships) {
    const others = await ctx.db.membership.count({ where: { orgId: m.orgId, userId: { not: userId } } });
    if (others === 0) {
      await refuseOperatorOrg(ctx, m.orgId);
      alone.push(m.orgId);
      continue;
    }
    const owners = await ctx.db.membership.count({ where: { orgId: m.orgId, role: 'owner', userId: { not: userId } } });
    if (m.role === 'owner' && owners === 0) throw orgHasMembers(m.org.name);
    staying.push(m.orgId);
  }
  return { alone, staying };
}

/** Removes what of a user lives outside their row's cascades: OAuth records, authorship, generations, invitations. */
async function dropPersonalData(tx: Tx, user: { id: string; email: string }): Promise<void> {
  const grants = await tx.oauthPayload.findMany({ where: { accountId: user.id }, select: { grantId: true } });
  const grantIds = grants.map((g) => g.grantId).filter((g): g is string => g !== null);
  await tx.oauthPayload.deleteMany({ where: { OR: [{ accountId: user.id }, { grantId: { in: grantIds } }] } });
  await tx.changeRequest.updateMany({ where: { authorId: user.id }, data: { authorId: null } });
  await tx.generation.deleteMany({ where: { userId: user.id } });
  await tx.publishedTemplate.updateMany({ where: { publishedById: user.id }, data: { publishedById: null } });
  await tx.publishedTemplate.updateMany({ where: { takenDownById: user.id }, data: { takenDownById: null } });
  await tx.invitation.updateMany({ where: { invitedBy: user.id }, data: { invitedBy: null } });
  await tx.invitation.deleteMany({ where: { email: user.email } });
}

/**
 * Deletes the caller's account (`confirm` must be their email): their email, name, password, sessions, keys,
 * external identities and OAuth grants, and the orgs where they were the only member; their audit trail stays,
 * anonymized. Refused while they are the last owner of an org with other members.
 */
export async function deleteAccount(
  ctx: RemovalDeps,
  principal: Principal,
  confirm: string,
  requestId?: string,
): Promise<{ orgs: number }> {
  const user = await ctx.db.user.findUnique({ where: { id: principal.userId } });
  if (!user) throw notFound('account');
  if (confirm.trim().toLowerCase() !== user.email) {
    throw invalidRequest('"confirm" must be your account\'s email address', { field: 'confirm' });
  }
  const { alone, staying } = await orgsGoingWith(ctx, user.id);
  // The subscriptions of the orgs that go with them first, as for an org's own deletion.
  for (const orgId of alone) await ctx.billing?.forgetCustomer(orgId);
  // The deletion's own events carry no address: it would be the person's.
  const anonymous = { requestId, ip: null };
  await ctx.db.$transaction(async (tx) => {
    for (const orgId of alone) await beginOrgDeletion(tx, orgId);
    await dropPersonalData(tx, user);
    await tx.user.delete({ where: { id: user.id } });
    // Anonymous events: in each org they stay in (or none), and for each org that goes with them.
    for (const orgId of staying.length > 0 ? staying : [undefined]) {
      await audit(tx, undefined, 'account.deleted', { type: 'user', orgId }, {}, anonymous);
    }
    for (const orgId of alone) {
      await audit(tx, undefined, 'org.deleted', { type: 'org', id: orgId, orgId }, { withAccount: true }, anonymous);
    }
    await anonymizeAudit(tx, { userId: user.id });
  });
  for (const orgId of [...staying, ...alone]) await forgetMembers(ctx, orgId, [user.id]);
  await ctx.invalidations.publish({ kind: 'grant' });
  for (const orgId of alone) await finishOrgDeletion(ctx, orgId);
  return { orgs: alone.length };
}
