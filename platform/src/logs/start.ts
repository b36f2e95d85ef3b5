import type { Database } from '@bmms/prisma';
import type { Config } from '../config.ts';
import type { CallObservers } from '../gateway/calls.ts';
import type { Logger } from '../logger.ts';
import { LogWriter } from './writer.ts';

/** The default retention of server logs: 7 days. */
export const DEFAULT_LOG_RETENTION_MS = 7 * 86_400_000;

/** The server log writer of a platform, and `listen`, which subscribes it to the gateway's calls. */
export function startServerLogs(
  config: Pick<Config, 'logRetentionMs'>,
  log: Logger,
  database: Pick<Database, 'db' | 'raw'>,
): { writer: LogWriter; listen(calls: CallObservers): () => void } {
  const writer = new LogWriter({
    db: database.db,
    raw: database.raw,
    log: log.child({ component: 'server-logs' }),
    retentionMs: config.logRetentionMs ?? DEFAULT_LOG_RETENTION_MS,
  });
  return { writer, listen: (calls) => calls.add((call) => writer.addCall(call)) };
}
