import { RepoExistsError } from '@bmms/gitserver';
import { renderTemplate, templates, UnknownTemplateError } from '@bmms/runner-template';
import type { Principal } from '../accounts/principal.ts';
import { can } from '../accounts/roles.ts';
import { audit } from '../audit.ts';
import type { PlatformContext } from '../context.ts';
import { forbidden, invalidName, invalidRequest, nameTaken, notFound, unknownTemplate } from '../errors.ts';
import { allocateChangeNumber, authorOf } from './changes.ts';
import { isValidServerName } from './names.ts';

const INIT_BRANCH = 'bmms/init';

/** Loads a server of the caller's org by name, or throws 404 (also for other orgs' servers). */
export async function findServer(ctx: PlatformContext, principal: Principal, name: string) {
  const server = isValidServerName(name) ? await ctx.db.server.findUnique({ where: { name } }) : null;
  if (!server || server.orgId !== principal.orgId) throw notFound(`server "${name}"`);
  return server;
}

/** Throws 403 unless the caller's role grants `permission`. */
export function requirePermission(principal: Principal, permission: Parameters<typeof can>[1]): void {
  if (!can(principal.role, permission)) {
    throw forbidden(`your role "${principal.role}" may not do this (needs ${permission} permission)`);
  }
}

/**
 * Creates a server from a template: its row, its repo with an empty first commit on main, the
 * rendered template on a branch, and change #1. On any failure everything created is removed.
 */
export async function createServer(
  ctx: PlatformContext,
  principal: Principal,
  input: { name: unknown; template: unknown; description?: unknown },
  requestId?: string,
) {
  requirePermission(principal, 'write');
  const { name, template } = input;
  if (!isValidServerName(name)) throw invalidName(String(name ?? ''));
  if (typeof template !== 'string' || template.length === 0) {
    throw invalidRequest(`"template" is required; known templates: ${Object.keys(templates).join(', ')}`);
  }
  if (input.description !== undefined && typeof input.description !== 'string') {
    throw invalidRequest('"description" must be a string');
  }
  let files: Record<string, string>;
  try {
    files = renderTemplate(template, name);
  } catch (err) {
    if (err instanceof UnknownTemplateError) throw unknownTemplate(template, Object.keys(templates));
    throw err;
  }
  const description = (input.description as string | undefined) ?? templates[template]?.description ?? '';
  return provisionServer(
    ctx,
    principal,
    {
      name,
      files,
      source: template,
      description,
      title: `Create ${name} from the ${template} template`,
      body: `Renders the \`${template}\` template: ${Object.keys(files).sort().join(', ')}.`,
    },
    requestId,
  );
}

/** What a new server starts from: its files (change #1) and how to describe where they came from. */
export interface NewServer {
  name: string;
  files: Record<string, string>;
  /** Stored as the server's `template` (e.g. "echo", "openapi", "prompt"). */
  source: string;
  description: string;
  /** Title and body of change #1 (the title is also the commit message). */
  title: string;
  body: string;
}

/**
 * Creates a server from rendered files: its row, its repo with an empty first commit on main, the
 * files on a branch, and change #1. On any failure everything created is removed.
 */
export async function provisionServer(
  ctx: PlatformContext,
  principal: Principal,
  input: NewServer,
  requestId?: string,
) {
  requirePermission(principal, 'write');
  const { name, files } = input;
  if (await ctx.db.server.findUnique({ where: { name } })) throw nameTaken(name);

  let server: Awaited<ReturnType<typeof ctx.db.server.create>>;
  try {
    server = await ctx.db.server.create({
      data: { name, orgId: principal.orgId, template: input.source, description: input.description },
    });
  } catch (err) {
    if (await ctx.db.server.findUnique({ where: { name } })) throw nameTaken(name);
    throw err;
  }
  let repoCreated = false;
  try {
    try {
      await ctx.git.createRepo(name);
    } catch (err) {
      // A repo without a row is an orphan of an earlier crash: the row is the source of truth.
      if (!(err instanceof RepoExistsError)) throw err;
      await ctx.git.deleteRepo(name);
      await ctx.git.createRepo(name);
    }
    repoCreated = true;
    const author = await authorOf(ctx, principal);
    const root = await ctx.git.commitFiles(name, {
      branch: 'main',
      parent: null,
      files: {},
      message: 'Initialize repository',
      author,
    });
    const head = await ctx.git.commitFiles(name, {
      branch: INIT_BRANCH,
      parent: root.sha,
      files,
      message: input.title,
      author,
    });
    const number = await allocateChangeNumber(ctx, server.id);
    const change = await ctx.db.changeRequest.create({
      data: {
        serverId: server.id,
        number,
        title: input.title,
        body: input.body,
        branch: INIT_BRANCH,
        headSha: head.sha,
        baseSha: root.sha,
        authorId: principal.userId,
      },
    });
    await audit(
      ctx.db,
      principal,
      'server.create',
      { type: 'server', id: server.id },
      { name, template: input.source },
      requestId,
    );
    await audit(
      ctx.db,
      principal,
      'change.open',
      { type: 'change', id: change.id },
      { server: name, number },
      requestId,
    );
    const suite = await ctx.checks.ensureSuite(server, head.sha, head.tree);
    return { server, change, suite };
  } catch (err) {
    ctx.log.warn('server creation failed; rolling back', { server: name, err });
    if (repoCreated) await ctx.git.deleteRepo(name).catch(() => {});
    await ctx.db.server.delete({ where: { id: server.id } }).catch(() => {});
    throw err;
  }
}

/** Deletes a server: its row (and with it changes, checks, history), its repo and its instances. */
export async function deleteServer(ctx: PlatformContext, principal: Principal, name: string, requestId?: string) {
  const server = await findServer(ctx, principal, name);
  requirePermission(principal, 'admin');
  await ctx.db.server.delete({ where: { id: server.id } });
  await audit(ctx.db, principal, 'server.delete', { type: 'server', id: server.id }, { name }, requestId);
  await ctx.git.deleteRepo(name).catch((err) => ctx.log.warn('repo removal failed', { server: name, err }));
  ctx.reconciler.wake(name);
}

/** Removes repos that no server row owns (left by a crash between repo and row). */
export async function sweepOrphanRepos(ctx: PlatformContext, repoNames: string[]): Promise<string[]> {
  const removed: string[] = [];
  for (const name of repoNames) {
    if (await ctx.db.server.findUnique({ where: { name } })) continue;
    await ctx.git.deleteRepo(name);
    removed.push(name);
  }
  return removed;
}
