import { readFile } from 'node:fs/promises';
import type { BmmsClient, Generation, GenerationEvent } from '../client.ts';
import { type Command, type CommandContext, str } from '../command.ts';
import { UsageError } from '../exit-codes.ts';
import { ask, json, note, out, readStdin } from '../io.ts';

/** One progress line for an event of the stream. */
export function describeEvent(e: GenerationEvent): string {
  switch (e.type) {
    case 'planning':
      return `planning with ${String(e.model ?? 'the model')}…`;
    case 'model_retry':
      return `model busy, retrying (${String(e.reason ?? '')})`;
    case 'output_invalid':
      return `answer invalid (attempt ${String(e.attempt ?? '?')}), sent back for repair`;
    case 'spec_ready': {
      const spec = (e.spec ?? {}) as { name?: string; tools?: { name: string }[] };
      return `spec ready: ${spec.name ?? '?'} with tools ${(spec.tools ?? []).map((t) => t.name).join(', ')}`;
    }
    case 'confirmed':
      return `confirmed: generating ${String(e.server ?? '')}`;
    case 'files_rendered':
      return `files rendered: ${Array.isArray(e.files) ? e.files.length : 0}`;
    case 'committed':
      return `committed ${String(e.sha ?? '').slice(0, 7)} on ${String(e.branch ?? '')}`;
    case 'change_opened':
      return `change #${String(e.number ?? '?')} opened on ${String(e.server ?? '')}; checks running…`;
    case 'checks':
      return `checks finished: ${String(e.conclusion ?? '')}`;
    case 'failed': {
      const err = (e.error ?? {}) as { code?: string; message?: string };
      return `failed: ${err.message ?? ''} (${err.code ?? 'error'})`;
    }
    default:
      return e.type;
  }
}

/** Follows the stream from `after`, printing progress; stops at `spec_ready` (when `stopAtSpec`) or its end. */
async function follow(ctx: CommandContext, api: BmmsClient, id: string, after: number, stopAtSpec: boolean) {
  let last = after;
  for await (const event of api.generationEvents(id, after)) {
    last = event.seq;
    note(ctx.io, `  ${describeEvent(event)}`);
    if (stopAtSpec && event.type === 'spec_ready') break;
  }
  return last;
}

/** Confirms (when asked or allowed), then follows the generation to its end; returns the final generation. */
async function confirmAndFinish(ctx: CommandContext, api: BmmsClient, g: Generation, after: number) {
  let spec = g.spec ?? undefined;
  const name = str(ctx.values, 'name');
  if (spec && name) spec = { ...spec, name };
  if (!ctx.values.yes) {
    if (!ctx.io.stdin.isTTY) {
      note(ctx.io, `The spec waits for confirmation: bmms generate --confirm ${g.id} [--name <name>]`);
      return g;
    }
    const answer = await ask(ctx.io, `Create ${String(spec?.name ?? '')} from this spec? [y/N] `);
    if (!/^y(es)?$/i.test(answer.trim())) {
      note(ctx.io, `Not confirmed. Later: bmms generate --confirm ${g.id}`);
      return g;
    }
  }
  await api.confirmGeneration(g.id, spec);
  await follow(ctx, api, g.id, after, false);
  return api.getGeneration(g.id);
}

/** The final report of a generation. */
function report(ctx: CommandContext, g: Generation): void {
  if (ctx.json) json(ctx.io, g);
  else if (g.status === 'completed') {
    out(ctx.io, `Change #${g.change} is open on ${g.server}. Merge it: bmms changes merge ${g.server} ${g.change}`);
  } else if (g.status === 'awaiting_confirmation') out(ctx.io, `Generation ${g.id} awaits confirmation.`);
  else if (g.status !== 'failed') out(ctx.io, `Generation ${g.id} is ${g.status}.`);
  if (g.status === 'failed') {
    const message = `generation failed: ${g.error?.message ?? 'unknown error'} (${g.error?.code ?? 'error'})`;
    throw new GenerationFailed(message);
  }
}

/** A generation that ended `failed`: exits 1. */
export class GenerationFailed extends Error {}

async function fromOpenApi(ctx: CommandContext, file: string): Promise<void> {
  const name = str(ctx.values, 'name');
  if (!name) throw new UsageError('--openapi needs --name <server name>');
  if (ctx.args.length > 0) throw new UsageError('give a prompt or --openapi, not both');
  const document = /^https?:\/\//.test(file) ? file : await readFile(file, 'utf8');
  const body: Record<string, unknown> = { name, openapi: document };
  const operations = ctx.values.operation as string[] | undefined;
  if (operations) body.operations = operations;
  const baseUrl = str(ctx.values, 'base-url');
  if (baseUrl) body.baseUrl = baseUrl;
  const created = await (await ctx.client()).createServer(body);
  if (ctx.json) return json(ctx.io, created);
  out(ctx.io, `Created ${created.server.name} from ${file}: ${created.server.url}`);
  out(ctx.io, `Change #${created.change.number} is open; its checks are running.`);
}

export const generateCommand: Command = {
  words: ['generate'],
  usage:
    '<prompt…> [--server <name>] [--name <name>] [--yes] | --confirm <id> [--name <name>] | --openapi <file|url> --name <name> [--operation <id>]… [--base-url <url>]',
  summary: 'Generate a server (or a change to --server) from a prompt with live progress, or import an OpenAPI file.',
  arity: [0, Number.POSITIVE_INFINITY],
  options: {
    server: { type: 'string' },
    name: { type: 'string' },
    yes: { type: 'boolean', short: 'y' },
    confirm: { type: 'string' },
    openapi: { type: 'string' },
    operation: { type: 'string', multiple: true },
    'base-url': { type: 'string' },
  },
  async run(ctx) {
    const openapi = str(ctx.values, 'openapi');
    if (openapi) return fromOpenApi(ctx, openapi);
    const api = await ctx.client();
    const confirmId = str(ctx.values, 'confirm');
    if (confirmId) {
      const g = await api.getGeneration(confirmId);
      const last = g.events.at(-1)?.seq ?? -1;
      return report(ctx, await confirmAndFinish({ ...ctx, values: { ...ctx.values, yes: true } }, api, g, last));
    }
    let prompt = ctx.args.join(' ');
    if (prompt === '-' || (prompt === '' && !ctx.io.stdin.isTTY)) prompt = await readStdin(ctx.io);
    if (!prompt.trim()) throw new UsageError('give a prompt: bmms generate "A server that …" (or - to read stdin)');
    const server = str(ctx.values, 'server');
    const started = await api.startGeneration(server ? { prompt, server } : { prompt });
    note(ctx.io, `generation ${started.id}`);
    const last = await follow(ctx, api, started.id, -1, started.kind === 'create');
    let g = await api.getGeneration(started.id);
    if (g.status === 'awaiting_confirmation') g = await confirmAndFinish(ctx, api, g, last);
    report(ctx, g);
  },
};
