import { randomBytes } from 'node:crypto';
import { scanSource } from '@bmms/gitserver';
import type { Generation as GenerationRow, Prisma, Server } from '@bmms/prisma';
import { ManifestError, parseManifest, parseServerSpec, render, type ServerSpec } from '@bmms/runner-template';
import type { Principal } from '../accounts/principal.ts';
import { requirePermission } from '../accounts/roles.ts';
import { audit } from '../audit.ts';
import { suiteVerdict } from '../checks/suites.ts';
import {
  ApiError,
  generationFailed,
  generationNotAwaitingConfirmation,
  modelNotConfigured,
  nameTaken,
  notFound,
  nothingChanged,
  promptContainsSecret,
  promptEmpty,
  promptTooLong,
  serverNotMerged,
  specInvalid,
} from '../errors.ts';
import { authorOf, findChange, openChange, suiteOfChange } from '../services/changes.ts';
import { findServer, type ProvisionDeps, provisionServer } from '../services/servers.ts';
import { vendoredRuntimeFiles } from '../services/vendored-runtime.ts';
import { type Generation, type GenerationEvent, TERMINAL } from './index.ts';
import type { ModelEvent } from './model.ts';
import {
  applyEdit,
  EDIT_SYSTEM,
  editRequest,
  editServerTool,
  HANDLERS_SYSTEM,
  proposeServerTool,
  type ServerEdit,
  SPEC_SYSTEM,
  type SpecDraft,
  specDraftSchema,
  specText,
  writeHandlersTool,
} from './prompts.ts';
import { generatedTestExtras, toolTestPath } from './tests.ts';

/** What generations need: what creating a server needs, and the model with its event streams. */
export interface GenerationDeps extends ProvisionDeps {
  /** The model, its config, and the live event streams of running generations. */
  generation: Generation;
}

export const MAX_PROMPT = 8000;
/** Largest tool file sent back to the model when iterating (bigger ones are named, not sent). */
const MAX_CONTEXT_CHARS = 120_000;
const CHECKS_TIMEOUT_MS = 15 * 60_000;

/** A spec's problems as `path: message` lines. */
const specProblems = (error: ManifestError | { issues: { path: PropertyKey[]; message: string }[] }) =>
  error instanceof ManifestError
    ? error.issues.map((i) => `${i.path}: ${i.message}`)
    : error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);

/** What the API shows of a generation. */
export function generationView(g: GenerationRow) {
  return {
    id: g.id,
    kind: g.kind,
    status: g.status,
    server: g.serverName,
    prompt: g.prompt,
    spec: g.spec,
    change: g.changeNumber,
    error: g.error,
    events: g.events,
    createdAt: g.createdAt.toISOString(),
    updatedAt: g.updatedAt.toISOString(),
  };
}

/** Loads a generation of the caller's org, or 404. */
export async function findGeneration(
  ctx: Pick<GenerationDeps, 'db'>,
  principal: Principal,
  id: string,
): Promise<GenerationRow> {
  const g = /^[0-9a-f-]{36}$/.test(id) ? await ctx.db.generation.findUnique({ where: { id } }) : null;
  if (!g || g.orgId !== principal.orgId) throw notFound(`generation "${id}"`);
  return g;
}

/** Appends events and status changes to a generation, one write at a time, and tells the listeners. */
class Recorder {
  readonly #ctx: GenerationDeps;
  readonly #id: string;
  #chain: Promise<void> = Promise.resolve();
  #seq: number;
  #status: string;

  constructor(ctx: GenerationDeps, row: GenerationRow) {
    this.#ctx = ctx;
    this.#id = row.id;
    this.#seq = Array.isArray(row.events) ? row.events.length : 0;
    this.#status = row.status;
  }

  /** Records an event (and optionally new columns); resolves when it is stored. */
  emit(type: string, fields: Record<string, unknown> = {}, data: Prisma.GenerationUpdateInput = {}): Promise<void> {
    const event: GenerationEvent = { seq: this.#seq++, type, at: new Date().toISOString(), ...fields };
    const next = this.#chain.then(async () => {
      const row = await this.#ctx.db.generation.findUniqueOrThrow({ where: { id: this.#id } });
      const events = [...(Array.isArray(row.events) ? row.events : []), event] as Prisma.InputJsonValue[];
      const updated = await this.#ctx.db.generation.update({ where: { id: this.#id }, data: { ...data, events } });
      this.#status = updated.status;
      this.#ctx.generation.publish(this.#id, event, updated.status);
    });
    this.#chain = next.catch((err) => this.#ctx.log.error('generation event not stored', { id: this.#id, err }));
    return next;
  }

  /** Model progress as events. */
  modelEvent = (e: ModelEvent): void => {
    // A failed write is logged by the chain; progress events never fail the run.
    const stored =
      e.type === 'model_retry'
        ? this.emit('model_retry', { reason: e.reason })
        : this.emit('output_invalid', { attempt: e.attempt, problems: e.problems.slice(0, 20) });
    stored.catch(() => {});
  };

  /** Records a failure as the final event. */
  async fail(err: unknown): Promise<void> {
    const error = (err instanceof ApiError ? err : generationFailed()).toRecord();
    if (!(err instanceof ApiError)) this.#ctx.log.error('generation failed', { id: this.#id, err });
    await this.emit('failed', { error }, { status: 'failed', error });
  }

  get status(): string {
    return this.#status;
  }
}

/** Validates a prompt: present, bounded, and free of credentials (refused before it is sent or stored). */
export async function checkPrompt(value: unknown): Promise<string> {
  if (typeof value !== 'string' || value.trim() === '') throw promptEmpty();
  const prompt = value.trim();
  if (prompt.length > MAX_PROMPT) throw promptTooLong(prompt.length, MAX_PROMPT);
  const found = await scanSource('prompt', prompt);
  if (found.length > 0) throw promptContainsSecret([...new Set(found.map((f) => f.kind))]);
  return prompt;
}

/** POST /generations: checks the prompt, records the generation and starts it in the background. */
export async function startGeneration(
  ctx: GenerationDeps,
  principal: Principal,
  body: { prompt?: unknown; server?: string },
  requestId?: string,
): Promise<GenerationRow> {
  requirePermission(principal, 'write');
  const prompt = await checkPrompt(body.prompt);
  if (!ctx.generation.config.anthropicApiKey) throw modelNotConfigured();
  let server: Server | undefined;
  if (body.server !== undefined) {
    server = await findServer(ctx, principal, body.server);
    const manifest = await ctx.git.readFile(server.name, 'refs/heads/main', 'mcp.json').catch(() => null);
    if (manifest === null) throw serverNotMerged(server.name);
  }
  const row = await ctx.db.generation.create({
    data: {
      orgId: principal.orgId,
      userId: principal.userId,
      kind: server ? 'iterate' : 'create',
      serverName: server?.name ?? null,
      prompt,
      status: 'planning',
    },
  });
  await audit(
    ctx.db,
    principal,
    'generation.start',
    { type: 'generation', id: row.id },
    { kind: row.kind, server: row.serverName },
    requestId,
  );
  const recorder = new Recorder(ctx, row);
  ctx.generation.track(
    (server ? iterate(ctx, principal, row, server, recorder, requestId) : planSpec(ctx, row, recorder)).catch((err) =>
      recorder.fail(err),
    ),
  );
  return row;
}

/** Step 1 of a new server: the model proposes a spec the user confirms or edits. */
async function planSpec(ctx: GenerationDeps, row: GenerationRow, recorder: Recorder): Promise<void> {
  await recorder.emit('planning', { model: ctx.generation.config.model });
  const draft = await ctx.generation.model.call(
    { system: SPEC_SYSTEM, messages: [{ role: 'user', content: row.prompt }], tool: proposeServerTool },
    recorder.modelEvent,
  );
  await recorder.emit(
    'spec_ready',
    { spec: draft },
    { status: 'awaiting_confirmation', spec: draft as Prisma.InputJsonValue, serverName: draft.name },
  );
}

/** POST /generations/<id>/confirm: takes the (optionally edited) spec and starts step 2. */
export async function confirmGeneration(
  ctx: GenerationDeps,
  principal: Principal,
  id: string,
  body: { spec?: Record<string, unknown> },
  requestId?: string,
): Promise<GenerationRow> {
  requirePermission(principal, 'write');
  const row = await findGeneration(ctx, principal, id);
  if (row.status !== 'awaiting_confirmation') throw generationNotAwaitingConfirmation(row.status);
  const parsed = specDraftSchema.safeParse(body.spec === undefined ? row.spec : body.spec);
  if (!parsed.success) throw specInvalid(specProblems(parsed.error));
  const spec = parsed.data;
  const leaked = await scanSource('spec', JSON.stringify(spec, null, 1));
  if (leaked.length > 0) throw promptContainsSecret([...new Set(leaked.map((f) => f.kind))], 'spec');
  if (await ctx.db.server.findUnique({ where: { name: spec.name } })) throw nameTaken(spec.name);
  // Compare-and-set on the status: two confirms cannot both start step 2.
  const { count } = await ctx.db.generation.updateMany({
    where: { id: row.id, status: 'awaiting_confirmation' },
    data: { status: 'generating', spec: spec as Prisma.InputJsonValue, serverName: spec.name },
  });
  if (count === 0) throw generationNotAwaitingConfirmation('already confirmed');
  const updated = await ctx.db.generation.findUniqueOrThrow({ where: { id: row.id } });
  await audit(ctx.db, principal, 'generation.confirm', { type: 'generation', id }, { server: spec.name }, requestId);
  const recorder = new Recorder(ctx, updated);
  ctx.generation.track(
    writeServer(ctx, principal, updated, spec, recorder, requestId).catch((err) => recorder.fail(err)),
  );
  return updated;
}

/** Step 2 of a new server: handler sources, render, commit, change #1, checks. */
async function writeServer(
  ctx: GenerationDeps,
  principal: Principal,
  row: GenerationRow,
  draft: SpecDraft,
  recorder: Recorder,
  requestId?: string,
): Promise<void> {
  await recorder.emit('confirmed', { server: draft.name });
  const handlers = await ctx.generation.model.call(
    {
      system: HANDLERS_SYSTEM,
      messages: [
        {
          role: 'user',
          content: `Request: ${row.prompt}\n\nThe confirmed manifest (tools, secrets, egress):\n\`\`\`json\n${specText(draft)}\n\`\`\``,
        },
      ],
      tool: writeHandlersTool(draft),
    },
    recorder.modelEvent,
  );
  const sources = new Map(handlers.tools.map((t) => [t.name, t.source]));
  let spec: ServerSpec;
  try {
    spec = parseServerSpec({
      ...draft,
      version: '0.1.0',
      tools: draft.tools.map((t) => ({ ...t, source: sources.get(t.name) ?? '' })),
    });
  } catch (err) {
    if (err instanceof ManifestError) throw specInvalid(specProblems(err));
    throw err;
  }
  const files = render(spec, generatedTestExtras(spec));
  await recorder.emit('files_rendered', { files: Object.keys(files) });
  const { server, change } = await provisionServer(
    ctx,
    principal,
    {
      name: spec.name,
      files,
      source: 'prompt',
      description: spec.description,
      title: `Create ${spec.name}: ${spec.description}`.slice(0, 200),
      body: `Generated from a prompt (generation ${row.id}).\n\n> ${row.prompt.replace(/\n/g, '\n> ')}\n\nTools: ${spec.tools.map((t) => `\`${t.name}\``).join(', ')}.`,
    },
    requestId,
  );
  await recorder.emit('committed', { branch: change.branch, sha: change.headSha });
  await recorder.emit(
    'change_opened',
    { server: server.name, number: change.number },
    { status: 'checking', changeNumber: change.number },
  );
  await reportChecks(ctx, server, change.number, recorder);
}

/** Waits for the checks of a change and records them; the generation completes either way (the change shows why). */
async function reportChecks(ctx: GenerationDeps, server: Server, number: number, recorder: Recorder): Promise<void> {
  const deadline = Date.now() + CHECKS_TIMEOUT_MS;
  for (;;) {
    const change = await findChange(ctx, server, number);
    const suite = await suiteOfChange(ctx, server, change);
    if (suite && suite.status === 'completed') {
      await recorder.emit(
        'checks',
        {
          conclusion: suiteVerdict(suite),
          checks: suite.runs.map((r) => ({ name: r.name, conclusion: r.conclusion, summary: r.summary.slice(0, 500) })),
        },
        { status: 'completed' },
      );
      return;
    }
    if (Date.now() > deadline || ctx.generation.closing) {
      await recorder.emit('checks', { conclusion: 'pending', checks: [] }, { status: 'completed' });
      return;
    }
    await new Promise((r) => setTimeout(r, 300));
  }
}

/** The spec of main's HEAD: the manifest plus each tool's file. */
async function currentSpec(ctx: GenerationDeps, server: Server, head: string) {
  const text = await ctx.git.readFile(server.name, head, 'mcp.json');
  if (text === null) throw serverNotMerged(server.name);
  const manifest = parseManifest(text);
  const files: Record<string, string> = {};
  const tools = [];
  for (const tool of manifest.tools) {
    const path = `src/tools/${tool.name}.ts`;
    const source = (await ctx.git.readFile(server.name, head, path)) ?? '';
    files[path] = source;
    tools.push({ ...tool, source });
  }
  return { text, spec: parseServerSpec({ ...manifest, tools }), files };
}

/** Paths whose content differs between two commits (`base` null: every path of head). */
async function changedPaths(
  ctx: GenerationDeps,
  repo: string,
  base: string | null,
  head: string,
): Promise<Set<string>> {
  const after = await ctx.git.readTree(repo, head);
  const before = base ? await ctx.git.readTree(repo, base) : {};
  const out = new Set<string>();
  for (const path of new Set([...Object.keys(before), ...Object.keys(after)])) {
    const a = before[path];
    const b = after[path];
    if (!a || !b || Buffer.compare(Buffer.from(a), Buffer.from(b)) !== 0) out.add(path);
  }
  return out;
}

/** The view files of a tree (HTML, CSS and TypeScript under ui/), as text: the model sees and edits them. */
function viewFilesOf(tree: Record<string, Uint8Array>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [path, bytes] of Object.entries(tree)) {
    if (/^ui\/.+\.(?:html|css|ts)$/.test(path)) out[path] = Buffer.from(bytes).toString('utf8');
  }
  return out;
}

/** Whether the request names a file: a tool's name, or a view's folder or file name under ui/. */
function named(prompt: string, path: string): boolean {
  const name = path.startsWith('src/tools/')
    ? path.slice('src/tools/'.length, -3)
    : (path.split('/')[1] ?? '').replace(/\.\w+$/, '');
  return name !== '' && prompt.includes(name);
}

/** An iteration: edits from the model, applied to main's files; only what changed is committed, as a new change. */
async function iterate(
  ctx: GenerationDeps,
  principal: Principal,
  row: GenerationRow,
  server: Server,
  recorder: Recorder,
  requestId?: string,
): Promise<void> {
  await recorder.emit('planning', { model: ctx.generation.config.model, server: server.name });
  const head = await ctx.git.resolveRef(server.name, 'refs/heads/main');
  if (!head) throw serverNotMerged(server.name);
  const current = await currentSpec(ctx, server, head);
  const before = await ctx.git.readTree(server.name, head);
  // Send every tool and view file while they fit; past that, only the files the request names.
  let context: Record<string, string> = { ...current.files, ...viewFilesOf(before) };
  if (Object.values(context).reduce((n, t) => n + t.length, 0) > MAX_CONTEXT_CHARS) {
    context = Object.fromEntries(Object.entries(context).filter(([path]) => named(row.prompt, path)));
  }
  const validate = (spec: ServerSpec): string[] => {
    try {
      render(spec);
      return [];
    } catch (err) {
      if (err instanceof ManifestError) return err.issues.map((i) => `${i.path}: ${i.message}`);
      throw err;
    }
  };
  const edit = await ctx.generation.model.call(
    {
      system: EDIT_SYSTEM,
      messages: [{ role: 'user', content: editRequest(row.prompt, current.text, context) }],
      tool: editServerTool(current.spec, validate),
    },
    recorder.modelEvent,
  );
  const next = parseServerSpec(applyEdit(current.spec, edit));
  await recorder.emit(
    'spec_ready',
    { spec: { ...next, tools: next.tools.map(({ source: _s, ...t }) => t) } },
    {
      spec: { ...next, tools: next.tools.map(({ source: _s, ...t }) => t) } as Prisma.InputJsonValue,
    },
  );
  const rendered = render(next, generatedTestExtras(next, new Set(Object.keys(before))));
  const write: Record<string, string | Uint8Array> = {};
  for (const [path, text] of Object.entries({ ...rendered, ...viewEdits(edit) })) {
    const old = before[path];
    if (!old || Buffer.from(old).toString('utf8') !== text) write[path] = text;
  }
  const remove = edit.remove
    .flatMap((n) => [`src/tools/${n}.ts`, toolTestPath(n)])
    .filter((p) => p in before && !(p in rendered));
  if (Object.keys(write).length === 0 && remove.length === 0) {
    throw nothingChanged();
  }
  // A change also brings the vendored runtime up to this platform's (or adds it to a repo rendered before it).
  Object.assign(write, await vendoredRuntimeFiles(rendered, before));
  await recorder.emit('files_rendered', { files: Object.keys(write), removed: remove });
  const branch = `gen/${row.id.slice(0, 8)}-${randomBytes(2).toString('hex')}`;
  const commit = await ctx.git.commitFiles(server.name, {
    branch,
    parent: head,
    files: write,
    deletions: remove,
    message: `${edit.title}\n\n${edit.summary}`,
    author: await authorOf(ctx, principal),
  });
  await recorder.emit('committed', { branch, sha: commit.sha });
  const touched = new Set([...Object.keys(write), ...remove]);
  const conflicts: { number: number; paths: string[] }[] = [];
  const others = await ctx.db.changeRequest.findMany({ where: { serverId: server.id, state: 'open' } });
  for (const other of others) {
    const theirs = await changedPaths(ctx, server.name, other.baseSha, other.headSha).catch(() => new Set<string>());
    const paths = [...theirs].filter((p) => touched.has(p)).sort();
    if (paths.length > 0) conflicts.push({ number: other.number, paths });
  }
  const body = [
    edit.summary,
    '',
    `Generated from a prompt (generation ${row.id}):`,
    '',
    `> ${row.prompt.replace(/\n/g, '\n> ')}`,
    ...(conflicts.length > 0
      ? [
          '',
          '**Conflicts with other open changes** (the same files are edited there; merging one needs the other rebased):',
          ...conflicts.map((c) => `- #${c.number}: ${c.paths.join(', ')}`),
        ]
      : []),
  ].join('\n');
  const { change } = await openChange(ctx, principal, server, { branch, title: edit.title, body }, requestId);
  await recorder.emit(
    'change_opened',
    { server: server.name, number: change.number, conflicts },
    { status: 'checking', changeNumber: change.number },
  );
  await reportChecks(ctx, server, change.number, recorder);
}

/** The view files an edit writes, by path. */
function viewEdits(edit: ServerEdit): Record<string, string> {
  return Object.fromEntries(edit.views.map((v) => [v.path, v.source]));
}

/** Whether a generation's stream can end: it reached a final status. */
export const isTerminal = (status: string): boolean => TERMINAL.has(status);

/** A stable Prisma JSON array of stored events. */
export function storedEvents(row: GenerationRow): GenerationEvent[] {
  return (Array.isArray(row.events) ? row.events : []) as unknown as GenerationEvent[];
}
