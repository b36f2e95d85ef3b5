import { setTimeout as sleep } from 'node:timers/promises';
import { type BmmsClient, type LogQuery, type LogRecord, RemoteError } from '../client.ts';
import { type Command, type CommandContext, str } from '../command.ts';
import { UsageError } from '../exit-codes.ts';
import { note, out } from '../io.ts';

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `--since`: an ISO time, or a duration back from now (`30s`, `10m`, `2h`, `7d`). */
export function sinceOf(value: string | undefined, now = Date.now()): string | undefined {
  if (value === undefined) return undefined;
  const relative = /^([0-9]+)([smhd])$/.exec(value);
  if (relative) return new Date(now - Number(relative[1]) * (UNITS[relative[2] as string] as number)).toISOString();
  const time = Date.parse(value);
  if (Number.isNaN(time)) throw new UsageError(`--since: "${value}" is neither an ISO time nor a duration like 10m`);
  return new Date(time).toISOString();
}

/** One human line of a record: time, level, kind and message. */
export function logLine(r: LogRecord): string {
  const where = r.preview === null ? '' : ` [#${r.preview}]`;
  return `${r.time}  ${r.level.toUpperCase().padEnd(5)}  ${r.kind.padEnd(6)}${where}  ${r.message}`;
}

/** Prints one record: a JSON line with --json, else a human line. */
function print(ctx: CommandContext, r: LogRecord): void {
  out(ctx.io, ctx.json ? JSON.stringify(r) : logLine(r));
}

/**
 * Follows the live stream; when the connection drops (the platform restarts, the network blinks), connects again
 * with the last event id, so no record is lost or printed twice. Runs until interrupted.
 */
async function follow(ctx: CommandContext, api: BmmsClient, server: string, query: LogQuery): Promise<void> {
  let lastId: string | undefined;
  let failures = 0;
  for (;;) {
    try {
      const resume = lastId === undefined ? query : { ...query, limit: undefined };
      for await (const r of api.followLogs(server, resume, lastId)) {
        lastId = r.id;
        failures = 0;
        print(ctx, r);
      }
    } catch (err) {
      // An answer that says no (unknown server, bad filter, no access) will not change by retrying.
      if (err instanceof RemoteError && err.status >= 400 && err.status < 500 && err.status !== 429) throw err;
    }
    failures++;
    // On stderr: stdout stays JSON lines with --json.
    note(ctx.io, `bmms: the log stream ended; reconnecting${lastId ? ` after ${lastId}` : ''}…`);
    await sleep(Math.min(500 * 2 ** Math.min(failures - 1, 4), 5000));
  }
}

/** `bmms logs <server>`: the server's newest log records, or with -f its live log. */
export const logsCommand: Command = {
  words: ['logs'],
  usage:
    '<server> [-f] [--since 10m|<ISO>] [--level debug|info|warn|error] [--kind <kind>] [--tool <name>] [--limit n]',
  summary: "Show a server's logs (calls, output, deploy events); -f follows them live",
  arity: [1, 1],
  options: {
    follow: { type: 'boolean', short: 'f' },
    since: { type: 'string' },
    level: { type: 'string' },
    kind: { type: 'string' },
    tool: { type: 'string' },
    limit: { type: 'string' },
  },
  async run(ctx) {
    const server = ctx.args[0] as string;
    const query: LogQuery = {
      since: sinceOf(str(ctx.values, 'since')),
      level: str(ctx.values, 'level'),
      kind: str(ctx.values, 'kind'),
      tool: str(ctx.values, 'tool'),
      limit: str(ctx.values, 'limit'),
    };
    const api = await ctx.client();
    if (ctx.values.follow) {
      // Once, before following: an unreachable platform, an unknown server or a bad filter fails at once.
      await api.serverLogs(server, { ...query, limit: '1' });
      return follow(ctx, api, server, query);
    }
    const { logs, next } = await api.serverLogs(server, query);
    for (const r of logs) print(ctx, r);
    // The platform examines a bounded number of records per request: say so rather than look complete.
    if (next)
      note(
        ctx.io,
        'bmms: the search stopped after the most records one request examines; older ones were not searched',
      );
  },
};
