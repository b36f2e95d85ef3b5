import { BmmsClient } from '../client.ts';
import { type Command, type OptionValues, str } from '../command.ts';
import { readConfig, writeConfig } from '../config.ts';
import { UsageError } from '../exit-codes.ts';
import { ask, json, note, out, readValue, table } from '../io.ts';

export const loginCommand: Command = {
  words: ['login'],
  usage: '[--url <url>]',
  summary: 'Store the platform URL and an API key (read from BMMS_API_KEY, stdin or a prompt) after checking them.',
  arity: [0, 0],
  options: { url: { type: 'string' } },
  async run({ io, values, json: asJson }) {
    const stored = await readConfig(io.env);
    let url = str(values, 'url') ?? io.env.BMMS_URL ?? stored?.url;
    if (!url) {
      if (!io.stdin.isTTY) throw new UsageError('pass --url <platform URL> (or set BMMS_URL)');
      url = (await ask(io, 'Platform URL (e.g. http://localhost:8080): ')).trim();
    }
    if (!/^https?:\/\/[^/\s]+/.test(url)) throw new UsageError(`not an http(s) URL: ${url}`);
    url = url.replace(/\/+$/, '');
    const key = (io.env.BMMS_API_KEY ?? (await readValue(io, 'API key: '))).trim();
    if (!key) throw new UsageError('no API key given: pipe it on stdin, type it, or set BMMS_API_KEY');
    const me = await new BmmsClient({ url, key }).me();
    const file = await writeConfig({ url, key }, io.env);
    if (asJson) return json(io, me);
    out(io, `Logged in to ${url} as ${me.user.email} (${me.org ?? '-'}, ${me.role}).`);
    note(io, `Saved to ${file}.`);
  },
};

export const keyCommands: Command[] = [
  {
    words: ['keys', 'list'],
    usage: '',
    summary: 'List API keys (yours; an admin sees the whole organization).',
    arity: [0, 0],
    async run({ io, json: asJson, client }) {
      const body = await (await client()).listKeys();
      if (asJson) return json(io, body);
      table(
        io,
        ['ID', 'NAME', 'PREFIX', 'SCOPES', 'LAST USED'],
        body.keys.map((k) => [k.id, k.name, k.prefix, k.scopes.join(','), k.lastUsedAt ?? 'never']),
      );
    },
  },
  {
    words: ['keys', 'create'],
    usage: '<name> [--scope <scope>]…',
    summary: 'Create an API key for you; it is shown once.',
    arity: [1, 1],
    options: { scope: { type: 'string', multiple: true } },
    async run({ io, args, values, json: asJson, client }) {
      const scopes = values.scope as string[] | undefined;
      const created = await (await client()).createKey(args[0] as string, scopes);
      if (asJson) return json(io, created);
      note(io, `Created key ${created.name} (${created.id}), scopes ${created.scopes.join(',')}. It is shown once:`);
      out(io, created.key);
    },
  },
  {
    words: ['keys', 'revoke'],
    usage: '<id>',
    summary: 'Revoke an API key.',
    arity: [1, 1],
    async run({ io, args, json: asJson, client }) {
      await (await client()).revokeKey(args[0] as string);
      if (asJson) return json(io, { revoked: args[0] });
      out(io, `Revoked ${args[0]}.`);
    },
  },
];

export const secretCommands: Command[] = [
  {
    words: ['secrets', 'list'],
    usage: '<server>',
    summary: "List a server's secrets by name (values are never shown) and the declared ones still missing.",
    arity: [1, 1],
    async run({ io, args, json: asJson, client }) {
      const body = await (await client()).listSecrets(args[0] as string);
      if (asJson) return json(io, body);
      table(
        io,
        ['NAME', 'DECLARED', 'UPDATED'],
        body.secrets.map((s) => [s.name, s.declared ? 'yes' : 'no', s.updatedAt]),
      );
      if (body.missing.length > 0) out(io, `missing: ${body.missing.join(', ')}`);
    },
  },
  {
    words: ['secrets', 'set'],
    usage: '<server> <NAME> [--value <value>]',
    summary: 'Set a secret; the value is read from stdin or a hidden prompt (--value works, with a warning).',
    arity: [2, 2],
    options: { value: { type: 'string' } },
    async run({ io, args, values, json: asJson, client }) {
      let value = str(values, 'value');
      if (value !== undefined) {
        note(io, 'warning: a value given with --value is visible to other users in `ps` and in your shell history');
      } else {
        value = await readValue(io, `Value of ${args[1]}: `);
      }
      if (!value) throw new UsageError('empty value: pipe it on stdin or type it');
      const secret = await (await client()).setSecret(args[0] as string, args[1] as string, value);
      if (asJson) return json(io, secret);
      out(io, `Set ${secret.name} on ${args[0]}${secret.declared ? '' : ' (not declared in mcp.json: unused)'}.`);
    },
  },
  {
    words: ['secrets', 'delete'],
    usage: '<server> <NAME>',
    summary: 'Delete a secret.',
    arity: [2, 2],
    async run({ io, args, json: asJson, client }) {
      await (await client()).deleteSecret(args[0] as string, args[1] as string);
      if (asJson) return json(io, { deleted: args[1] });
      out(io, `Deleted ${args[1]} from ${args[0]}.`);
    },
  },
];

/** `--confirm <value>`, required: deleting is never one keystroke away. */
function confirmation(values: OptionValues, what: string): string {
  const value = str(values, 'confirm');
  if (!value) throw new UsageError(`--confirm <${what}> is required: deleting cannot be undone`);
  return value;
}

export const deletionCommands: Command[] = [
  {
    words: ['org', 'delete'],
    usage: '--confirm <slug or name>',
    summary: 'Delete your organization and everything in it (owners only; cannot be undone).',
    arity: [0, 0],
    options: { confirm: { type: 'string' } },
    async run({ io, values, json: asJson, client }) {
      const deleted = await (await client()).deleteOrg(confirmation(values, 'slug or name'));
      if (asJson) return json(io, deleted);
      out(io, `Deleted the organization and its ${deleted.servers} server(s).`);
    },
  },
  {
    words: ['account', 'delete'],
    usage: '--confirm <email>',
    summary: 'Delete your account, and the organizations where you are the only member (cannot be undone).',
    arity: [0, 0],
    options: { confirm: { type: 'string' } },
    async run({ io, values, json: asJson, client }) {
      const deleted = await (await client()).deleteAccount(confirmation(values, 'email'));
      if (asJson) return json(io, deleted);
      out(io, `Deleted your account${deleted.orgs > 0 ? ` and ${deleted.orgs} organization(s)` : ''}.`);
    },
  },
];
