import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateApiKey } from '../src/accounts/keys.ts';
import { createLogger } from '../src/logger.ts';
import { type ApiResponse, poll, type ServerBody, TestStack, textOf } from './harness.ts';

const run = promisify(execFile);

// Values assembled at run time: they are in no source file, so any hit in the scan is a leak.
const FIRST = `tok_${randomBytes(18).toString('hex')}`;
const SECOND = `tok_${randomBytes(18).toString('hex')}`;
const K1 = randomBytes(32).toString('base64');
const K2 = randomBytes(32).toString('base64');
/** What the `secret_digest` tool answers for a value: derived from it, never containing it. */
const digest = (v: string) => `len:${v.length} sum:${[...v].reduce((s, c) => s + (c.codePointAt(0) ?? 0), 0)}`;

const DIGEST_TOOL = `import { defineTool } from '@bmms/runner-template/runtime';

export default defineTool({
  name: 'secret_digest',
  input: {},
  handler: (_input, ctx) => {
    const value = ctx.secret('TOKEN');
    let sum = 0;
    for (const c of value) sum += c.codePointAt(0) ?? 0;
    return 'len:' + String(value.length) + ' sum:' + String(sum);
  },
});
`;

let stack: TestStack;
const logs: string[] = [];
const responses: string[] = [];

/** An API call whose whole response (body and headers) joins the leak scan. */
async function api<T = Record<string, unknown>>(
  method: string,
  pathname: string,
  body?: unknown,
  key?: string,
): Promise<ApiResponse<T>> {
  const res = await stack.api<T>(method, pathname, body, key === undefined ? {} : { key });
  const headers: string[] = [];
  res.headers.forEach((value, name) => {
    headers.push(`${name}: ${value}`);
  });
  responses.push(JSON.stringify(res.body ?? ''), headers.join('\n'));
  return res;
}

/** A key of a new member of the owner's org with `role`. */
async function keyFor(role: string): Promise<string> {
  const { db } = stack.platform.ctx;
  const org = await db.org.findFirstOrThrow({ where: { slug: 'default' } });
  const user = await db.user.create({
    data: { email: `${role}-${randomBytes(4).toString('hex')}@localhost`, name: role },
  });
  await db.membership.create({ data: { orgId: org.id, userId: user.id, role } });
  const { key, prefix, hash } = generateApiKey();
  await db.apiKey.create({ data: { orgId: org.id, userId: user.id, name: role, prefix, hash, scopes: ['*'] } });
  return key;
}

/** Calls the digest tool on production. */
async function callDigest(): Promise<string> {
  const server = (await api<ServerBody>('GET', '/api/v1/servers/vault')).body;
  const client = await stack.mcpClient(server.url);
  try {
    const result = await client.callTool({ name: 'secret_digest', arguments: {} });
    const text = textOf(result);
    responses.push(JSON.stringify(result));
    return (result as { isError?: boolean }).isError ? `error: ${text}` : text;
  } finally {
    await client.close();
  }
}

/** The instance serving vault now (its succeeded history row). */
async function servingInstance(): Promise<{ revision: string; instance: string | null }> {
  const body = (await stack.api<ServerBody>('GET', '/api/v1/servers/vault')).body;
  const row = body.history.find((h) => h.state === 'succeeded');
  if (!row) throw new Error(`vault serves nothing: ${JSON.stringify(body.history)}`);
  return row;
}

/**
 * Waits until vault rolled without a new commit: a new instance of the same revision serves.
 * (The reconciler records such a roll as `ConfigChanged` while it runs, then as `Serving`.)
 */
async function waitRolled(before: { revision: string; instance: string | null }): Promise<ServerBody> {
  let last: ServerBody | undefined;
  try {
    return await poll(
      async () => {
        last = (await stack.api<ServerBody>('GET', '/api/v1/servers/vault')).body;
        const now = last.history.find((h) => h.state === 'succeeded');
        const ready = last.conditions.some((c) => c.type === 'Ready' && c.status === 'True');
        return ready && now && now.revision === before.revision && now.instance !== before.instance ? last : undefined;
      },
      50_000,
      'vault to roll onto a new instance of the same revision',
    );
  } catch (err) {
    throw new Error(`${String(err)}; last status: ${JSON.stringify(last)}`);
  }
}

beforeAll(async () => {
  stack = await TestStack.start(
    {},
    { masterKey: `v1:${K1}` },
    createLogger({}, (line) => logs.push(line)),
  );
  await stack.createAndDeploy('vault');
  // A maintainer pushes main: declare TOKEN and add a tool that answers a digest of ctx.secret('TOKEN').
  const wd = await stack.clone('vault');
  const manifestPath = path.join(wd.dir, 'mcp.json');
  const manifest = JSON.parse(await readFile(manifestPath, 'utf8'));
  manifest.secrets = ['TOKEN'];
  manifest.tools.push({
    name: 'secret_digest',
    title: 'Secret digest',
    description: 'Returns the length and code point sum of the TOKEN secret.',
    inputSchema: { type: 'object', properties: {} },
  });
  await writeFile(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
  await writeFile(path.join(wd.dir, 'src/tools/secret_digest.ts'), DIGEST_TOOL);
  const serverPath = path.join(wd.dir, 'src/server.ts');
  const source = await readFile(serverPath, 'utf8');
  await writeFile(
    serverPath,
    source
      .replace(
        "import add from './tools/add.ts';",
        "import add from './tools/add.ts';\nimport digest from './tools/secret_digest.ts';",
      )
      .replace('tools: [echo, add]', 'tools: [echo, add, digest]'),
  );
  await wd.git('add', '-A');
  await wd.git('commit', '-qm', 'declare TOKEN and add secret_digest');
  await wd.git('push', '-q', 'origin', 'HEAD:main');
  await stack.waitReady('vault', await wd.git('rev-parse', 'HEAD'), 180_000);
}, 300_000);
afterAll(async () => {
  await stack?.destroy();
});

describe('secrets API', () => {
  it('lists a declared secret as missing until it is set', async () => {
    const r = await api('GET', '/api/v1/servers/vault/secrets');
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ secrets: [], missing: ['TOKEN'] });
    expect(await callDigest()).toMatch(/^error: .*TOKEN/);
  });

  it('refuses bad names, bad values, unknown servers and viewers, with codes', async () => {
    const put = (name: string, body: unknown, key?: string) =>
      api('PUT', `/api/v1/servers/vault/secrets/${name}`, body, key);
    expect((await put('lower_case', { value: 'x' })).body).toMatchObject({ error: { code: 'invalid_secret_name' } });
    const empty = await put('TOKEN', { value: '' });
    expect(empty.status).toBe(400);
    expect(empty.body).toMatchObject({ error: { code: 'invalid_secret_value' } });
    expect((await put('TOKEN', {})).body).toMatchObject({ error: { code: 'invalid_secret_value' } });
    expect((await put('TOKEN', { value: 'x'.repeat(64 * 1024 + 1) })).body).toMatchObject({
      error: { code: 'invalid_secret_value' },
    });
    expect((await api('PUT', '/api/v1/servers/nope/secrets/TOKEN', { value: 'x' })).status).toBe(404);
    const viewer = await keyFor('viewer');
    const denied = await put('TOKEN', { value: FIRST }, viewer);
    expect(denied.status).toBe(403);
    expect(denied.body).toMatchObject({ error: { code: 'forbidden' } });
    expect((await api('GET', '/api/v1/servers/vault/secrets', undefined, viewer)).status).toBe(200);
    expect((await api('DELETE', '/api/v1/servers/vault/secrets/EXTRA', undefined, viewer)).status).toBe(403);
    expect((await api('POST', '/api/v1/admin/rotate-master-key', undefined, await keyFor('developer'))).status).toBe(
      403,
    );
    const missing = await api('DELETE', '/api/v1/servers/vault/secrets/NEVER_SET');
    expect(missing.status).toBe(404);
    expect(missing.body).toMatchObject({ error: { code: 'secret_not_found' } });
  });

  it('sets a secret (201): the server rolls (new instance, same revision) and the instance reads the value', async () => {
    const developer = await keyFor('developer');
    const before = await servingInstance();
    const r = await api('PUT', '/api/v1/servers/vault/secrets/TOKEN', { value: FIRST }, developer);
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ name: 'TOKEN', declared: true, keyVersion: 'v1' });
    expect(Object.keys(r.body).sort()).toEqual(['createdAt', 'declared', 'keyVersion', 'name', 'updatedAt']);
    const rolled = await waitRolled(before);
    expect(rolled.observedRevision).toBe(before.revision);
    expect(await callDigest()).toBe(digest(FIRST));
  });

  it('replaces it (200): the server rolls again and serves the new value', async () => {
    const before = await servingInstance();
    const r = await api('PUT', '/api/v1/servers/vault/secrets/TOKEN', { value: SECOND });
    expect(r.status).toBe(200);
    await waitRolled(before);
    expect(await callDigest()).toBe(digest(SECOND));
    // An undeclared secret is listed but never injected, and setting it rolls nothing.
    expect((await api('PUT', '/api/v1/servers/vault/secrets/EXTRA', { value: FIRST })).status).toBe(201);
    const list = await api<{ secrets: { name: string; declared: boolean }[]; missing: string[] }>(
      'GET',
      '/api/v1/servers/vault/secrets',
    );
    expect(list.body.secrets.map((s) => [s.name, s.declared])).toEqual([
      ['EXTRA', false],
      ['TOKEN', true],
    ]);
    expect(list.body.missing).toEqual([]);
  });

  it('audits set and delete without the value', async () => {
    expect((await api('DELETE', '/api/v1/servers/vault/secrets/EXTRA')).status).toBe(204);
    const events = await stack.platform.ctx.db.auditEvent.findMany({
      where: { action: { startsWith: 'secret.' } },
      orderBy: { createdAt: 'asc' },
    });
    expect(events.map((e) => [e.action, (e.data as { secret: string }).secret])).toEqual([
      ['secret.create', 'TOKEN'],
      ['secret.update', 'TOKEN'],
      ['secret.create', 'EXTRA'],
      ['secret.delete', 'EXTRA'],
    ]);
  });

  it('rotates the master key: old values read under v2,v1, rotate re-encrypts, then v1 can be dropped', async () => {
    await stack.stop();
    await stack.boot({}, { masterKey: `v2:${K2},v1:${K1}` });
    const rotated = await api('POST', '/api/v1/admin/rotate-master-key');
    expect(rotated.status).toBe(200);
    expect(rotated.body).toEqual({ reencrypted: 1, total: 1, keyVersion: 'v2' });
    expect((await api('POST', '/api/v1/admin/rotate-master-key')).body).toMatchObject({ reencrypted: 0 });
    await stack.stop();
    await stack.boot({}, { masterKey: `v2:${K2}` });
    await stack.waitReady('vault', undefined, 90_000);
    expect(await callDigest()).toBe(digest(SECOND));
  });
});

/** Every file below `dir`. */
async function allFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name));
}

describe('the secret values of the whole run', () => {
  it('appear in no log line, database row, data-dir file, git object or API response', async () => {
    const values = [FIRST, SECOND];
    const hits = (text: string) => values.some((v) => text.includes(v));
    await api('GET', '/api/v1/servers');
    await api('GET', '/api/v1/servers/vault');
    await api('GET', '/api/v1/servers/vault/secrets');
    await api('GET', '/api/v1/servers/vault/changes');
    expect(responses.length).toBeGreaterThan(30);
    expect(responses.filter(hits)).toEqual([]);

    expect(logs.length).toBeGreaterThan(0);
    expect(logs.filter(hits)).toEqual([]);

    const { db } = stack.platform.ctx;
    const tables = await db.$queryRawUnsafe<{ tablename: string }[]>(
      'SELECT tablename FROM pg_tables WHERE schemaname = current_schema()',
    );
    expect(tables.map((t) => t.tablename)).toContain('secrets');
    const leaking: string[] = [];
    for (const { tablename } of tables) {
      const rows = await db.$queryRawUnsafe<unknown[]>(`SELECT * FROM "${tablename.replaceAll('"', '""')}"`);
      const text = JSON.stringify(rows, (_k, v: unknown) =>
        typeof v === 'bigint' ? v.toString() : v instanceof Uint8Array ? Buffer.from(v).toString('latin1') : v,
      );
      if (hits(text)) leaking.push(tablename);
    }
    expect(leaking).toEqual([]);
    expect(await db.secret.count()).toBe(1);

    const files = await allFiles(stack.dataDir);
    const leakingFiles: string[] = [];
    for (const file of files) {
      const bytes = await readFile(file);
      if (values.some((v) => bytes.includes(v))) leakingFiles.push(file);
    }
    expect(leakingFiles).toEqual([]);

    const gitdir = path.join(stack.dataDir, 'repos', 'vault.git');
    const { stdout } = await run('git', [`--git-dir=${gitdir}`, 'cat-file', '--batch-all-objects', '--batch'], {
      maxBuffer: 256 * 1024 * 1024,
      encoding: 'latin1',
    });
    expect(stdout).toContain('secret_digest');
    expect(hits(stdout)).toBe(false);
  });
});
