import type { PrismaClient } from '@bmms/prisma';
import { COUNTS_KEEP_MS, type RateLimitStore } from './rate-limit.ts';

const PRUNE_EVERY_MS = 60_000;

/**
 * Rate-limit counts shared through Postgres (rate_limit_counts): each process writes its own count of each key and
 * window (a row only grows to it, so a repeated write adds nothing) and reads the others' sums in the same statement.
 */
export class PostgresRateLimitStore implements RateLimitStore {
  readonly #db: PrismaClient;
  #lastPrune = 0;

  constructor(db: PrismaClient) {
    this.#db = db;
  }

  async exchange(
    processId: string,
    counts: Array<{ key: string; window: number; count: number }>,
  ): Promise<Map<string, number>> {
    const rows = await this.#db.$queryRawUnsafe<Array<{ key: string; slot: bigint | number; count: bigint | number }>>(
      `WITH input AS (
         SELECT r.key, r.slot, r.count FROM jsonb_to_recordset($2::jsonb) AS r(key text, slot bigint, count int)
       ), written AS (
         INSERT INTO rate_limit_counts (key, slot, process_id, count, updated_at)
         SELECT key, slot, $1::uuid, count, CURRENT_TIMESTAMP FROM input
         ON CONFLICT (key, slot, process_id) DO UPDATE SET
           count = GREATEST(rate_limit_counts.count, EXCLUDED.count), updated_at = EXCLUDED.updated_at
       )
       SELECT c.key, c.slot, SUM(c.count)::bigint AS count
         FROM rate_limit_counts c JOIN input i ON i.key = c.key AND i.slot = c.slot
        WHERE c.process_id <> $1::uuid
        GROUP BY c.key, c.slot`,
      processId,
      JSON.stringify(counts.map((c) => ({ key: c.key, slot: c.window, count: c.count }))),
    );
    await this.#prune();
    return new Map(rows.map((r) => [`${r.key}\u0000${Number(r.slot)}`, Number(r.count)]));
  }

  async #prune(): Promise<void> {
    const now = Date.now();
    if (now - this.#lastPrune < PRUNE_EVERY_MS) return;
    this.#lastPrune = now;
    await this.#db.$executeRawUnsafe(
      `DELETE FROM rate_limit_counts WHERE updated_at < $1::timestamp`,
      new Date(now - COUNTS_KEEP_MS).toISOString(),
    );
  }
}
