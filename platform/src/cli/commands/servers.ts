import type { Change, Server } from '../client.ts';
import { type Command, str } from '../command.ts';
import { UsageError } from '../exit-codes.ts';
import { ask, json, out, table } from '../io.ts';

const short = (sha: string | null | undefined) => (sha ? sha.slice(0, 7) : '-');

/** A server's state in one word, from its conditions. */
export function stateOf(server: Server): string {
  const cond = (type: string) => server.conditions.find((c) => c.type === type)?.status === 'True';
  if (cond('Stalled')) return 'stalled';
  if (cond('Degraded')) return 'degraded';
  if (cond('Progressing')) return 'progressing';
  if (cond('Ready')) return 'ready';
  return server.desiredRevision ? 'pending' : 'not deployed';
}

/** Prints a change's header and checks. */
export function printChange(io: Parameters<typeof out>[0], c: Change): void {
  out(io, `#${c.number} ${c.title}`);
  out(io, `state:   ${c.state}${c.mergeSha ? ` (merged as ${short(c.mergeSha)})` : ''}`);
  out(io, `branch:  ${c.branch} @ ${short(c.head)}`);
  const suite = c.checkSuite;
  out(io, `checks:  ${suite ? `${suite.status}${suite.conclusion ? `, ${suite.conclusion}` : ''}` : 'none'}`);
  for (const check of c.checks) {
    out(io, `  ${check.name.padEnd(13)} ${(check.conclusion ?? check.status).padEnd(10)} ${check.summary ?? ''}`);
  }
  if (c.preview) out(io, `preview: ${c.preview.status} ${c.preview.url}`);
}

export const serverCommands: Command[] = [
  {
    words: ['servers', 'list'],
    usage: '',
    summary: "List your organization's servers.",
    arity: [0, 0],
    async run({ io, json: asJson, client }) {
      const body = await (await client()).listServers();
      if (asJson) return json(io, body);
      if (body.servers.length === 0) return out(io, 'No servers yet. Create one: bmms servers create <name>');
      table(
        io,
        ['NAME', 'STATE', 'REVISION', 'URL'],
        body.servers.map((s) => [s.name, stateOf(s), short(s.observedRevision), s.url]),
      );
    },
  },
  {
    words: ['servers', 'create'],
    usage: '<name> [--template <t> | --from <published>] [--options <json>] [--description <text>]',
    summary: 'Create a server from a template (default echo); opens change #1.',
    arity: [1, 1],
    options: {
      template: { type: 'string' },
      from: { type: 'string' },
      options: { type: 'string' },
      description: { type: 'string' },
    },
    async run({ io, args, values, json: asJson, client }) {
      const from = str(values, 'from');
      const template = str(values, 'template');
      if (from && template) throw new UsageError('give --template or --from, not both');
      const body: Record<string, unknown> = { name: args[0] };
      if (from) body.from = from;
      else body.template = template ?? 'echo';
      const options = str(values, 'options');
      if (options !== undefined) {
        try {
          body.options = JSON.parse(options);
        } catch {
          throw new UsageError('--options must be a JSON object, e.g. --options \'{"baseUrl":"https://…"}\'');
        }
      }
      const description = str(values, 'description');
      if (description !== undefined) body.description = description;
      const created = await (await client()).createServer(body);
      if (asJson) return json(io, created);
      out(io, `Created ${created.server.name}: ${created.server.url}`);
      out(io, `Change #${created.change.number} "${created.change.title}" is open; its checks are running.`);
      out(io, `Merge it when green: bmms changes merge ${created.server.name} ${created.change.number}`);
    },
  },
  {
    words: ['servers', 'show'],
    usage: '<name>',
    summary: 'Show a server: URLs, revisions, conditions and recent deploys.',
    arity: [1, 1],
    async run({ io, args, json: asJson, client }) {
      const s = await (await client()).getServer(args[0] as string);
      if (asJson) return json(io, s);
      out(io, `${s.name}  ${stateOf(s)}`);
      if (s.description) out(io, s.description);
      out(io, `url:       ${s.url}`);
      out(io, `git:       ${s.gitUrl}`);
      out(io, `desired:   ${short(s.desiredRevision)}`);
      out(io, `observed:  ${short(s.observedRevision)}`);
      for (const c of s.conditions) out(io, `  ${c.type.padEnd(12)} ${c.status.padEnd(6)} ${c.reason}: ${c.message}`);
      if (s.history.length > 0) {
        out(io, 'history:');
        for (const h of s.history.slice(0, 5)) out(io, `  ${short(h.revision)} ${h.state.padEnd(10)} ${h.message}`);
      }
    },
  },
  {
    words: ['servers', 'delete'],
    usage: '<name> [--yes]',
    summary: 'Delete a server, its repository and its instances (asks unless --yes).',
    arity: [1, 1],
    options: { yes: { type: 'boolean', short: 'y' } },
    async run({ io, args, values, json: asJson, client }) {
      const name = args[0] as string;
      if (!values.yes) {
        if (!io.stdin.isTTY) throw new UsageError(`deleting ${name} cannot be undone: pass --yes`);
        const typed = await ask(io, `Delete ${name} with its repository and history? Type its name to confirm: `);
        if (typed.trim() !== name) throw new UsageError('not confirmed; nothing deleted');
      }
      await (await client()).deleteServer(name);
      if (asJson) return json(io, { deleted: name });
      out(io, `Deleted ${name}.`);
    },
  },
];

export const changeCommands: Command[] = [
  {
    words: ['changes', 'list'],
    usage: '<server> [--state open|merged|closed]',
    summary: "List a server's changes, newest first.",
    arity: [1, 1],
    options: { state: { type: 'string' } },
    async run({ io, args, values, json: asJson, client }) {
      const body = await (await client()).listChanges(args[0] as string, str(values, 'state'));
      if (asJson) return json(io, body);
      if (body.changes.length === 0) return out(io, 'No changes.');
      table(
        io,
        ['#', 'STATE', 'CHECKS', 'BRANCH', 'TITLE'],
        body.changes.map((c) => [
          String(c.number),
          c.state,
          c.checkSuite ? (c.checkSuite.conclusion ?? c.checkSuite.status) : '-',
          c.branch,
          c.title,
        ]),
      );
    },
  },
  {
    words: ['changes', 'show'],
    usage: '<server> <number>',
    summary: 'Show a change with its checks and preview.',
    arity: [2, 2],
    async run({ io, args, json: asJson, client }) {
      const c = await (await client()).getChange(args[0] as string, args[1] as string);
      if (asJson) return json(io, c);
      printChange(io, c);
    },
  },
  {
    words: ['changes', 'merge'],
    usage: '<server> <number>',
    summary: 'Merge a change whose checks passed; the reconciler deploys main.',
    arity: [2, 2],
    async run({ io, args, json: asJson, client }) {
      const merged = await (await client()).mergeChange(args[0] as string, args[1] as string);
      if (asJson) return json(io, merged);
      out(io, `Merged #${merged.change.number} into main at ${short(merged.sha)}; deploying.`);
    },
  },
  {
    words: ['changes', 'close'],
    usage: '<server> <number>',
    summary: 'Close a change without merging.',
    arity: [2, 2],
    async run({ io, args, json: asJson, client }) {
      const c = await (await client()).closeChange(args[0] as string, args[1] as string);
      if (asJson) return json(io, c);
      out(io, `Closed #${c.number}.`);
    },
  },
  {
    words: ['revert'],
    usage: '<server> [<sha>]',
    summary: 'Add a commit on main that undoes <sha> (default: the head of main).',
    arity: [1, 2],
    async run({ io, args, json: asJson, client }) {
      const r = await (await client()).revert(args[0] as string, args[1]);
      if (asJson) return json(io, r);
      out(io, `Reverted ${short(r.reverted)}: main is now ${short(r.sha)}; deploying.`);
    },
  },
];
