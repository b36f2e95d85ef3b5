import type { GitProvider } from '@bmms/gitserver';
import type { PrismaClient, PublishedTemplate, Server } from '@bmms/prisma';
import { findTemplate, manifestText, parseManifest, templates, VENDORED_RUNTIME_PATH } from '@bmms/runner-template';
import { z } from 'zod';
import type { Principal } from '../accounts/principal.ts';
import { can, requirePermission } from '../accounts/roles.ts';
import { audit } from '../audit.ts';
import type { CheckService } from '../checks/suites.ts';
import {
  ApiError,
  checksNotPassed,
  concurrentUpdate,
  forbidden,
  invalidRequest,
  templateNameTaken,
  templateNotFound,
  templateTakenDown,
  templateTooLarge,
  unknownPublishedTemplate,
} from '../errors.ts';
import type { Logger } from '../logger.ts';

/** What published templates need: each function takes the part it uses. */
export interface TemplateDeps {
  /** Published templates, forks and the audit log. */
  db: PrismaClient;
  /** The repository a template is published from. */
  git: GitProvider;
  /** Only a main whose checks passed is published. */
  checks: CheckService;
  log: Logger;
}

/** The most a published template's files may weigh (they are stored as a snapshot). */
export const MAX_TEMPLATE_BYTES = 2 * 1024 * 1024;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const VISIBILITIES = ['public', 'org'] as const;

const filesSchema = z.record(z.string(), z.string());

/** Whether the caller may see a published template (and fork it, unless it was taken down). */
function visibleTo(template: PublishedTemplate, principal: Principal): boolean {
  return template.orgId === principal.orgId || template.visibility === 'public';
}

/**
 * The public template gallery, for anyone (no credentials): the built-in templates and the published templates whose
 * visibility is `public` and that were not taken down. Only what a gallery shows: no organization, source server,
 * commit or files — and never an `org` template.
 */
export async function publicTemplates(ctx: Pick<TemplateDeps, 'db'>) {
  const published = await ctx.db.publishedTemplate.findMany({
    where: { visibility: 'public', takenDownAt: null },
    select: { name: true, description: true, revision: true, updatedAt: true },
    orderBy: { name: 'asc' },
  });
  return [
    ...Object.values(templates).map((t) => ({
      kind: 'builtin' as const,
      name: t.name,
      title: t.title,
      description: t.description,
    })),
    ...published.map((t) => ({
      kind: 'published' as const,
      name: t.name,
      description: t.description,
      revision: t.revision,
      updatedAt: t.updatedAt.toISOString(),
    })),
  ];
}

/** A built-in template as the API lists it, with the JSON Schema of its options. */
function builtinView(name: string) {
  const t = templates[name];
  if (!t) throw new Error(`unknown built-in template ${name}`);
  let options: unknown = null;
  try {
    options = z.toJSONSchema(t.options, { io: 'input', unrepresentable: 'any' });
  } catch {
    // an option type JSON Schema cannot express: the docs describe it
  }
  return { kind: 'builtin' as const, name: t.name, title: t.title, description: t.description, options };
}

/** A published template as the API shows it. */
export function publishedView(t: PublishedTemplate, principal: Principal, sourceServer?: string | null) {
  return {
    kind: 'published' as const,
    id: t.id,
    name: t.name,
    description: t.description,
    visibility: t.visibility,
    yours: t.orgId === principal.orgId,
    sourceServer: sourceServer ?? null,
    commit: t.commitSha,
    tree: t.treeSha,
    revision: t.revision,
    publishedAt: t.createdAt.toISOString(),
    updatedAt: t.updatedAt.toISOString(),
    takenDownAt: t.takenDownAt?.toISOString() ?? null,
    takedownReason: t.takedownReason,
  };
}

/** Built-in templates, then the published ones the caller may see: public ones and its own org's (taken down included). */
export async function listTemplates(ctx: Pick<TemplateDeps, 'db'>, principal: Principal) {
  requirePermission(principal, 'read');
  const published = await ctx.db.publishedTemplate.findMany({
    where: {
      OR: [{ orgId: principal.orgId }, { visibility: 'public', takenDownAt: null }],
    },
    include: { sourceServer: { select: { name: true } } },
    orderBy: { name: 'asc' },
  });
  return [
    ...Object.keys(templates).map(builtinView),
    ...published.map((t) => publishedView(t, principal, t.sourceServer?.name)),
  ];
}

/** A published template by id or name that the caller may see; 404 otherwise. */
export async function findPublished(ctx: Pick<TemplateDeps, 'db'>, principal: Principal, ref: string) {
  const template = await ctx.db.publishedTemplate.findFirst({
    where: UUID.test(ref) ? { OR: [{ id: ref }, { name: ref }] } : { name: ref },
  });
  if (!template || !visibleTo(template, principal)) throw templateNotFound(ref);
  return template;
}

/** The published template a new server forks from: visible to the caller and not taken down. */
export async function resolveForkSource(ctx: Pick<TemplateDeps, 'db'>, principal: Principal, ref: string) {
  let template: PublishedTemplate;
  try {
    template = await findPublished(ctx, principal, ref);
  } catch (err) {
    if (err instanceof ApiError && err.code === 'template_not_found') {
      if (findTemplate(ref)) {
        throw invalidRequest(`"${ref}" is a built-in template: create from it with {"template":"${ref}"}`);
      }
      throw unknownPublishedTemplate(ref);
    }
    throw err;
  }
  if (template.takenDownAt) throw templateTakenDown(template.name);
  return template;
}

/** The files of a published template, renamed for the new server `name` (mcp.json, package.json, README). */
export function forkFiles(template: PublishedTemplate, name: string): Record<string, string> {
  const files = filesSchema.parse(template.files);
  const from = template.name;
  const manifest = files['mcp.json'];
  if (manifest !== undefined) files['mcp.json'] = manifestText({ ...parseManifest(manifest), name });
  const pkg = files['package.json'];
  if (pkg !== undefined) {
    try {
      const parsed = JSON.parse(pkg) as Record<string, unknown>;
      if (parsed.name === from) files['package.json'] = `${JSON.stringify({ ...parsed, name }, null, 2)}\n`;
    } catch {
      // left as it is: the dependencies check reports it in the fork's first change
    }
  }
  const readme = files['README.md'];
  if (readme !== undefined) {
    files['README.md'] = readme
      .replace(new RegExp(`^# ${from}$`, 'm'), `# ${name}`)
      .split(`/s/${from}/mcp`)
      .join(`/s/${name}/mcp`)
      .split(`--transport http ${from} `)
      .join(`--transport http ${name} `)
      .split(`"${from}": {`)
      .join(`"${name}": {`);
  }
  return files;
}

/** The message of a fork's first commit: where it comes from, in words and as trailers. */
export function forkCommitMessage(template: PublishedTemplate, name: string): string {
  return [
    `Fork ${name} from template ${template.name} (revision ${template.revision})`,
    '',
    `This repository starts from the published template "${template.name}" at commit ${template.commitSha}.`,
    '',
    `Template-Id: ${template.id}`,
    `Template-Name: ${template.name}`,
    `Template-Revision: ${template.revision}`,
    `Template-Commit: ${template.commitSha}`,
    '',
  ].join('\n');
}

/**
 * Publishes a server as a template: a snapshot of main's HEAD, which must have a green check suite.
 * Publishing again records a new revision. Maintainers (owner, admin) only.
 */
export async function publishServer(
  ctx: Pick<TemplateDeps, 'db' | 'git' | 'checks'>,
  principal: Principal,
  server: Server,
  body: { visibility?: string; description?: string },
  requestId?: string,
) {
  requirePermission(principal, 'admin');
  const visibility = body.visibility ?? 'org';
  if (!(VISIBILITIES as readonly string[]).includes(visibility)) {
    throw invalidRequest('"visibility" must be "public" (every org may fork it) or "org" (only your org)');
  }
  if (body.description !== undefined && body.description.length > 500) {
    throw invalidRequest('"description" must be a string of at most 500 characters');
  }
  if (findTemplate(server.name)) throw templateNameTaken(server.name, 'a built-in template has this name');
  const existing = await ctx.db.publishedTemplate.findUnique({ where: { name: server.name } });
  if (existing && existing.sourceServerId !== server.id) {
    throw templateNameTaken(server.name, 'published from an earlier server of that name');
  }
  if (existing?.takenDownAt) throw templateTakenDown(existing.name);

  const head = await ctx.git.resolveRef(server.name, 'refs/heads/main');
  if (!head) throw checksNotPassed(`"${server.name}" has no commit on main yet: merge its first change, then publish`);
  const tree = await ctx.git.treeOf(server.name, head);
  const suite = await ctx.checks.suiteForTree(server.id, tree);
  if (suite?.conclusion !== 'success') {
    throw checksNotPassed(
      `main's HEAD ${head.slice(0, 7)} has ${suite ? `checks that ${suite.status === 'completed' ? `ended ${suite.conclusion}` : 'are still running'}` : 'never been checked'}: only a tree with green checks can be published`,
    );
  }
  const raw = await ctx.git.readTree(server.name, head);
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const files: Record<string, string> = {};
  let bytes = 0;
  for (const [path, content] of Object.entries(raw)) {
    // The vendored runtime is binary and the platform's own: a fork gets the current one when it is created.
    if (path === VENDORED_RUNTIME_PATH) continue;
    bytes += content.byteLength;
    try {
      files[path] = decoder.decode(content);
    } catch {
      throw invalidRequest(`${path} is not UTF-8 text: a template holds text files only`);
    }
  }
  if (bytes > MAX_TEMPLATE_BYTES) throw templateTooLarge(bytes, MAX_TEMPLATE_BYTES);
  if (files['mcp.json'] === undefined) throw invalidRequest('main has no mcp.json: there is nothing to publish');

  const description =
    body.description ?? (existing ? existing.description : parseManifest(files['mcp.json']).description);
  const data = { visibility, description, commitSha: head, treeSha: tree, files, publishedById: principal.userId };
  const template = existing
    ? await ctx.db.publishedTemplate.update({
        where: { id: existing.id },
        data: { ...data, revision: existing.revision + 1, updatedAt: new Date() },
      })
    : await ctx.db.publishedTemplate
        .create({ data: { ...data, name: server.name, orgId: server.orgId, sourceServerId: server.id } })
        .catch(async (err: unknown) => {
          // Two first publishes at once: the name's unique index lets one through.
          if (await ctx.db.publishedTemplate.findUnique({ where: { name: server.name } })) {
            throw concurrentUpdate(`"${server.name}" was published by another request just now; publish again`);
          }
          throw err;
        });
  await audit(
    ctx.db,
    principal,
    'template.publish',
    { type: 'template', id: template.id },
    { name: template.name, visibility, commit: head, revision: template.revision },
    requestId,
  );
  return { template, created: !existing };
}

/**
 * Takes a published template down: no new forks, gone from other orgs' catalogs. Servers forked from it
 * keep running; each fork's org gets an audit event and the server a `template_taken_down` notice.
 * Allowed to the publishing org's owners and admins, and for a public template to the platform operator's owner.
 */
export async function takedownTemplate(
  ctx: Pick<TemplateDeps, 'db' | 'log'>,
  principal: Principal,
  ref: string,
  body: { reason?: string },
  requestId?: string,
) {
  // Whoever may take a template down (its org's admins, the operator's owner) holds the admin permission.
  requirePermission(principal, 'admin');
  if (body.reason !== undefined && body.reason.length > 500) {
    throw invalidRequest('"reason" must be a string of at most 500 characters');
  }
  const template = await findPublished(ctx, principal, ref);
  const operator = await ctx.db.org.findFirst({ orderBy: { createdAt: 'asc' } });
  const orgAdmin = template.orgId === principal.orgId && can(principal.role, 'admin');
  const platformOwner =
    template.visibility === 'public' && principal.role === 'owner' && principal.orgId === operator?.id;
  if (!orgAdmin && !platformOwner) {
    throw forbidden(
      "only the publishing org's owners and admins (or, for a public template, the platform operator's owner) may take a template down",
    );
  }
  if (template.takenDownAt) return { template, notified: [] as string[] };
  const reason = body.reason ?? null;
  const updated = await ctx.db.publishedTemplate.update({
    where: { id: template.id },
    data: { takenDownAt: new Date(), takenDownById: principal.userId, takedownReason: reason },
  });
  await audit(
    ctx.db,
    principal,
    'template.takedown',
    { type: 'template', id: template.id, orgId: template.orgId },
    { name: template.name, reason },
    requestId,
  );
  const forks = await ctx.db.templateFork.findMany({ where: { templateId: template.id }, include: { server: true } });
  for (const fork of forks) {
    await audit(
      ctx.db,
      principal,
      'template.taken_down',
      { type: 'server', id: fork.serverId, orgId: fork.server.orgId },
      { server: fork.server.name, template: template.name, templateId: template.id, reason },
      requestId,
    );
  }
  ctx.log.info('template taken down', { template: template.name, forks: forks.length });
  return { template: updated, notified: forks.map((f) => f.server.name) };
}

/** Where a forked server comes from, and the notices its owners should read (a takedown of its template). */
export async function forkInfo(ctx: Pick<TemplateDeps, 'db'>, server: Server) {
  const fork = await ctx.db.templateFork.findUnique({ where: { serverId: server.id }, include: { template: true } });
  if (!fork) return { forkedFrom: null, notices: [] };
  const t = fork.template;
  const notices = t.takenDownAt
    ? [
        {
          code: 'template_taken_down',
          template: { id: t.id, name: t.name },
          takenDownAt: t.takenDownAt.toISOString(),
          reason: t.takedownReason,
          message: `The template "${t.name}" this server was forked from was taken down${t.takedownReason ? ` (${t.takedownReason})` : ''}. This server keeps running and stays yours; review its code, since its origin was withdrawn.`,
        },
      ]
    : [];
  return { forkedFrom: { id: t.id, name: t.name, commit: fork.commitSha }, notices };
}
