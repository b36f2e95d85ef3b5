import { type Command, str } from '../command.ts';
import { UsageError } from '../exit-codes.ts';
import { json, table } from '../io.ts';

const UNITS: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `--since` as the API takes it: an ISO time as given, or a span back from now (`30m`, `24h`, `7d`). */
export function sinceOf(value: string | undefined, now = Date.now()): string | undefined {
  if (value === undefined) return undefined;
  const span = /^(\d+)([mhd])$/.exec(value);
  if (span) return new Date(now - Number(span[1]) * (UNITS[span[2] as string] as number)).toISOString();
  if (Number.isNaN(Date.parse(value))) throw new UsageError(`--since: not a time or a span like 24h: ${value}`);
  return value;
}

export const auditCommand: Command = {
  words: ['audit'],
  usage: '[--since <time|30m|24h|7d>] [--action <action or prefix.>] [--actor <email or id>] [--limit <n>]',
  summary: "The organization's audit log, newest first: who did what, when, from where (owners and admins).",
  arity: [0, 0],
  options: {
    since: { type: 'string' },
    action: { type: 'string' },
    actor: { type: 'string' },
    limit: { type: 'string' },
  },
  async run({ io, values, json: asJson, client }) {
    const page = await (await client()).listAudit({
      since: sinceOf(str(values, 'since')),
      action: str(values, 'action'),
      actor: str(values, 'actor'),
      limit: str(values, 'limit'),
    });
    if (asJson) return json(io, page);
    table(
      io,
      ['TIME', 'ACTION', 'ACTOR', 'TARGET', 'IP'],
      page.events.map((e) => [
        e.time,
        e.action,
        e.actor?.email ?? e.actor?.userId ?? (e.actor?.apiKeyId ? `key ${e.actor.apiKeyId}` : '-'),
        `${e.target.type}${e.target.id ? ` ${e.target.id}` : ''}`,
        e.ip ?? '-',
      ]),
    );
  },
};
