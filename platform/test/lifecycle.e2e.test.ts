import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { openDatabase } from '@bmms/prisma';
import { createTestDatabase, type TestDatabase } from '@bmms/prisma/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HAS_BWRAP, poll } from './harness.ts';
import { PlatformProcess } from './platform-process.ts';

/**
 * A call in flight whose end the test decides: POST /api/v1/keys with its body sent in two parts. The platform
 * is busy with it (reading the body) until `finish()` sends the rest.
 */
function slowCall(p: PlatformProcess): { finish(): void; answer: Promise<{ status: number; body: string }> } {
  const body = JSON.stringify({ name: 'in-flight', scopes: ['api'] });
  const half = Math.floor(body.length / 2);
  const url = new URL('/api/v1/keys', p.url);
  let finish = () => {};
  const answer = new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        headers: {
          authorization: `Bearer ${p.key}`,
          'content-type': 'application/json',
          'content-length': String(Buffer.byteLength(body)),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          text += d;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.write(body.slice(0, half));
    req.flushHeaders();
    finish = () => req.end(body.slice(half));
  });
  return { finish: () => finish(), answer };
}

/** A new call while the platform drains: refused (connection refused, or 503 shutting_down). */
async function newCall(p: PlatformProcess): Promise<string> {
  try {
    const res = await fetch(`${p.url}/api/v1/me`, { headers: { authorization: `Bearer ${p.key}` } });
    const body = (await res.json()) as { error?: { code: string } };
    return `${res.status} ${body.error?.code ?? ''} retry-after=${res.headers.get('retry-after')}`;
  } catch {
    return 'refused';
  }
}

/** Acceptance (lifecycle): SIGTERM drains the calls in flight within a bound; a newer database is refused. */
describe('the platform process on SIGTERM and at start-up', () => {
  let db: TestDatabase;
  let scratch: string;
  let platform: PlatformProcess;

  beforeAll(async () => {
    db = await createTestDatabase();
    scratch = await mkdtemp(path.join(os.tmpdir(), 'bmms-lifecycle-'));
    platform = new PlatformProcess(path.join(scratch, 'data'), {
      ...(db.url ? { DATABASE_URL: db.url } : {}),
      ...(HAS_BWRAP ? {} : { BMMS_INSECURE_NO_SANDBOX: '1' }),
    });
  });
  afterAll(async () => {
    await platform?.stop().catch(() => {});
    await db?.drop();
    await rm(scratch, { recursive: true, force: true });
  });

  it('lets a call in flight finish with its answer, refuses new calls meanwhile, and exits 0', async () => {
    await platform.start({ BMMS_SHUTDOWN_GRACE_SECONDS: '60' }, 240_000);
    const call = slowCall(platform);
    // The request has reached the platform before the signal.
    await new Promise((resolve) => setTimeout(resolve, 500));
    platform.child?.kill('SIGTERM');
    await poll(async () => (/shutting down/.test(platform.output) ? true : undefined), 30_000, 'the drain to start');
    expect(await newCall(platform)).toMatch(/^(refused|503 shutting_down retry-after=\d+)$/);
    expect(platform.child?.exitCode).toBeNull();
    call.finish();
    const answer = await call.answer;
    expect(answer.status, answer.body).toBe(201);
    expect(JSON.parse(answer.body)).toMatchObject({ name: 'in-flight', scopes: ['api'] });
    expect(await platform.exited).toEqual({ code: 0, signal: null });
  }, 400_000);

  it('cuts a call that outlives the grace period, and still exits 0', async () => {
    await platform.start({ BMMS_SHUTDOWN_GRACE_SECONDS: '1' }, 240_000);
    const call = slowCall(platform);
    const outcome = call.answer.then(
      (a) => `answered ${a.status}`,
      () => 'cut',
    );
    await new Promise((resolve) => setTimeout(resolve, 500));
    platform.child?.kill('SIGTERM');
    expect(await platform.exited).toEqual({ code: 0, signal: null });
    expect(await outcome).toBe('cut');
    expect(platform.output).toMatch(/cut/);
  }, 400_000);

  it('refuses to start on a database a newer version migrated, naming the migration', async () => {
    const database = await openDatabase({ dataDir: path.join(scratch, 'data'), databaseUrl: db.url });
    const newer = '29991231000000_from_the_future';
    await database.db.$executeRawUnsafe(
      `INSERT INTO "_prisma_migrations" (id, checksum, migration_name, finished_at, applied_steps_count)
       VALUES (gen_random_uuid()::text, 'x', $1, now(), 1)`,
      newer,
    );
    await database.close();

    await platform.start({}, 240_000);
    const exit = await platform.exited;
    expect(exit.code).not.toBe(0);
    expect(exit.code).not.toBeNull();
    expect(platform.output).toContain(newer);
    expect(platform.output).toMatch(/newer version/);
    expect(platform.output).toMatch(/restore/);

    const again = await openDatabase({ dataDir: path.join(scratch, 'data'), databaseUrl: db.url }).catch(
      (err: Error) => err,
    );
    expect(again).toBeInstanceOf(Error);
    expect((again as Error & { code?: string }).code).toBe('migration_unknown');
  }, 400_000);
});
