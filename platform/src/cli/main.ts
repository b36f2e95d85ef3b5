import { parseArgs } from 'node:util';
import { BmmsClient, RemoteError } from './client.ts';
import type { Command } from './command.ts';
import { keyCommands, loginCommand, secretCommands } from './commands/account.ts';
import { auditCommand } from './commands/audit.ts';
import { GenerationFailed, generateCommand } from './commands/generate.ts';
import { logsCommand } from './commands/logs.ts';
import { metricsCommand } from './commands/metrics.ts';
import { changeCommands, serverCommands } from './commands/servers.ts';
import { resolveConfig } from './config.ts';
import { exitCodeOf, UsageError } from './exit-codes.ts';
import type { Io } from './io.ts';

/** Every command, in the order help lists them. */
export const COMMANDS: Command[] = [
  loginCommand,
  ...serverCommands,
  ...changeCommands,
  logsCommand,
  ...secretCommands,
  generateCommand,
  metricsCommand,
  ...keyCommands,
  auditCommand,
];

const GLOBAL = { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } as const;

/** The help text: every command with its usage. */
export function helpText(): string {
  const lines = COMMANDS.map((c) => `  bmms ${c.words.join(' ')}${c.usage ? ` ${c.usage}` : ''}\n      ${c.summary}`);
  return [
    'bmms: the BuildMyMCPServer command line',
    '',
    'Usage: bmms <command> [arguments] [--json]',
    '',
    ...lines,
    '',
    'Configure with `bmms login`, or BMMS_URL and BMMS_API_KEY (they win over the stored login).',
    "--json prints the API's JSON on stdout. Exit codes: 0 ok, 1 failure, 2 usage or invalid input,",
    '3 not found, 4 conflict, 5 unauthorized or forbidden. Docs: /docs/cli/',
  ].join('\n');
}

const GLOBAL_FLAGS = new Set(['--json', '--help', '-h']);

/** Finds the command named by the first words of argv (global flags may come before them); returns the rest. */
function findCommand(argv: string[]): { command: Command | undefined; rest: string[]; words: string[] } {
  const flags: string[] = [];
  let i = 0;
  while (i < argv.length && GLOBAL_FLAGS.has(argv[i] as string)) flags.push(argv[i++] as string);
  const first = argv[i];
  if (first === undefined || first.startsWith('-')) return { command: undefined, rest: argv.slice(i), words: [] };
  const second = argv[i + 1];
  const two = COMMANDS.find((c) => c.words.length === 2 && c.words[0] === first && c.words[1] === second);
  if (two) return { command: two, rest: [...flags, ...argv.slice(i + 2)], words: [first, second as string] };
  const one = COMMANDS.find((c) => c.words.length === 1 && c.words[0] === first);
  const words = second === undefined || second.startsWith('-') ? [first] : [first, second];
  return { command: one, rest: [...flags, ...argv.slice(i + 1)], words: one ? [first] : words };
}

/** Runs the CLI with `argv` (without node and the script); resolves to the exit code. */
export async function main(argv: string[], io: Io): Promise<number> {
  const { command, rest, words } = findCommand(argv);
  const wantsJson = argv.includes('--json');
  try {
    if (!command) {
      if (words.length === 0 || words[0] === 'help' || argv.includes('--help') || argv.includes('-h')) {
        io.stdout.write(`${helpText()}\n`);
        return words.length === 0 && !argv.includes('--help') && !argv.includes('-h') ? 2 : 0;
      }
      throw new UsageError(`unknown command: ${words.join(' ')} (see bmms --help)`);
    }
    let parsed: ReturnType<typeof parseArgs>;
    try {
      parsed = parseArgs({
        args: rest,
        options: { ...GLOBAL, ...command.options },
        allowPositionals: true,
        strict: true,
      });
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    const usage = `bmms ${command.words.join(' ')} ${command.usage}`.trimEnd();
    if (parsed.values.help) {
      io.stdout.write(`Usage: ${usage}\n${command.summary}\n`);
      return 0;
    }
    const [min, max] = command.arity;
    if (parsed.positionals.length < min || parsed.positionals.length > max) {
      throw new UsageError(`usage: ${usage}`);
    }
    await command.run({
      io,
      args: parsed.positionals,
      values: parsed.values,
      json: parsed.values.json === true,
      async client() {
        const { url, key } = await resolveConfig(io.env);
        if (!url || !key) throw new UsageError('not logged in: run `bmms login`, or set BMMS_URL and BMMS_API_KEY');
        return new BmmsClient({ url, key });
      },
    });
    return 0;
  } catch (err) {
    const code = exitCodeOf(err);
    if (wantsJson && err instanceof RemoteError) {
      const details = err.details ? { details: err.details } : {};
      io.stderr.write(`${JSON.stringify({ error: { code: err.code, message: err.message, ...details } })}\n`);
    } else if (err instanceof RemoteError) {
      io.stderr.write(`bmms: ${err.message} (${err.code})\n`);
    } else if (err instanceof UsageError || err instanceof GenerationFailed) {
      io.stderr.write(`bmms: ${err.message}\n`);
    } else {
      io.stderr.write(`bmms: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    }
    return code;
  }
}
