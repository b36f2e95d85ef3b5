import { type Database, openDatabase } from '@bmms/prisma';
import { createTestDatabase, type TestDatabase } from '@bmms/prisma/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CallRecord } from '../gateway/calls.ts';
import { silentLogger } from '../logger.ts';
import { newestLogs } from './query.ts';
import { callEntry, deployEntry, jsonLevel, outputEntry } from './records.ts';
import { LogWriter, logPayload } from './writer.ts';

let t: TestDatabase;
let database: Database;
let server: { id: string; orgId: string; name: string };

beforeAll(async () => {
  t = await createTestDatabase();
  database = await openDatabase({ dataDir: t.dataDir, databaseUrl: t.url });
  const org = await database.db.org.create({ data: { slug: 'acme', name: 'Acme' } });
  server = await database.db.server.create({ data: { orgId: org.id, name: 'weather' } });
});
afterAll(async () => {
  await database?.close();
  await t?.drop();
});

const call = (over: Partial<CallRecord> = {}): CallRecord => ({
  at: Date.now(),
  server: 'weather',
  serverId: server.id,
  orgId: server.orgId,
  preview: undefined,
  revision: 'abc',
  method: 'tools/call',
  tool: 'forecast',
  status: 200,
  rpcErrorCode: undefined,
  failed: false,
  latencyMs: 3.2,
  requestBytes: 80,
  responseBytes: 120,
  clientName: 'Claude',
  clientId: 'client-1',
  userId: 'user-1',
  requestId: 'req-1',
  traceId: undefined,
  ...over,
});

const line = (text: string, stream: 'stdout' | 'stderr' | null, source: 'output' | 'dropped' | 'note' = 'output') => ({
  instanceId: 'weather-1',
  serverName: 'weather',
  revision: 'abc',
  preview: undefined,
  stream,
  source,
  text,
});

describe('log records', () => {
  it('reads the level of JSON lines (names and pino numbers), else info for stdout and error for stderr', () => {
    expect(jsonLevel('{"level":"warn","msg":"x"}')).toBe('warn');
    expect(jsonLevel('{"level":50,"msg":"x"}')).toBe('error');
    expect(jsonLevel('{"level":30}')).toBe('info');
    expect(jsonLevel('{"level":20}')).toBe('debug');
    expect(jsonLevel('{"level":60}')).toBe('error');
    expect(jsonLevel('{"level":"FATAL"}')).toBe('error');
    expect(jsonLevel('{"msg":"no level"}')).toBeUndefined();
    expect(jsonLevel('{broken')).toBeUndefined();
    expect(outputEntry(line('hello', 'stdout'))).toMatchObject({ kind: 'output', level: 'info', stream: 'stdout' });
    expect(outputEntry(line('oops', 'stderr'))).toMatchObject({ kind: 'output', level: 'error', stream: 'stderr' });
    expect(outputEntry(line('{"level":"debug"}', 'stderr')).level).toBe('debug');
    expect(outputEntry(line('[bmms] 1,234 lines dropped', null, 'dropped'))).toMatchObject({
      kind: 'notice',
      level: 'warn',
    });
  });

  it('sums a call up in one line and keeps what the gateway saw, never more', () => {
    const entry = callEntry(call());
    expect(entry.message).toBe('tools/call forecast → 200 in 3 ms');
    expect(entry.level).toBe('info');
    expect(callEntry(call({ status: 200, failed: true })).message).toBe(
      'tools/call forecast → 200 (tool error) in 3 ms',
    );
    expect(callEntry(call({ status: 200, failed: true })).level).toBe('warn');
    expect(callEntry(call({ rpcErrorCode: -32602, failed: true })).message).toContain('(JSON-RPC error -32602)');
    expect(callEntry(call({ status: 502, failed: true })).level).toBe('error');
    expect(callEntry(call({ method: undefined, tool: undefined, status: 405 })).message).toBe('request → 405 in 3 ms');
    expect(Object.keys(entry.call ?? {}).sort()).toEqual(
      [
        'clientId',
        'clientName',
        'failed',
        'latencyMs',
        'method',
        'requestBytes',
        'requestId',
        'responseBytes',
        'rpcErrorCode',
        'status',
        'tool',
        'traceId',
      ].sort(),
    );
  });
});

describe('LogWriter', () => {
  it('writes in batches off the caller, resolves servers by name, and close() writes what is left', async () => {
    const writer = new LogWriter({
      db: database.db,
      raw: database.raw,
      log: silentLogger,
      retentionMs: 86_400_000,
      flushMs: 60_000,
    });
    const flushed: string[][] = [];
    writer.onFlush((ids) => flushed.push([...ids]));
    writer.add(callEntry(call()));
    writer.add(outputEntry(line('hello', 'stdout')));
    writer.add(deployEntry({ server: 'weather', revision: 'abc', level: 'info', reason: 'Serving', message: 'up' }));
    writer.add(outputEntry({ ...line('lost', 'stdout'), serverName: 'gone' }));
    expect(writer.pending).toBe(4);
    expect(await database.db.serverLog.count()).toBe(0);
    await writer.close();
    expect(flushed).toEqual([[server.id]]);
    const logs = await newestLogs(database.db, server.id, {}, 10);
    expect(logs.map((l) => [l.kind, l.message])).toEqual([
      ['call', 'tools/call forecast → 200 in 3 ms'],
      ['output', 'hello'],
      ['deploy', 'Serving: up'],
    ]);
    writer.add(outputEntry(line('after close', 'stdout')));
    expect(writer.pending).toBe(0);
  });

  it('bounds its queue: what does not fit is counted and written as one notice per server', async () => {
    const writer = new LogWriter({
      db: database.db,
      raw: database.raw,
      log: silentLogger,
      retentionMs: 86_400_000,
      flushMs: 60_000,
      maxQueue: 5,
      batchSize: 1000,
    });
    for (let i = 0; i < 1234 + 5; i++) writer.add(outputEntry(line(`flood ${i}`, 'stdout')));
    expect(writer.pending).toBe(5);
    expect(writer.dropped).toBe(1234);
    await writer.close();
    const notices = await newestLogs(database.db, server.id, { kind: 'notice' }, 10);
    expect(notices.map((n) => n.message)).toEqual([
      "[bmms] 1,234 log records dropped: the platform's log writer fell behind",
    ]);
  });

  it('sweeps records older than the retention', async () => {
    const writer = new LogWriter({
      db: database.db,
      raw: database.raw,
      log: silentLogger,
      retentionMs: 3_600_000,
      flushMs: 60_000,
    });
    writer.add({ ...outputEntry(line('ancient', 'stdout')), time: new Date(Date.now() - 7_200_000) });
    writer.add(outputEntry(line('recent', 'stdout')));
    await writer.flush();
    expect(await writer.sweep()).toBe(1);
    const messages = (await newestLogs(database.db, server.id, { q: 'CIENT' }, 10)).map((l) => l.message);
    expect(messages).toEqual([]);
    expect((await newestLogs(database.db, server.id, { q: 'recent' }, 10)).map((l) => l.message)).toEqual(['recent']);
    await writer.close();
  });

  it('goes with its server: deleting the server deletes its records', async () => {
    const other = await database.db.server.create({ data: { orgId: server.orgId, name: 'doomed' } });
    const writer = new LogWriter({
      db: database.db,
      raw: database.raw,
      log: silentLogger,
      retentionMs: 86_400_000,
      flushMs: 60_000,
    });
    writer.add(outputEntry({ ...line('bye', 'stdout'), serverName: 'doomed' }));
    await writer.close();
    expect(await database.db.serverLog.count({ where: { serverId: other.id } })).toBe(1);
    await database.db.server.delete({ where: { id: other.id } });
    expect(await database.db.serverLog.count({ where: { serverId: other.id } })).toBe(0);
  });

  it('keeps every field as given and skips the records of a server deleted while they waited', async () => {
    const doomed = await database.db.server.create({ data: { orgId: server.orgId, name: 'short-lived' } });
    const writer = new LogWriter({
      db: database.db,
      raw: database.raw,
      log: silentLogger,
      retentionMs: 86_400_000,
      flushMs: 60_000,
    });
    const at = Date.UTC(2026, 11, 3, 12, 34, 56, 789);
    writer.add(callEntry(call({ at, requestId: 'exact', preview: 7, rpcErrorCode: -32602, failed: true })));
    writer.add(callEntry(call({ at, serverId: doomed.id, requestId: 'lost' })));
    await database.db.server.delete({ where: { id: doomed.id } });
    writer.add({ ...outputEntry(line('it\'s "quoted" \u0000-free, ünïcode ✓', 'stderr')), time: new Date(at) });
    await writer.close();
    const rows = await database.db.serverLog.findMany({ where: { time: new Date(at) }, orderBy: { id: 'asc' } });
    expect(rows.map((r) => [r.serverId, r.kind, r.level, r.preview, r.stream, r.tool, r.time.getTime()])).toEqual([
      [server.id, 'call', 'warn', 7, null, 'forecast', at],
      [server.id, 'output', 'error', null, 'stderr', null, at],
    ]);
    expect(rows[0]?.call).toMatchObject({ requestId: 'exact', rpcErrorCode: -32602, failed: true, traceId: null });
    expect(rows[1]?.call).toBeNull();
    // Postgres cannot hold NUL: it becomes U+FFFD rather than losing the batch.
    expect(rows[1]?.message).toBe('it\'s "quoted" \ufffd-free, ünïcode ✓');
  });

  it('replaces only real NUL characters in the payload, not a backslash followed by u0000', () => {
    const rows = [{ message: 'a\u0000b \\u0000 c\\\u0000' }];
    expect(JSON.parse(logPayload(rows))).toEqual([{ message: 'a\ufffdb \\u0000 c\\\ufffd' }]);
  });
});
