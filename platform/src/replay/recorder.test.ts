import { randomBytes } from 'node:crypto';
import { type Database, openDatabase } from '@bmms/prisma';
import { createTestDatabase, type TestDatabase } from '@bmms/prisma/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../logger.ts';
import { parseMasterKey } from '../secrets/keyring.ts';
import { SecretStore } from '../secrets/store.ts';
import { ReplayRecorder } from './recorder.ts';

const SECRET = 'pw-7c1e-secret-a9f0';
const K1 = randomBytes(32).toString('base64');
let t: TestDatabase;
let database: Database;
let secrets: SecretStore;
let server: { id: string; name: string };

beforeAll(async () => {
  t = await createTestDatabase();
  database = await openDatabase({ dataDir: t.dataDir, databaseUrl: t.url });
  const org = await database.db.org.create({ data: { slug: 'acme', name: 'Acme' } });
  server = await database.db.server.create({ data: { name: 'weather', orgId: org.id } });
  secrets = new SecretStore({ db: database.db, keyring: parseMasterKey(`v1:${K1}`) });
  await secrets.set(server.id, 'API_KEY', SECRET);
});
afterAll(async () => {
  await database?.close();
  await t?.drop();
});

const call = (id: number, text: string) => ({
  jsonrpc: '2.0',
  id,
  method: 'tools/call',
  params: { name: 'echo', arguments: { text } },
});
const answer = (id: number, text: string) =>
  Buffer.from(
    `event: message\ndata: ${JSON.stringify({ jsonrpc: '2.0', id, result: { content: [{ type: 'text', text }] } })}\n\n`,
  );

/** Sends one call through a capture as the gateway would, with an upstream exchange during it. */
function record(recorder: ReplayRecorder, id: number, text: string): boolean {
  const capture = recorder.begin(server, 'a'.repeat(40), call(id, text));
  if (!capture) return false;
  recorder.egress(server.name, {
    at: Date.now(),
    method: 'GET',
    url: `https://api.test/v1?q=${id}&api_key=${SECRET}`,
    status: 200,
    headers: { 'content-type': 'application/json', 'set-cookie': 'sid=abc' },
    body: Buffer.from(JSON.stringify({ echoed: text, access_token: 'x' })),
    truncated: false,
  });
  capture.observe(answer(id, text));
  capture.finish('text/event-stream', 200);
  return true;
}

describe('ReplayRecorder', () => {
  it('records nothing without consent, and nothing on the call path before it knows the consent', async () => {
    const recorder = new ReplayRecorder({ db: database.db, secrets, log: silentLogger, random: () => 0 });
    expect(record(recorder, 1, 'hello')).toBe(false);
    await recorder.flush();
    expect(await recorder.count(server.id)).toBe(0);
  });

  it('seals sanitized calls with their upstream answers, up to maxRecordings, and deletes them on request', async () => {
    const recorder = new ReplayRecorder({ db: database.db, secrets, log: silentLogger, random: () => 0 });
    await recorder.setSettings(server, { enabled: true, sampleRate: 0.5, maxRecordings: 2, retentionDays: 3 });
    expect(recorder.wantsEgress('weather')).toBe(true);
    expect(record(recorder, 1, `secret ${SECRET}`)).toBe(true);
    expect(record(recorder, 2, 'plain')).toBe(true);
    expect(record(recorder, 3, 'one too many')).toBe(true);
    await recorder.flush();
    expect(await recorder.count(server.id)).toBe(2);

    const rows = await database.db.replayRecording.findMany({ where: { serverId: server.id } });
    for (const row of rows) {
      expect(Buffer.from(row.ciphertext).includes(SECRET)).toBe(false);
      expect(Buffer.from(row.ciphertext).includes('plain')).toBe(false);
      expect(row.expiresAt.getTime() - row.recordedAt.getTime()).toBe(3 * 86_400_000);
    }
    const [first, second] = await recorder.recordings(server.id);
    expect(first).toMatchObject({
      tool: 'echo',
      arguments: { text: 'secret [secret]' },
      answer: { result: { content: [{ type: 'text', text: 'secret [secret]' }] } },
      exchanges: [
        {
          method: 'GET',
          url: 'https://api.test/v1?q=1&api_key=%5Btoken%5D',
          status: 200,
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ echoed: 'secret [secret]', access_token: '[token]' }),
        },
      ],
    });
    expect(second?.arguments).toEqual({ text: 'plain' });

    expect(await recorder.deleteAll(server.id)).toBe(2);
    expect(await recorder.count(server.id)).toBe(0);
  });

  it('samples at the rate the owner chose, and sweeps recordings past their retention', async () => {
    let roll = 0.7;
    const recorder = new ReplayRecorder({ db: database.db, secrets, log: silentLogger, random: () => roll });
    await recorder.setSettings(server, { enabled: true, sampleRate: 0.5, maxRecordings: 10, retentionDays: 1 });
    expect(record(recorder, 1, 'not sampled')).toBe(false);
    roll = 0.2;
    expect(record(recorder, 2, 'sampled')).toBe(true);
    await recorder.flush();
    expect(await recorder.count(server.id)).toBe(1);
    expect(await recorder.sweep(new Date(Date.now() + 2 * 86_400_000))).toBe(1);
    expect(await recorder.recordings(server.id)).toEqual([]);
  });
  it('re-encrypts recordings under the new master key when the key rotates, readable with it alone', async () => {
    const K2 = randomBytes(32).toString('base64');
    const before = new SecretStore({ db: database.db, keyring: parseMasterKey(`v1:${K1}`) });
    const recorder = new ReplayRecorder({ db: database.db, secrets: before, log: silentLogger, random: () => 0 });
    await recorder.setSettings(server, { enabled: true, sampleRate: 1, maxRecordings: 10, retentionDays: 1 });
    expect(record(recorder, 1, 'kept across rotation')).toBe(true);
    await recorder.flush();
    const both = new SecretStore({ db: database.db, keyring: parseMasterKey(`v2:${K2},v1:${K1}`) });
    const rotating = new ReplayRecorder({ db: database.db, secrets: both, log: silentLogger });
    expect(await rotating.reseal('v2')).toBe(1);
    await both.rotate();
    const after = new SecretStore({ db: database.db, keyring: parseMasterKey(`v2:${K2}`) });
    const reader = new ReplayRecorder({ db: database.db, secrets: after, log: silentLogger });
    expect((await reader.recordings(server.id)).map((r) => r.arguments)).toEqual([{ text: 'kept across rotation' }]);
    await reader.deleteAll(server.id);
  });
});
