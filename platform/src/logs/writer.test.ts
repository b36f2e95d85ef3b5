import { type Database, openDatabase } from '@bmms/prisma';
import { createTestDatabase, type TestDatabase } from '@bmms/prisma/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CallRecord } from '../gateway/calls.ts';
import { silentLogger } from '../logger.ts';
import { lastLogId, newestLogs, scanAfter, searchNewest } from './query.ts';
import { BATCH_SPAN_MS, callEntry, deployEntry, jsonLevel, outputEntry, RECORDS_PER_ROW } from './records.ts';
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
    // The sweep at start is over before the records are added (it would otherwise count the ancient one itself).
    await writer.sweep();
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

/** A writer on the test database that writes only when told to (or at close). */
const writerOf = (over: Partial<ConstructorParameters<typeof LogWriter>[0]> = {}) =>
  new LogWriter({
    db: database.db,
    raw: database.raw,
    log: silentLogger,
    retentionMs: 86_400_000,
    flushMs: 60_000,
    ...over,
  });

describe('batches of gateway calls', () => {
  /** A server of its own, so that its log holds only what the test wrote. */
  const serverOfItsOwn = async (name: string) =>
    database.db.server.create({ data: { orgId: server.orgId, name }, select: { id: true, orgId: true, name: true } });

  it("writes a server's calls as one row and reads each back as the record callEntry makes of it", async () => {
    const s = await serverOfItsOwn('batched');
    const writer = writerOf();
    const at = Date.now() - 3_600_000;
    const calls = [
      call({ at, serverId: s.id, requestId: 'a', latencyMs: 1.23456 }),
      call({ at: at + 1, serverId: s.id, requestId: 'b', tool: 'radar', status: 200, failed: true }),
      call({ at: at + 2, serverId: s.id, requestId: 'c', rpcErrorCode: -32602, failed: true, preview: 4 }),
      call({ at: at + 3, serverId: s.id, requestId: 'd', status: 502, failed: true, traceId: 'f'.repeat(32) }),
      call({
        at: at + 4,
        serverId: s.id,
        requestId: 'e',
        method: 'initialize',
        tool: undefined,
        clientName: undefined,
      }),
    ];
    for (const c of calls) writer.addCall(c);
    expect(writer.pending).toBe(5);
    await writer.close();
    const rows = await database.db.serverLog.findMany({ where: { serverId: s.id } });
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ kind: 'call', level: 'error', tool: null, time: new Date(at) });
    const records = await newestLogs(database.db, s.id, {}, 10);
    expect(records.map(({ id: _, ...r }) => r)).toEqual(
      calls.map((c) => {
        const e = callEntry(c);
        return {
          time: e.time.toISOString(),
          kind: e.kind,
          level: e.level,
          message: e.message,
          preview: e.preview,
          revision: e.revision,
          stream: null,
          call: e.call,
        };
      }),
    );
    const ids = records.map((r) => BigInt(r.id));
    expect(ids).toEqual(ids.map((_, i) => (ids[0] as bigint) + BigInt(i)));
    expect(await lastLogId(database.db, s.id)).toBe(ids[4]);
    expect((await scanAfter(database.db, s.id, { after: ids[4] as bigint })).records).toEqual([]);
  });

  it('filters and pages records inside batches like single records: tool, level, text, kind, time and ids', async () => {
    const s = await serverOfItsOwn('filtered');
    const writer = writerOf();
    const at = Date.now() - 2 * 3_600_000;
    writer.addCall(call({ at, serverId: s.id, tool: 'add', requestId: '1' }));
    writer.addCall(call({ at: at + 1000, serverId: s.id, tool: 'echo', requestId: '2', status: 200, failed: true }));
    writer.add({
      ...outputEntry({ ...line('echo said hi', 'stdout'), serverName: 'filtered' }),
      time: new Date(at + 1500),
    });
    await writer.flush();
    writer.addCall(call({ at: at + 2000, serverId: s.id, tool: 'add', requestId: '3', status: 500, failed: true }));
    writer.addCall(call({ at: at + 3000, serverId: s.id, tool: 'add', requestId: '4' }));
    await writer.close();
    const ask = async (filter: Parameters<typeof newestLogs>[2], limit = 10) =>
      (await newestLogs(database.db, s.id, filter, limit)).map((r) => r.call?.requestId ?? r.message);
    expect(await ask({})).toEqual(['1', '2', 'echo said hi', '3', '4']);
    expect(await ask({ tool: 'add' })).toEqual(['1', '3', '4']);
    expect(await ask({ tool: 'echo' })).toEqual(['2']);
    expect(await ask({ level: 'warn' })).toEqual(['2', '3']);
    expect(await ask({ level: 'error' })).toEqual(['3']);
    expect(await ask({ q: 'ECHO' })).toEqual(['2', 'echo said hi']);
    expect(await ask({ q: '→ 500' })).toEqual(['3']);
    expect(await ask({ kind: 'output' })).toEqual(['echo said hi']);
    expect(await ask({ kind: 'call' }, 2)).toEqual(['3', '4']);
    expect(await ask({ since: new Date(at + 1000).toISOString(), until: new Date(at + 3000).toISOString() })).toEqual([
      '2',
      'echo said hi',
      '3',
    ]);
    const all = await newestLogs(database.db, s.id, {}, 10);
    const id = (i: number) => BigInt(all[i]?.id as string);
    expect(await ask({ before: id(3) }, 2)).toEqual(['2', 'echo said hi']);
    expect(
      (await scanAfter(database.db, s.id, { after: id(0) }, 2)).records.map((r) => r.call?.requestId ?? r.message),
    ).toEqual(['2', 'echo said hi']);
    expect(
      (await scanAfter(database.db, s.id, { after: id(1), tool: 'add' })).records.map((r) => r.call?.requestId),
    ).toEqual(['3', '4']);
  });

  it('starts a new row past RECORDS_PER_ROW calls or BATCH_SPAN_MS, and finds a long call older than its row', async () => {
    const s = await serverOfItsOwn('long-batches');
    const writer = writerOf({ batchSize: 100_000 });
    const at = Date.now() - 3 * 3_600_000;
    for (let i = 0; i < RECORDS_PER_ROW + 10; i++) writer.addCall(call({ at, serverId: s.id, requestId: `n${i}` }));
    writer.addCall(call({ at: at + BATCH_SPAN_MS, serverId: s.id, requestId: 'later' }));
    // A call that started long before and ended now joins the open batch when it fits the span, else one of its own.
    writer.addCall(call({ at: at + BATCH_SPAN_MS - 30_000, serverId: s.id, requestId: 'long' }));
    await writer.close();
    const rows = await database.db.serverLog.findMany({ where: { serverId: s.id }, orderBy: { id: 'asc' } });
    expect(rows.map((r) => (r.calls as unknown[]).length)).toEqual([RECORDS_PER_ROW, 10, 2]);
    expect(rows[2]?.time).toEqual(new Date(at + BATCH_SPAN_MS - 30_000));
    const until = new Date(at + BATCH_SPAN_MS - 1).toISOString();
    const found = await newestLogs(database.db, s.id, { until, since: new Date(at + 1).toISOString() }, 10);
    expect(found.map((r) => r.call?.requestId)).toEqual(['long']);
    expect(await newestLogs(database.db, s.id, {}, 5000)).toHaveLength(RECORDS_PER_ROW + 12);
  });

  it('bounds calls like other records, and skips the calls of a server deleted while they waited', async () => {
    const s = await serverOfItsOwn('flooded');
    const doomed = await serverOfItsOwn('gone-soon');
    const writer = writerOf({ maxQueue: 5 });
    for (let i = 0; i < 8; i++) writer.addCall(call({ serverId: s.id, requestId: `f${i}` }));
    expect(writer.pending).toBe(5);
    expect(writer.dropped).toBe(3);
    await writer.flush();
    for (let i = 0; i < 40; i++) writer.addCall(call({ serverId: doomed.id, requestId: `d${i}` }));
    writer.addCall(call({ serverId: doomed.id, requestId: 'alone' }));
    await database.db.server.delete({ where: { id: doomed.id } });
    await writer.close();
    const records = await newestLogs(database.db, s.id, {}, 10);
    expect(records.map((r) => r.call?.requestId ?? r.message)).toEqual([
      'f0',
      'f1',
      'f2',
      'f3',
      'f4',
      "[bmms] 3 log records dropped: the platform's log writer fell behind",
    ]);
    expect(await database.db.serverLog.count({ where: { serverId: doomed.id } })).toBe(0);
  });
});

describe('a follower with a rare filter', () => {
  it('moves on past the records that did not match, so that its next pull reads only newer ones', async () => {
    const s = await database.db.server.create({ data: { orgId: server.orgId, name: 'rarely' } });
    const writer = writerOf();
    for (let i = 0; i < 50; i++) writer.addCall(call({ serverId: s.id, tool: 'common', requestId: `c${i}` }));
    writer.addCall(call({ serverId: s.id, tool: 'rare', requestId: 'r1' }));
    for (let i = 0; i < 50; i++) writer.addCall(call({ serverId: s.id, tool: 'common', requestId: `d${i}` }));
    await writer.close();
    const all = await newestLogs(database.db, s.id, {}, 1000);
    const first = await scanAfter(database.db, s.id, { tool: 'rare', after: 0n });
    expect(first.records.map((r) => r.call?.requestId)).toEqual(['r1']);
    expect(first.examined).toBe(BigInt(all[all.length - 1]?.id as string));
    const next = await scanAfter(database.db, s.id, { tool: 'rare', after: first.examined as bigint });
    expect(next).toEqual({ records: [], examined: undefined, stopped: false });
  });
});

describe('a search through more records than one request may examine', () => {
  it('answers what it found and where to go on, before or after, until the rare record is found', async () => {
    const s = await database.db.server.create({ data: { orgId: server.orgId, name: 'haystack' } });
    const writer = writerOf();
    writer.addCall(call({ serverId: s.id, tool: 'needle', requestId: 'needle' }));
    for (let i = 0; i < 2500; i++) writer.addCall(call({ serverId: s.id, tool: 'hay', requestId: `h${i}` }));
    await writer.close();
    const bound = 1000;
    const first = await searchNewest(database.db, s.id, { q: 'needle' }, 10, bound);
    expect(first.records).toEqual([]);
    expect(first.before).toBeDefined();
    const second = await searchNewest(database.db, s.id, { q: 'needle', before: first.before }, 10, bound);
    expect(second.records).toEqual([]);
    const third = await searchNewest(database.db, s.id, { q: 'needle', before: second.before }, 10, bound);
    expect(third.records.map((r) => r.call?.requestId)).toEqual(['needle']);
    expect(third.before).toBeUndefined();
    // Forwards: from the needle on, nothing more matches; the search says where it stopped, then that it is done.
    const needle = BigInt(third.records[0]?.id as string);
    const on = await scanAfter(database.db, s.id, { q: 'needle', after: needle }, 10, bound);
    expect(on).toMatchObject({ records: [], stopped: true, examined: needle + BigInt(bound) });
    const rest = await scanAfter(database.db, s.id, { q: 'needle', after: on.examined as bigint }, 10, 10_000);
    expect(rest).toMatchObject({ records: [], stopped: false });
  });
});

describe('call batches against a hostile or careless caller', () => {
  it('keeps a batch whose calls carry NUL characters (as U+FFFD), and none of its other calls is lost', async () => {
    const s = await database.db.server.create({ data: { orgId: server.orgId, name: 'nul-names' } });
    const writer = writerOf();
    for (let i = 0; i < 40; i++) writer.addCall(call({ serverId: s.id, requestId: `n${i}` }));
    writer.addCall(call({ serverId: s.id, tool: 'a\u0000b', clientName: 'evil\u0000client', requestId: 'nul' }));
    writer.addCall(call({ serverId: s.id, tool: 'solo\u0000', requestId: 'small' }));
    await writer.close();
    const records = await newestLogs(database.db, s.id, {}, 100);
    expect(records).toHaveLength(42);
    const nul = records.find((r) => r.call?.requestId === 'nul');
    expect(nul?.call).toMatchObject({ tool: 'a\ufffdb', clientName: 'evil\ufffdclient' });
    expect(records.find((r) => r.call?.requestId === 'small')?.call?.tool).toBe('solo\ufffd');
  });

  it('answers nothing, not an error, for ids at the edges: before 0, after the largest id the API takes', async () => {
    const s = await database.db.server.create({ data: { orgId: server.orgId, name: 'edges' } });
    const writer = writerOf();
    writer.addCall(call({ serverId: s.id }));
    await writer.close();
    expect(await newestLogs(database.db, s.id, { before: 0n }, 10)).toEqual([]);
    expect(await newestLogs(database.db, s.id, { before: 1n }, 10)).toEqual([]);
    const largest = 10n ** 19n - 1n;
    expect((await scanAfter(database.db, s.id, { after: largest })).records).toEqual([]);
    expect(await newestLogs(database.db, s.id, { before: largest }, 10)).toHaveLength(1);
  });

  it('loses and repeats nothing when calls arrive while a write is under way', async () => {
    const s = await database.db.server.create({ data: { orgId: server.orgId, name: 'busy' } });
    const writer = writerOf();
    for (let i = 0; i < 100; i++) writer.addCall(call({ serverId: s.id, requestId: `a${i}` }));
    const writing = writer.flush();
    for (let i = 0; i < 100; i++) writer.addCall(call({ serverId: s.id, requestId: `b${i}` }));
    const again = writer.flush();
    for (let i = 0; i < 100; i++) writer.addCall(call({ serverId: s.id, requestId: `c${i}` }));
    await Promise.all([writing, again]);
    await writer.close();
    const ids = (await newestLogs(database.db, s.id, {}, 1000)).map((r) => r.call?.requestId);
    expect(ids).toHaveLength(300);
    expect(new Set(ids).size).toBe(300);
  });
});
