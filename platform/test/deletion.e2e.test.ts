import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateApiKey } from '../src/accounts/keys.ts';
import { addMultiplyTool, poll, TestStack, textOf } from './harness.ts';

// Deleting an org leaves no row, repository, instance, bundle, log or secret of it: the database (every table,
// whatever later migrations add) and the data dir (every file) are searched for its ids, names, emails and secret.

const tag = randomBytes(4).toString('hex');
const SECRET = `sv_${randomBytes(16).toString('hex')}`;

let stack: TestStack;

/** An org with an owner and a developer, each with an API key; made in the database (there is no org sign-up API). */
async function makeOrg(label: string) {
  const { db } = stack.platform.ctx;
  const org = await db.org.create({ data: { slug: `${label}-${tag}`, name: `${label} Org ${tag}` } });
  const people = [];
  for (const role of ['owner', 'developer']) {
    const user = await db.user.create({
      data: { email: `${label}-${role}-${tag}@example.com`, name: `${label} ${role} person ${tag}` },
    });
    await db.membership.create({ data: { orgId: org.id, userId: user.id, role } });
    const { key, prefix, hash } = generateApiKey();
    await db.apiKey.create({ data: { orgId: org.id, userId: user.id, name: role, prefix, hash, scopes: ['*'] } });
    people.push({ user, key });
  }
  const [owner, member] = people as [(typeof people)[number], (typeof people)[number]];
  return { org, owner, member };
}

/** Runs `fn` with the harness acting as `key` (its wait helpers use the stack's key). */
async function as<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const saved = stack.key;
  stack.key = key;
  try {
    return await fn();
  } finally {
    stack.key = saved;
  }
}

/** Every row of every table of the database, as JSON text, with its table. */
async function allRows(): Promise<{ table: string; row: string }[]> {
  const { db } = stack.platform.ctx;
  const tables = await db.$queryRaw<{ name: string }[]>`
    SELECT table_name AS name FROM information_schema.tables
     WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`;
  expect(tables.map((t) => t.name)).toEqual(expect.arrayContaining(['servers', 'secrets', 'audit_events']));
  const out: { table: string; row: string }[] = [];
  for (const { name } of tables) {
    const rows = await db.$queryRawUnsafe<{ j: string }[]>(`SELECT row_to_json(t)::text AS j FROM "${name}" t`);
    for (const r of rows) out.push({ table: name, row: r.j });
  }
  return out;
}

/** Every file under `dir` (but the embedded database, searched through SQL), with its path relative to `dir`. */
async function allFiles(dir: string, base = dir): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    const rel = path.relative(base, full);
    if (rel === 'db') continue;
    out.push(rel);
    if (entry.isDirectory()) out.push(...(await allFiles(full, base)));
  }
  return out;
}

/** Needles found in the data dir: in a path, or inside a file. */
async function dataDirHits(needles: string[]): Promise<string[]> {
  const hits: string[] = [];
  for (const rel of await allFiles(stack.dataDir)) {
    for (const n of needles) if (rel.includes(n)) hits.push(`${rel} (path has ${n})`);
    const full = path.join(stack.dataDir, rel);
    const info = await stat(full).catch(() => null);
    if (!info?.isFile() || info.size > 64 * 1024 * 1024) continue;
    const text = (await readFile(full).catch(() => Buffer.alloc(0))).toString('latin1');
    for (const n of needles) if (text.includes(n)) hits.push(`${rel} (contains ${n})`);
  }
  return hits;
}

/** A server of the org the harness acts as: created, checked and merged, serving. */
async function deploy(name: string) {
  return stack.createAndDeploy(name);
}

beforeAll(async () => {
  stack = await TestStack.start();
}, 300_000);

afterAll(async () => {
  await stack?.destroy();
});

describe('deleting an organization', () => {
  it('removes every row, repository, instance, bundle, log and secret of it, and keeps an anonymized trail', async () => {
    const { org, owner, member } = await makeOrg('acme');
    const live = `live-${tag}`;
    const draft = `draft-${tag}`;
    const kept = `kept-${tag}`;

    // The operator's org keeps a server: nothing of it may go.
    await stack.api('POST', '/api/v1/servers', { name: kept, template: 'echo' });
    await stack.waitChecks(kept, 1);

    const serverIds = await as(owner.key, async () => {
      await deploy(live);
      expect((await stack.api('PUT', `/api/v1/servers/${live}/secrets/TOKEN`, { value: SECRET })).status).toBeLessThan(
        300,
      );
      // A change with a preview, left open.
      const wd = await stack.clone(live);
      await addMultiplyTool(wd);
      await wd.commitAndPush('Add multiply', 'multiply');
      const number = await stack.openChange(live, 'multiply');
      const change = await stack.waitChecks(live, number);
      expect(change.preview?.status).toBe('ready');
      // Calls through the gateway.
      const server = (await stack.api<{ url: string }>('GET', `/api/v1/servers/${live}`)).body;
      const client = await stack.mcpClient(server.url, member.key);
      expect(textOf(await client.callTool({ name: 'echo', arguments: { text: 'hi' } }))).toContain('hi');
      await client.close();
      expect((await stack.api('POST', '/api/v1/servers', { name: draft, template: 'echo' })).status).toBe(201);
      await stack.waitChecks(draft, 1);
      const rows = await stack.platform.ctx.db.server.findMany({ where: { orgId: org.id } });
      return rows.map((r) => r.id);
    });
    const running = () => stack.platform.runtime.list().filter((i) => [live, draft].includes(i.serverName));
    expect(running().length).toBeGreaterThanOrEqual(2); // production and the preview
    expect(serverIds).toHaveLength(2);

    // Refused: the wrong confirmation, a member who is not an owner, the operator's org.
    const wrong = await stack.api('DELETE', '/api/v1/org', { confirm: 'nope' }, { key: owner.key });
    expect(wrong.status).toBe(400);
    expect(JSON.stringify(wrong.body)).toContain(org.slug);
    expect((await stack.api('DELETE', '/api/v1/org', { confirm: org.slug }, { key: member.key })).status).toBe(403);
    const operator = await stack.api('DELETE', '/api/v1/org', { confirm: 'default' });
    expect(operator.status).toBe(409);
    expect((operator.body as { error: { code: string } }).error.code).toBe('operator_org');

    const deleted = await stack.api('DELETE', '/api/v1/org', { confirm: org.name }, { key: owner.key });
    expect(deleted.status).toBe(200);
    expect(deleted.body).toEqual({ deleted: true, servers: 2 });

    // Nothing of it runs or answers; its keys are dead.
    expect(running()).toEqual([]);
    expect((await stack.api('GET', '/api/v1/me', undefined, { key: owner.key })).status).toBe(401);
    expect((await stack.api('GET', '/api/v1/me', undefined, { key: member.key })).status).toBe(401);
    // The gateway knows it no more (asked with a key that works: the operator's).
    const call = await stack.api('POST', `/s/${live}/mcp`, { jsonrpc: '2.0', id: 1, method: 'tools/list' });
    expect([403, 404]).toContain(call.status);

    // The database: no row anywhere names it, but the anonymized audit events, which hold no personal data.
    const people = [owner.user, member.user];
    const personal = people.flatMap((u) => [u.id, u.email, u.name]);
    const everything = [org.id, org.slug, org.name, live, draft, SECRET, ...serverIds, ...personal];
    const rows = await allRows();
    // The people keep their accounts (they may belong to other orgs): their own user rows aside, nothing names them.
    const own = (table: string, row: string) => table === 'users' && people.some((u) => row.includes(`"id":"${u.id}"`));
    const leaks = rows.filter(
      ({ table, row }) => table !== 'audit_events' && !own(table, row) && everything.some((n) => row.includes(n)),
    );
    expect(leaks).toEqual([]);
    expect(rows.filter(({ table, row }) => own(table, row))).toHaveLength(2);
    const audit = rows.filter((r) => r.table === 'audit_events');
    expect(audit.filter(({ row }) => [SECRET, ...personal].some((n) => row.includes(n)))).toEqual([]);
    const trail = audit.map((r) => JSON.parse(r.row) as Record<string, unknown>);
    expect(trail.find((e) => e.action === 'org.deleted' && e.target_id === org.id)).toMatchObject({
      actor_id: null,
      ip: null,
      org_id: null,
    });
    expect(trail.filter((e) => e.action === 'server.create').length).toBeGreaterThanOrEqual(3);

    // The data dir: no repository, bundle, instance folder, log or cache of it.
    expect(await dataDirHits([org.id, live, draft, SECRET, ...serverIds, owner.user.email])).toEqual([]);
    // …and the operator's server is untouched.
    expect(existsSync(path.join(stack.dataDir, 'repos', `${kept}.git`))).toBe(true);
    expect((await stack.api('GET', `/api/v1/servers/${kept}`)).status).toBe(200);
  }, 600_000);

  it('a restart in the middle of a deletion finishes it', async () => {
    const { org, owner } = await makeOrg('halfway');
    const first = `first-${tag}`;
    const second = `second-${tag}`;
    await as(owner.key, async () => {
      await deploy(first);
      await stack.api('POST', '/api/v1/servers', { name: second, template: 'echo' });
      await stack.waitChecks(second, 1);
    });
    const { db } = stack.platform.ctx;
    const ids = (await db.server.findMany({ where: { orgId: org.id } })).map((s) => s.id);
    // As a platform that died half way: the org marked, one server's rows gone (its repo, bundle and folders not).
    await db.org.update({ where: { id: org.id }, data: { deletingAt: new Date() } });
    await db.server.delete({ where: { name: first } });
    await stack.stop();
    expect(existsSync(path.join(stack.dataDir, 'repos', `${first}.git`))).toBe(true);

    await stack.boot();
    const again = stack.platform.ctx.db;
    expect(await again.org.findUnique({ where: { id: org.id } })).toBeNull();
    expect(await again.server.count({ where: { name: { in: [first, second] } } })).toBe(0);
    expect(await again.user.count({ where: { id: owner.user.id } })).toBe(1); // the person stays, only the org went
    expect(await again.membership.count({ where: { userId: owner.user.id } })).toBe(0);
    await poll(
      async () =>
        stack.platform.runtime.list().some((i) => [first, second].includes(i.serverName)) ? undefined : true,
      30_000,
      'no instance of the deleted org',
    );
    expect(await dataDirHits([org.id, first, second, ...ids])).toEqual([]);
  }, 600_000);
});

describe('deleting an account', () => {
  it('refuses while they are the last owner of an org with members, then removes their personal data', async () => {
    const { org, owner, member } = await makeOrg('solo');
    const blocked = await stack.api('DELETE', '/api/v1/me', { confirm: owner.user.email }, { key: owner.key });
    expect(blocked.status).toBe(409);
    expect(blocked.body).toMatchObject({ error: { code: 'org_has_members', details: { org: org.name } } });
    const wrong = await stack.api('DELETE', '/api/v1/me', { confirm: 'someone@else' }, { key: member.key });
    expect(wrong.status).toBe(400);

    // The member leaves: the org stays, with its owner.
    const gone = await stack.api('DELETE', '/api/v1/me', { confirm: member.user.email }, { key: member.key });
    expect(gone).toMatchObject({ status: 200, body: { deleted: true, orgs: 0 } });
    // The owner, now alone: the account and the org go.
    const both = await stack.api('DELETE', '/api/v1/me', { confirm: owner.user.email }, { key: owner.key });
    expect(both).toMatchObject({ status: 200, body: { deleted: true, orgs: 1 } });

    const rows = await allRows();
    const personal = [owner.user, member.user].flatMap((u) => [u.id, u.email, u.name]);
    expect(rows.filter(({ row }) => personal.some((n) => row.includes(n)))).toEqual([]);
    expect(rows.filter(({ table, row }) => table !== 'audit_events' && row.includes(org.id))).toEqual([]);
    const actions = rows.filter((r) => r.table === 'audit_events').map((r) => JSON.parse(r.row).action);
    expect(actions).toEqual(expect.arrayContaining(['account.deleted', 'org.deleted']));
    // The deletion's own events hold no address either (it would be the person's).
    const own = rows.filter((r) => r.table === 'audit_events').map((r) => JSON.parse(r.row));
    const deletions = own.filter((e) => ['account.deleted', 'org.deleted'].includes(e.action));
    expect(deletions.length).toBeGreaterThanOrEqual(3);
    expect(deletions.filter((e) => e.ip !== null || e.actor_id !== null)).toEqual([]);
  }, 120_000);
});
