import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Database, openDatabase, Prisma } from '../src/index.ts';
import { readMigrations } from '../src/migrate.ts';
import { availableTestKinds, createTestDatabase, type TestDatabase } from '../src/testing.ts';

describe.each(availableTestKinds())('openDatabase on %s', (kind) => {
  let t: TestDatabase;
  let database: Database;

  beforeAll(async () => {
    t = await createTestDatabase({ kind });
    database = await openDatabase({ dataDir: t.dataDir, databaseUrl: t.url });
  });
  afterAll(async () => {
    await database?.close();
    await t?.drop();
  });

  /** Allocates the next change number of a server atomically (what the platform does when opening a change). */
  async function openChange(serverId: string, title: string) {
    return database.db.$transaction(async (tx) => {
      const [row] = await tx.$queryRaw<{ number: number }[]>`
        UPDATE servers SET next_change_number = next_change_number + 1, updated_at = now()
        WHERE id = ${serverId}::uuid RETURNING next_change_number - 1 AS number`;
      if (!row) throw new Error('server not found');
      return tx.changeRequest.create({
        data: { serverId, number: row.number, title, branch: `change/${row.number}`, headSha: 'a'.repeat(40) },
      });
    });
  }

  it('reports its kind', () => {
    expect(database.kind).toBe(kind);
  });

  it('creates and reads rows with uuid ids, defaults, lists and JSON', async () => {
    const { db } = database;
    const org = await db.org.create({ data: { slug: 'acme', name: 'Acme' } });
    const user = await db.user.create({ data: { email: 'ada@example.com', name: 'Ada' } });
    await db.membership.create({ data: { orgId: org.id, userId: user.id, role: 'owner' } });
    await db.apiKey.create({
      data: { orgId: org.id, userId: user.id, name: 'ci', prefix: 'bmms_ab', hash: 'h1', scopes: ['read', 'write'] },
    });
    const conditions: Prisma.InputJsonValue = [{ type: 'Ready', status: 'True', reason: 'Deployed' }];
    const server = await db.server.create({ data: { orgId: org.id, name: 'weather', conditions } });

    expect(org.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(org.createdAt).toBeInstanceOf(Date);
    expect(server).toMatchObject({ description: '', nextChangeNumber: 1, conditions });

    const loaded = await db.org.findUniqueOrThrow({
      where: { slug: 'acme' },
      include: { memberships: { include: { user: true } }, apiKeys: true, servers: true },
    });
    expect(loaded.memberships.map((m) => [m.role, m.user.email])).toEqual([['owner', 'ada@example.com']]);
    expect(loaded.apiKeys[0]?.scopes).toEqual(['read', 'write']);
    expect(loaded.servers.map((s) => s.name)).toEqual(['weather']);

    await db.auditEvent.create({
      data: { orgId: org.id, action: 'server.create', targetType: 'server', data: { a: 1 } },
    });
    const updated = await db.server.update({ where: { id: server.id }, data: { observedRevision: 'abc' } });
    expect(updated.updatedAt.getTime()).toBeGreaterThanOrEqual(server.updatedAt.getTime());
  });

  it('reports a unique violation as Prisma error P2002', async () => {
    const err = await database.db.org.create({ data: { slug: 'acme', name: 'Again' } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Prisma.PrismaClientKnownRequestError);
    expect((err as Prisma.PrismaClientKnownRequestError).code).toBe('P2002');
  });

  it('allocates change numbers in interactive transactions, also when called concurrently', async () => {
    const server = await database.db.server.findUniqueOrThrow({ where: { name: 'weather' } });
    const first = await openChange(server.id, 'first');
    const more = await Promise.all([1, 2, 3, 4].map((i) => openChange(server.id, `concurrent ${i}`)));
    expect(first.number).toBe(1);
    expect(more.map((c) => c.number).sort()).toEqual([2, 3, 4, 5]);
    const after = await database.db.server.findUniqueOrThrow({ where: { id: server.id } });
    expect(after.nextChangeNumber).toBe(6);
  });

  it('rolls an interactive transaction back when its callback throws', async () => {
    const { db } = database;
    const failed = db.$transaction(async (tx) => {
      await tx.org.create({ data: { slug: 'ghost', name: 'Ghost' } });
      throw new Error('abort');
    });
    await expect(failed).rejects.toThrow('abort');
    expect(await db.org.findUnique({ where: { slug: 'ghost' } })).toBeNull();
    expect(await db.org.count()).toBe(1);
  });

  it('cascades deletes and nulls optional references as the schema says', async () => {
    const { db } = database;
    const org = await db.org.findUniqueOrThrow({ where: { slug: 'acme' } });
    await db.org.delete({ where: { id: org.id } });
    expect(await db.server.count()).toBe(0);
    expect(await db.changeRequest.count()).toBe(0);
    expect(await db.apiKey.count()).toBe(0);
    const events = await db.auditEvent.findMany();
    expect(events.map((e) => [e.action, e.orgId])).toEqual([['server.create', null]]);
  });

  it('keeps data across close and reopen without applying migrations again', async () => {
    await database.db.user.create({ data: { email: 'grace@example.com', name: 'Grace' } });
    await database.close();
    database = await openDatabase({ dataDir: t.dataDir, databaseUrl: t.url });
    const rows = await database.db.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM _prisma_migrations`;
    expect(Number(rows[0]?.n)).toBe((await readMigrations()).length);
    expect((await database.db.user.findMany({ orderBy: { email: 'asc' } })).map((u) => u.name)).toEqual([
      'Ada',
      'Grace',
    ]);
  });
});
