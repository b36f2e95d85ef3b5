import { type Database, openDatabase } from '@bmms/prisma';
import { availableTestKinds, createTestDatabase, type TestDatabase } from '@bmms/prisma/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { anonymizeAudit, audit } from './audit.ts';
import { withRequestContext } from './http/request-context.ts';

describe.each(availableTestKinds())('the audit log on %s', (kind) => {
  let t: TestDatabase;
  let database: Database;
  let orgId: string;
  let otherOrgId: string;
  let alice: string;
  let bob: string;

  beforeAll(async () => {
    t = await createTestDatabase({ kind });
    database = await openDatabase({ dataDir: t.dataDir, databaseUrl: t.url });
    const { db } = database;
    orgId = (await db.org.create({ data: { slug: 'acme', name: 'Acme' } })).id;
    otherOrgId = (await db.org.create({ data: { slug: 'other', name: 'Other' } })).id;
    alice = (await db.user.create({ data: { email: 'alice@example.com', name: 'Alice' } })).id;
    bob = (await db.user.create({ data: { email: 'bob@example.com', name: 'Bob' } })).id;
  });
  afterAll(async () => {
    await database?.close();
    await t?.drop();
  });

  const principal = (userId: string, org = orgId) => ({
    userId,
    orgId: org,
    apiKeyId: null,
    role: 'owner',
    scopes: ['*'],
  });
  const rawError = async (sql: string): Promise<string> => {
    try {
      await database.db.$executeRawUnsafe(sql);
      return 'no error';
    } catch (err) {
      return String(err);
    }
  };

  it('records the request id and address of the request it happens in', async () => {
    await withRequestContext({ requestId: 'req-12345678', ip: '203.0.113.9' }, () =>
      audit(database.db, principal(alice), 'test.context', { type: 'server', id: 's1' }),
    );
    const row = await database.db.auditEvent.findFirstOrThrow({ where: { action: 'test.context' } });
    expect(row).toMatchObject({ requestId: 'req-12345678', ip: '203.0.113.9', actorId: alice, orgId });
  });

  it('refuses UPDATE, DELETE and TRUNCATE of audit events', async () => {
    await audit(database.db, principal(alice), 'test.locked', { type: 'server', id: 's2' }, { after: 1 });
    expect(await rawError(`UPDATE audit_events SET action = 'forged' WHERE action = 'test.locked'`)).toMatch(
      /append-only/,
    );
    expect(await rawError(`UPDATE audit_events SET data = '{"after":2}' WHERE action = 'test.locked'`)).toMatch(
      /append-only/,
    );
    expect(await rawError(`UPDATE audit_events SET actor_id = '${bob}' WHERE action = 'test.locked'`)).toMatch(
      /append-only/,
    );
    expect(await rawError(`DELETE FROM audit_events WHERE action = 'test.locked'`)).toMatch(/append-only/);
    expect(await rawError('TRUNCATE audit_events')).toMatch(/append-only/);
    await expect(database.db.auditEvent.deleteMany({})).rejects.toThrow(/append-only/);
    const row = await database.db.auditEvent.findFirstOrThrow({ where: { action: 'test.locked' } });
    expect(row).toMatchObject({ actorId: alice, data: { after: 1 } });
  });

  it('anonymizes a user: events by them and about them lose identity and personal data, nothing else', async () => {
    const ctx = { requestId: 'req-anon-0001', ip: '198.51.100.7' };
    await withRequestContext(ctx, async () => {
      await audit(
        database.db,
        principal(alice),
        'member.invite',
        { type: 'invitation', id: 'i1' },
        { email: 'x@y.z', role: 'member' },
      );
      await audit(
        database.db,
        principal(bob),
        'member.role',
        { type: 'user', id: alice },
        { before: 'member', after: 'admin' },
      );
      await audit(database.db, principal(bob), 'server.create', { type: 'server', id: 's3' }, { name: 'demo' });
    });
    const changed = await anonymizeAudit(database.db, { userId: alice });
    expect(changed).toBeGreaterThanOrEqual(2);
    const invite = await database.db.auditEvent.findFirstOrThrow({ where: { action: 'member.invite' } });
    expect(invite).toMatchObject({
      actorId: null,
      ip: null,
      requestId: ctx.requestId,
      targetId: 'i1',
      data: { role: 'member' },
    });
    const role = await database.db.auditEvent.findFirstOrThrow({ where: { action: 'member.role' } });
    expect(role).toMatchObject({
      actorId: bob,
      targetId: null,
      ip: ctx.ip,
      data: { before: 'member', after: 'admin' },
    });
    const untouched = await database.db.auditEvent.findFirstOrThrow({ where: { action: 'server.create' } });
    expect(untouched).toMatchObject({ actorId: bob, ip: ctx.ip, data: { name: 'demo' } });
    expect(await database.db.auditEvent.count({ where: { actorId: alice } })).toBe(0);
  });

  it('anonymizes an org, and the org can then be deleted with its events kept', async () => {
    await audit(
      database.db,
      principal(bob, otherOrgId),
      'server.create',
      { type: 'server', id: 's4' },
      { name: 'x' },
      {
        ip: '192.0.2.1',
      },
    );
    const before = await database.db.auditEvent.count();
    expect(await anonymizeAudit(database.db, { orgId: otherOrgId })).toBe(1);
    await database.db.org.delete({ where: { id: otherOrgId } });
    expect(await database.db.auditEvent.count()).toBe(before);
    const row = await database.db.auditEvent.findFirstOrThrow({ where: { targetId: 's4' } });
    expect(row).toMatchObject({ orgId: null, actorId: null, ip: null, action: 'server.create' });
  });
});
