import { type GitProvider, RepoExistsError } from '@bmms/gitserver';
import type { PrismaClient } from '@bmms/prisma';
import type { Reconciler } from '@bmms/reconciler';
import { renderTemplate, TemplateOptionsError, templates, UnknownTemplateError } from '@bmms/runner-template';
import type { Principal } from '../accounts/principal.ts';
import { requirePermission } from '../accounts/roles.ts';
import { audit } from '../audit.ts';
import type { CheckService } from '../checks/suites.ts';
import {
  invalidName,
  invalidRequest,
  invalidTemplateOptions,
  nameTaken,
  notFound,
  planLimitReached,
  unknownTemplate,
} from '../errors.ts';
import type { GitHubPlacement, GitHubServers } from '../github/servers.ts';
import type { InvalidationBus } from '../invalidation.ts';
import type { Logger } from '../logger.ts';
import { PLANS, type Plan, SOLD_PLANS } from '../plans.ts';
import { allocateChangeNumber, authorOf } from './changes.ts';
import { isValidServerName } from './names.ts';
import { dropServerRows, type RemovalDeps, removeServerFiles } from './server-removal.ts';
import { forkCommitMessage, forkFiles, resolveForkSource } from './templates.ts';
import { vendoredRuntimeFiles } from './vendored-runtime.ts';

/** What servers need: each function takes the part it uses. */
export interface ServerDeps {
  /** Servers, changes, forks and the audit log. */
  db: PrismaClient;
  /** The servers' repositories. */
  git: GitProvider;
  /** Starts the check suite of change #1. */
  checks: CheckService;
  /** Woken when a server is deleted, so its instances stop. */
  reconciler: Reconciler;
  /** Tells every gateway that a server came or went. */
  invalidations: InvalidationBus;
  log: Logger;
  /** The org's plan: how many servers it may have, how many tools each. */
  plans: { of(orgId: string): Promise<Plan> };
  /** Servers whose repository is on GitHub: placing a new one, and its pull requests. */
  github: Pick<GitHubServers, 'placement' | 'created' | 'opened'>;
}

/** What creating a server needs (a template, a fork, an OpenAPI import, a generation). */
export type ProvisionDeps = Pick<ServerDeps, 'db' | 'git' | 'checks' | 'invalidations' | 'log' | 'plans' | 'github'>;

const INIT_BRANCH = 'bmms/init';

/** Loads a server of the caller's org by name, or throws 404 (also for other orgs' servers). */
export async function findServer(ctx: Pick<ServerDeps, 'db'>, principal: Principal, name: string) {
  const server = isValidServerName(name) ? await ctx.db.server.findUnique({ where: { name } }) : null;
  if (!server || server.orgId !== principal.orgId) throw notFound(`server "${name}"`);
  return server;
}

/** What a new server starts from: its files, the words of its first commits, and a fork's origin. */
interface Origin {
  files: Record<string, string>;
  template: string;
  description: string;
  rootMessage: string;
  title: string;
  body: string;
  fork?: { templateId: string; commitSha: string };
}

/** What POST /servers takes to create from a template (its types checked by the API's schema). */
export interface NewServerInput {
  name?: unknown;
  template?: string;
  from?: string;
  options?: Record<string, unknown>;
  description?: string;
  /** Create the repository in the org's GitHub instead of the platform's store. */
  github?: GitHubPlacement;
}

/** Renders a built-in template with its options, or copies a published one; nothing is written yet. */
async function originOf(
  ctx: Pick<ServerDeps, 'db'>,
  principal: Principal,
  name: string,
  input: NewServerInput,
): Promise<Origin> {
  const { template, from, options } = input;
  if (from !== undefined) {
    if (template !== undefined) {
      throw invalidRequest('give "template" (a built-in template) or "from" (a published template), not both');
    }
    if (from.length === 0) throw invalidRequest('"from" must be a template id or name');
    if (options !== undefined) throw invalidRequest('"options" apply to built-in templates; a fork copies its files');
    const source = await resolveForkSource(ctx, principal, from);
    const files = forkFiles(source, name);
    return {
      files,
      template: source.name,
      description: input.description ?? source.description,
      rootMessage: forkCommitMessage(source, name),
      title: `Create ${name} from the published template ${source.name}`,
      body: `Copies the published template \`${source.name}\` (revision ${source.revision}, ${source.commitSha.slice(0, 7)}): ${Object.keys(files).sort().join(', ')}.`,
      fork: { templateId: source.id, commitSha: source.commitSha },
    };
  }
  if (template === undefined || template.length === 0) {
    throw invalidRequest(
      `"template" (or "from", a published template) is required; built-in templates: ${Object.keys(templates).join(', ')}`,
    );
  }
  let files: Record<string, string>;
  try {
    files = renderTemplate(template, name, options);
  } catch (err) {
    if (err instanceof UnknownTemplateError) {
      const published = await ctx.db.publishedTemplate.findUnique({ where: { name: template } });
      if (published && (published.orgId === principal.orgId || published.visibility === 'public')) {
        throw invalidRequest(`"${template}" is a published template: fork it with {"from":"${template}"}`);
      }
      throw unknownTemplate(template, Object.keys(templates));
    }
    if (err instanceof TemplateOptionsError) throw invalidTemplateOptions(template, err.issues);
    throw err;
  }
  return {
    files,
    template,
    description: input.description ?? templates[template]?.description ?? '',
    rootMessage: 'Initialize repository',
    title: `Create ${name} from the ${template} template`,
    body: `Renders the \`${template}\` template: ${Object.keys(files).sort().join(', ')}.`,
  };
}

/**
 * Creates a server from a built-in template (with options) or by forking a published one (`from`): every
 * input is validated before anything is written, then `provisionServer` creates it.
 */
export async function createServer(
  ctx: ProvisionDeps,
  principal: Principal,
  input: NewServerInput,
  requestId?: string,
) {
  requirePermission(principal, 'write');
  const { name } = input;
  if (!isValidServerName(name)) throw invalidName(String(name ?? ''));
  const origin = await originOf(ctx, principal, name, input);
  return provisionServer(
    ctx,
    principal,
    {
      name,
      files: origin.files,
      source: origin.template,
      description: origin.description,
      title: origin.title,
      body: origin.body,
      rootMessage: origin.rootMessage,
      ...(origin.fork ? { fork: origin.fork } : {}),
      ...(input.github ? { github: input.github } : {}),
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
  /** Message of the repo's first commit on main (default "Initialize repository"); a fork's records its origin. */
  rootMessage?: string;
  /** The published template a fork starts from, recorded for takedown notices. */
  fork?: { templateId: string; commitSha: string };
  /** Where on GitHub its repository goes (absent: the platform's own Git store). */
  github?: GitHubPlacement;
}

/**
 * Refuses a server beyond the org's plan (a plan lowered below what the org has keeps its servers running and only
 * blocks new ones), naming the plan and the larger ones.
 */
async function checkServerCount(ctx: Pick<ProvisionDeps, 'db' | 'plans'>, orgId: string): Promise<void> {
  const plan = await ctx.plans.of(orgId);
  if (plan.servers === null) return;
  const count = await ctx.db.server.count({ where: { orgId } });
  if (count < plan.servers) return;
  const larger = SOLD_PLANS.map((id) => PLANS[id])
    .filter((p) => p.servers === null || p.servers > (plan.servers ?? 0))
    .map((p) => `${p.name}: ${p.servers === null ? 'set per organization' : `${p.servers} servers`}`);
  throw planLimitReached({ id: plan.id, name: plan.name, servers: plan.servers }, count, larger);
}

/**
 * Creates a server from rendered files: its row, its repo with an empty first commit on main, the
 * files on a branch, and change #1 (and, for a fork, its link to the template). On any failure
 * everything created is removed.
 */
export async function provisionServer(ctx: ProvisionDeps, principal: Principal, input: NewServer, requestId?: string) {
  requirePermission(principal, 'write');
  const { name, files } = input;
  if (await ctx.db.server.findUnique({ where: { name } })) throw nameTaken(name);
  await checkServerCount(ctx, principal.orgId);
  const placement = input.github ? await ctx.github.placement(principal.orgId, name, input.github) : {};

  let server: Awaited<ReturnType<typeof ctx.db.server.create>>;
  try {
    server = await ctx.db.server.create({
      data: { name, orgId: principal.orgId, template: input.source, description: input.description, ...placement },
    });
  } catch (err) {
    if (await ctx.db.server.findUnique({ where: { name } })) throw nameTaken(name);
    throw err;
  }
  // A gateway that cached "no such server" (someone called the name before) learns it exists.
  await ctx.invalidations.publish({ kind: 'server', name });
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
      message: input.rootMessage ?? 'Initialize repository',
      author,
    });
    const head = await ctx.git.commitFiles(name, {
      branch: INIT_BRANCH,
      parent: root.sha,
      files: { ...files, ...(await vendoredRuntimeFiles(files)) },
      message: input.title,
      author,
    });
    if (input.fork) await ctx.db.templateFork.create({ data: { serverId: server.id, ...input.fork } });
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
      { name, template: input.source, ...(input.fork ? { forkedFrom: input.fork } : {}) },
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
    if (input.github) {
      await ctx.github.created(server);
      await ctx.github.opened(server, change);
      server = await ctx.db.server.findUniqueOrThrow({ where: { id: server.id } });
    }
    const suite = await ctx.checks.ensureSuite(server, head.sha, head.tree);
    const opened = await ctx.db.changeRequest.findUniqueOrThrow({ where: { id: change.id } });
    return { server, change: opened, suite };
  } catch (err) {
    ctx.log.warn('server creation failed; rolling back', { server: name, err });
    if (repoCreated) await ctx.git.deleteRepo(name).catch(() => {});
    await ctx.db.server.delete({ where: { id: server.id } }).catch(() => {});
    await ctx.invalidations.publish({ kind: 'server', name });
    throw err;
  }
}

/** Deletes a server: its rows (changes, checks, history, secrets…), its repo, its instances and its files. */
export async function deleteServer(ctx: RemovalDeps, principal: Principal, name: string, requestId?: string) {
  const server = await findServer(ctx, principal, name);
  requirePermission(principal, 'admin');
  const leftovers = await dropServerRows(ctx, server);
  // A deletion of the same server at the same moment took its rows first: for this one it is already gone.
  if (!leftovers) throw notFound(`server "${name}"`);
  await audit(ctx.db, principal, 'server.delete', { type: 'server', id: server.id }, { name }, requestId);
  await removeServerFiles(ctx, leftovers);
}

/** Removes repos that no server row owns (left by a crash between repo and row). */
export async function sweepOrphanRepos(ctx: Pick<ServerDeps, 'db' | 'git'>, repoNames: string[]): Promise<string[]> {
  const removed: string[] = [];
  for (const name of repoNames) {
    if (await ctx.db.server.findUnique({ where: { name } })) continue;
    await ctx.git.deleteRepo(name);
    removed.push(name);
  }
  return removed;
}
