import type { PrismaClient } from '@bmms/prisma';
import type { HistogramCounts } from './histogram.ts';

/** The time resolutions metrics are kept at, and how long each is kept. */
export const RESOLUTIONS = {
  minute: { ms: 60_000, keepMs: 2 * 86_400_000 },
  hour: { ms: 3_600_000, keepMs: 35 * 86_400_000 },
  day: { ms: 86_400_000, keepMs: 400 * 86_400_000 },
} as const;
export type Resolution = keyof typeof RESOLUTIONS;

/** The start (epoch ms, UTC) of the bucket of `resolution` that holds `at`. */
export function bucketStart(at: number, resolution: Resolution): number {
  const size = RESOLUTIONS[resolution].ms;
  return Math.floor(at / size) * size;
}

/** One row to add into server_metrics. */
export interface MetricRow {
  serverId: string;
  orgId: string;
  resolution: Resolution;
  start: number;
  tool: string;
  calls: number;
  errors: number;
  latencySum: number;
  histogram: HistogramCounts;
}

/**
 * Adds `rows` into the table in one statement: a row that exists gets the counts added and the histograms merged
 * bucket by bucket, so platform processes sharing the database add up. Rows of servers deleted meanwhile are
 * dropped. Each key must appear once in `rows`.
 */
export async function addMetricRows(db: PrismaClient, rows: MetricRow[]): Promise<void> {
  if (rows.length === 0) return;
  const payload = JSON.stringify(rows);
  await db.$executeRawUnsafe(
    `INSERT INTO server_metrics (server_id, org_id, resolution, start, tool, calls, errors, latency_sum, histogram)
     SELECT r."serverId"::uuid, r."orgId"::uuid, r.resolution, to_timestamp(r.start / 1000.0) AT TIME ZONE 'UTC',
            r.tool, r.calls, r.errors, r."latencySum", r.histogram
       FROM jsonb_to_recordset($1::jsonb) AS r("serverId" text, "orgId" text, resolution text, start double precision,
                                               tool text, calls int, errors int, "latencySum" double precision,
                                               histogram jsonb)
      WHERE EXISTS (SELECT 1 FROM servers s WHERE s.id = r."serverId"::uuid)
     ON CONFLICT (server_id, resolution, start, tool) DO UPDATE SET
       calls = server_metrics.calls + EXCLUDED.calls,
       errors = server_metrics.errors + EXCLUDED.errors,
       latency_sum = server_metrics.latency_sum + EXCLUDED.latency_sum,
       histogram = (
         SELECT COALESCE(jsonb_object_agg(k, n), '{}'::jsonb)
           FROM (SELECT k, SUM(v::bigint) AS n
                   FROM (SELECT key AS k, value AS v FROM jsonb_each_text(server_metrics.histogram)
                         UNION ALL
                         SELECT key, value FROM jsonb_each_text(EXCLUDED.histogram)) AS both_sides
                  GROUP BY k) AS summed
       )`,
    payload,
  );
}

/** Deletes rows older than each resolution keeps them. */
export async function pruneMetricRows(db: PrismaClient, now: number): Promise<void> {
  for (const [resolution, { keepMs }] of Object.entries(RESOLUTIONS)) {
    await db.serverMetric.deleteMany({ where: { resolution, start: { lt: new Date(now - keepMs) } } });
  }
}
