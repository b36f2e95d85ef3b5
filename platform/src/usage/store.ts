import type { PrismaClient } from '@bmms/prisma';

/** One process's running total of one (month, server, preview, method, tool, status). */
export interface UsageRow {
  /** The month's first day, YYYY-MM-01. */
  month: string;
  orgId: string;
  serverId: string;
  preview: boolean;
  method: string;
  tool: string;
  status: number;
  calls: number;
}

/**
 * Writes a process's running totals in one statement. A row only ever grows to the larger of its value and the
 * process's total, so writing the same totals twice (a flush repeated after its answer was lost) adds nothing, and a
 * late write of older totals cannot lower it. Rows of orgs deleted meanwhile are dropped.
 */
export async function writeUsageRows(db: PrismaClient, processId: string, rows: UsageRow[]): Promise<void> {
  if (rows.length === 0) return;
  await db.$executeRawUnsafe(
    `INSERT INTO usage_counts (process_id, month, org_id, server_id, preview, method, tool, status, calls, updated_at)
     SELECT $1::uuid, r.month::date, r."orgId"::uuid, r."serverId"::uuid, r.preview, r.method, r.tool, r.status, r.calls,
            CURRENT_TIMESTAMP
       FROM jsonb_to_recordset($2::jsonb) AS r(month text, "orgId" text, "serverId" text, preview boolean, method text,
                                               tool text, status int, calls int)
      WHERE EXISTS (SELECT 1 FROM orgs o WHERE o.id = r."orgId"::uuid)
     ON CONFLICT (process_id, month, server_id, preview, method, tool, status) DO UPDATE SET
       calls = GREATEST(usage_counts.calls, EXCLUDED.calls),
       updated_at = EXCLUDED.updated_at`,
    processId,
    JSON.stringify(rows),
  );
}

/** The rows of `orgId` for `month` summed over every process but `exceptProcess` (whose counts the caller has). */
export async function readUsageRows(
  db: PrismaClient,
  orgId: string,
  month: string,
  exceptProcess: string,
): Promise<UsageRow[]> {
  const rows = await db.$queryRawUnsafe<
    Array<{ server_id: string; preview: boolean; method: string; tool: string; status: number; calls: bigint | number }>
  >(
    `SELECT server_id::text AS server_id, preview, method, tool, status, SUM(calls)::bigint AS calls
       FROM usage_counts
      WHERE org_id = $1::uuid AND month = $2::date AND process_id <> $3::uuid
      GROUP BY server_id, preview, method, tool, status`,
    orgId,
    month,
    exceptProcess,
  );
  return rows.map((r) => ({
    month,
    orgId,
    serverId: r.server_id,
    preview: r.preview,
    method: r.method,
    tool: r.tool,
    status: r.status,
    calls: Number(r.calls),
  }));
}

/** The billable calls of every org in `month` (see isBillable) written by every process but `exceptProcess`. */
export async function readOthersBillable(
  db: PrismaClient,
  month: string,
  exceptProcess: string,
): Promise<Map<string, number>> {
  const rows = await db.$queryRawUnsafe<Array<{ org_id: string; calls: bigint | number }>>(
    `SELECT org_id::text AS org_id, SUM(calls)::bigint AS calls
       FROM usage_counts
      WHERE month = $1::date AND process_id <> $2::uuid AND NOT preview AND method = 'tools/call' AND status < 300
      GROUP BY org_id`,
    month,
    exceptProcess,
  );
  return new Map(rows.map((r) => [r.org_id, Number(r.calls)]));
}
