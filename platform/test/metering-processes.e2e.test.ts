// Metering that holds across processes: 16 concurrent clients send 50,000 tool calls through two platform processes
// sharing one Postgres; halfway, one of them is stopped cleanly (SIGTERM: it answers what it took, flushes its counts
// and exits) and the clients go on through the other. Every call that got an answer is recorded exactly once: the
// usage rows of both processes add up to the answers the clients received, status by status.
// Both processes forward calls to the instance the leader (the first process) started: the second mirrors its routes.
import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createTestDatabase, type TestDatabase, testServerUrl } from '@bmms/prisma/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HAS_BWRAP, poll } from './harness.ts';
import { PlatformProcess } from './platform-process.ts';

const TOTAL = 50_000;
const CLIENTS = 16;
const MCP_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

describe.runIf(testServerUrl())('metering across two platform processes on one Postgres', () => {
  let db: TestDatabase;
  let tmp: string;
  let first: PlatformProcess;
  let second: PlatformProcess;

  beforeAll(async () => {
    db = await createTestDatabase({ kind: 'postgres' });
    tmp = await mkdtemp(path.join(os.tmpdir(), 'bmms-metering-'));
    const env = {
      DATABASE_URL: db.url as string,
      BMMS_MASTER_KEY: randomBytes(32).toString('base64'),
      BMMS_CALL_OBSERVERS: 'off',
      ...(HAS_BWRAP ? {} : { BMMS_INSECURE_NO_SANDBOX: '1' }),
    };
    first = new PlatformProcess(path.join(tmp, 'a'), env);
    await first.start();
    await mkdir(path.join(tmp, 'b'), { recursive: true, mode: 0o700 });
    await copyFile(path.join(tmp, 'a', 'owner-api-key'), path.join(tmp, 'b', 'owner-api-key'));
    second = new PlatformProcess(path.join(tmp, 'b'), env);
    await second.start();
    await first.deployTwoRevisions('metered', tmp);
    await poll(
      async () => ((await first.mcp('metered', 'tools/list')).status === 200 ? true : undefined),
      120_000,
      'the server to answer',
    );
  }, 600_000);
  afterAll(async () => {
    await first?.stop();
    await second?.stop();
    await db?.drop();
    await rm(tmp, { recursive: true, force: true });
  });

  it('records exactly the calls that got an answer, though one process stopped mid-run', async () => {
    let next = 0;
    let secondUp = true;
    let stopping: Promise<void> | undefined;
    const answered = new Map<number, number>();
    let unanswered = 0;
    const byFirst = { count: 0 };
    const bySecond = { count: 0 };
    const client = async () => {
      while (next < TOTAL) {
        const i = next++;
        if (i === TOTAL / 2) {
          // A clean stop of one process, as an orchestrator does; the load balancer takes it out at once.
          secondUp = false;
          stopping = second.stop();
        }
        const target = secondUp && i % 2 === 1 ? second : first;
        const body = JSON.stringify({
          jsonrpc: '2.0',
          id: i,
          method: 'tools/call',
          params: { name: 'add', arguments: { a: i, b: 1 } },
        });
        try {
          const res = await fetch(`${target.url}/s/metered/mcp`, {
            method: 'POST',
            headers: { ...MCP_HEADERS, authorization: `Bearer ${target.key}` },
            body,
          });
          await res.arrayBuffer();
          (target === first ? byFirst : bySecond).count++;
          answered.set(res.status, (answered.get(res.status) ?? 0) + 1);
        } catch {
          // No answer (the connection was closed under it): the call is not counted anywhere.
          unanswered++;
        }
      }
    };
    await Promise.all(Array.from({ length: CLIENTS }, client));
    await stopping;
    expect((await second.exited).code).toBe(0);
    await first.stop();

    const total = [...answered.values()].reduce((a, b) => a + b, 0);
    expect(total + unanswered).toBe(TOTAL);
    // Both processes answered (and so both recorded) a share of the calls.
    expect(byFirst.count).toBeGreaterThan(TOTAL / 2);
    expect(bySecond.count).toBeGreaterThan(TOTAL / 8);
    expect(answered.get(200)).toBeGreaterThan(TOTAL / 2);

    const sql = new pg.Client({ connectionString: db.url as string });
    await sql.connect();
    try {
      const rows = await sql.query<{ status: number; calls: string }>(
        `SELECT u.status, sum(u.calls)::text AS calls
           FROM usage_counts u JOIN servers s ON s.id = u.server_id
          WHERE s.name = 'metered' AND u.method = 'tools/call' AND NOT u.preview
          GROUP BY u.status`,
      );
      const recorded = new Map(rows.rows.map((r) => [r.status, Number(r.calls)]));
      expect(recorded).toEqual(answered);
      // Both processes wrote their own rows.
      const writers = await sql.query<{ n: string }>(
        `SELECT count(DISTINCT u.process_id)::text AS n FROM usage_counts u JOIN servers s ON s.id = u.server_id
          WHERE s.name = 'metered' AND u.method = 'tools/call' AND NOT u.preview`,
      );
      expect(Number(writers.rows[0]?.n)).toBe(2);
    } finally {
      await sql.end();
    }
  }, 900_000);
});
