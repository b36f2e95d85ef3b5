import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unreadableKeyVersions } from '../src/backup/backup.ts';
import { verifyBackup } from '../src/backup/manifest.ts';
import { parseMasterKey } from '../src/secrets/keyring.ts';
import { addMultiplyTool, type ChangeBody, type ServerBody, TestStack, textOf } from './harness.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SECRET = `backup-${Math.random().toString(36).slice(2)}`;

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `npm run backup|restore -- …`'s script (the CLI) against a data dir and database. */
function cli(args: string[], target: { dataDir: string; url?: string | undefined }, env: Record<string, string> = {}) {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, BMMS_DATA_DIR: target.dataDir, ...env };
  delete childEnv.DATABASE_URL;
  if (!env.BMMS_MASTER_KEY) delete childEnv.BMMS_MASTER_KEY;
  if (target.url) childEnv.DATABASE_URL = target.url;
  return new Promise<CliResult>((resolve) => {
    execFile(
      process.execPath,
      [path.join(ROOT, 'platform/src/backup/cli.ts'), ...args],
      { cwd: ROOT, env: childEnv },
      (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

let stack: TestStack;
let scratch: string;
let backupDir: string;
let keylessDir: string;
let before: {
  server: ServerBody;
  tools: string[];
  changes: ChangeBody[];
  audit: { id: string; action: string }[];
  serverId: string;
  branches: string[];
};

beforeAll(async () => {
  scratch = await mkdtemp(path.join(os.tmpdir(), 'bmms-backup-test-'));
  stack = await TestStack.start();
  const server = await stack.createAndDeploy('alpha');
  const client = await stack.mcpClient(`${stack.url}/s/alpha/mcp`);
  const tools = (await client.listTools()).tools.map((t) => t.name).sort();
  await client.close();
  // An open change with its own branch: restored with its commits. Backed up while its checks run.
  const wd = await stack.clone('alpha');
  await wd.git('checkout', '-q', '-b', 'multiply');
  await addMultiplyTool(wd);
  await wd.commitAndPush('add multiply', 'multiply');
  await stack.openChange('alpha', 'multiply', 'Add multiply');
  // Setting a secret rolls the server: the backup below is taken while that deploy is under way.
  expect((await stack.api('PUT', '/api/v1/servers/alpha/secrets/TOKEN', { value: SECRET })).status).toBe(201);

  const changes = (await stack.api<{ changes: ChangeBody[] }>('GET', '/api/v1/servers/alpha/changes')).body.changes;
  const { db } = stack.platform.ctx;
  const audit = await db.auditEvent.findMany({ select: { id: true, action: true }, orderBy: { id: 'asc' } });
  const serverId = (await db.server.findUniqueOrThrow({ where: { name: 'alpha' } })).id;
  const branches = Object.keys(await stack.platform.ctx.git.listBranches('alpha')).sort();
  before = { server, tools, changes, audit, serverId, branches };

  // Taken from the running platform, as the daily schedule does.
  backupDir = await stack.platform.backup(path.join(scratch, 'full'), { includeKeyFile: true });
  await stack.waitReady('alpha', server.observedRevision ?? undefined);
  keylessDir = await stack.platform.backup(path.join(scratch, 'keyless'));
}, 120_000);

afterAll(async () => {
  await stack?.destroy();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

describe('backup and restore', () => {
  it('writes a manifest with the schema version, checksums of every file, and the key file only when asked', async () => {
    const manifest = JSON.parse(await readFile(path.join(backupDir, 'manifest.json'), 'utf8'));
    expect(manifest.format).toBe('bmms-backup');
    expect(manifest.database.migrations.length).toBeGreaterThan(0);
    expect(manifest.repos).toEqual([expect.objectContaining({ name: 'alpha', head: 'refs/heads/main' })]);
    expect(manifest.files.map((f: { path: string }) => f.path)).toEqual(
      expect.arrayContaining(['database/servers.jsonl', 'database/secrets.jsonl', 'repos/alpha.bundle', 'master-key']),
    );
    expect(manifest.files.every((f: { sha256: string }) => /^[0-9a-f]{64}$/.test(f.sha256))).toBe(true);
    expect(await readdir(keylessDir)).not.toContain('master-key');
    // The secret's value is in no backup file in the clear.
    for (const entry of manifest.files as { path: string }[]) {
      expect((await readFile(path.join(backupDir, entry.path))).includes(SECRET)).toBe(false);
    }
  });

  it('backs up a running platform from the command line with Postgres, and refuses to with the embedded database', async () => {
    const running = await cli(['backup', path.join(scratch, 'cli-running')], {
      dataDir: stack.dataDir,
      url: stack.db.url,
    });
    if (stack.db.url) {
      // Postgres: the database is shared, so a running platform is backed up directly.
      expect(running.stderr).toBe('');
      expect(running.code).toBe(0);
    } else {
      expect(running.code).toBe(1);
      expect(running.stderr).toContain('a platform is running');
      expect(running.stderr).toContain('BMMS_BACKUP_DIR');
    }
  });

  it('restores into a new data dir and database: same server, revision, tools, changes, history, secrets and audit', async () => {
    await stack.stop();
    const restored = await TestStack.empty();
    try {
      const result = await cli(['restore', backupDir], { dataDir: restored.dataDir, url: restored.db.url });
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      expect(result.stdout).toContain('restored 1 servers and 1 repositories');

      restored.key = stack.key;
      const schedDir = path.join(scratch, 'scheduled');
      await restored.boot({ backups: { dir: schedDir, keep: 2, intervalMs: 3_600_000 } });
      const server = await restored.waitReady('alpha', before.server.observedRevision ?? undefined);
      expect(server.observedRevision).toBe(before.server.observedRevision);
      const beforeHistory = before.server.history.map((h) => h.revision);
      expect(server.history.map((h) => h.revision)).toEqual(expect.arrayContaining(beforeHistory));

      const client = await restored.mcpClient(`${restored.url}/s/alpha/mcp`);
      expect((await client.listTools()).tools.map((t) => t.name).sort()).toEqual(before.tools);
      expect(textOf(await client.callTool({ name: 'add', arguments: { a: 2, b: 3 } }))).toBe('5');
      await client.close();

      const changes = (await restored.api<{ changes: ChangeBody[] }>('GET', '/api/v1/servers/alpha/changes')).body
        .changes;
      expect(changes.map((c) => [c.number, c.state, c.head])).toEqual(
        before.changes.map((c) => [c.number, c.state, c.head]),
      );
      // The open change's branch came back with its commit: the change can still be merged.
      const branches = await restored.platform.ctx.git.listBranches('alpha');
      expect(Object.keys(branches).sort()).toEqual(before.branches);
      expect(before.branches).toContain('multiply');

      expect(await restored.platform.ctx.secrets.values(before.serverId)).toEqual({ TOKEN: SECRET });
      const audit = await restored.platform.ctx.db.auditEvent.findMany({ select: { id: true, action: true } });
      expect(audit).toEqual(expect.arrayContaining(before.audit));
      expect(before.audit.map((a) => a.action)).toContain('secret.create');

      // The restored platform takes scheduled backups itself and keeps the newest N.
      for (let i = 0; i < 3; i++) await restored.platform.backup();
      const kept = await readdir(schedDir);
      expect(kept).toHaveLength(2);
      expect(kept.every((d) => d.startsWith('bmms-backup-') && !d.endsWith('.partial'))).toBe(true);
    } finally {
      await restored.destroy();
    }
  }, 120_000);

  it('refuses a backup with a tampered file, naming the file', async () => {
    const copy = path.join(scratch, 'tampered');
    await cp(backupDir, copy, { recursive: true });
    const bundle = path.join(copy, 'repos/alpha.bundle');
    const bytes = await readFile(bundle);
    bytes[bytes.length - 30] = (bytes[bytes.length - 30] ?? 0) ^ 0xff;
    await writeFile(bundle, bytes);
    const target = path.join(scratch, 'tampered-data');
    const result = await cli(['restore', copy], { dataDir: target });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('repos/alpha.bundle does not match its checksum');
    expect(await readdir(target).catch(() => [])).toEqual([]);
  });

  it('refuses a backup with a missing file, naming the file', async () => {
    const copy = path.join(scratch, 'missing');
    await cp(backupDir, copy, { recursive: true });
    await rm(path.join(copy, 'database/secrets.jsonl'));
    const result = await cli(['restore', copy], { dataDir: path.join(scratch, 'missing-data') });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('database/secrets.jsonl is missing');

    await rm(path.join(copy, 'manifest.json'));
    const noManifest = await cli(['restore', copy], { dataDir: path.join(scratch, 'missing-data') });
    expect(noManifest.code).toBe(1);
    expect(noManifest.stderr).toContain('manifest.json is missing');
  });

  it('refuses to restore into a non-empty data dir or database', async () => {
    const full = path.join(scratch, 'full-data');
    await mkdir(full);
    await writeFile(path.join(full, 'something'), 'x');
    const result = await cli(['restore', backupDir], { dataDir: full });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`the data dir ${full} is not empty`);
    if (stack.db.url) {
      // The original platform's database still holds its data.
      const intoUsed = await cli(['restore', backupDir], { dataDir: path.join(scratch, 'fresh'), url: stack.db.url });
      expect(intoUsed.code).toBe(1);
      expect(intoUsed.stderr).toMatch(/refusing to restore: the database \S+ on \S+ is not empty/);
    }
  });

  it('says clearly when restored secrets cannot be decrypted, and not when the master key is given', async () => {
    const fresh = await TestStack.empty();
    try {
      const result = await cli(['restore', keylessDir], { dataDir: fresh.dataDir, url: fresh.db.url });
      expect(result.code).toBe(0);
      expect(result.stderr).toContain('need master key v1');
      expect(result.stderr).toContain('BMMS_MASTER_KEY');
    } finally {
      await fresh.destroy();
    }
    const manifest = await verifyBackup(keylessDir);
    const key = await readFile(path.join(stack.dataDir, 'master-key'), 'utf8');
    expect(unreadableKeyVersions(manifest, parseMasterKey(key))).toEqual([]);
    expect(unreadableKeyVersions(manifest, parseMasterKey(randomBytes(32).toString('base64')))).toEqual(['v1']);
    expect(unreadableKeyVersions(manifest, undefined)).toEqual(['v1']);
  }, 60_000);

  it('backs up a stopped platform from the command line', async () => {
    const stopped = await cli(['backup', path.join(scratch, 'cli-stopped')], {
      dataDir: stack.dataDir,
      url: stack.db.url,
    });
    expect(stopped.stderr).toBe('');
    expect(stopped.code).toBe(0);
    expect(stopped.stdout).toContain('1 repositories');
    const manifest = JSON.parse(await readFile(path.join(scratch, 'cli-stopped', 'manifest.json'), 'utf8'));
    expect(manifest.keys.keyFileIncluded).toBe(false);
    expect(manifest.repos.map((r: { name: string }) => r.name)).toEqual(['alpha']);

    const again = await cli(['backup', path.join(scratch, 'cli-stopped')], {
      dataDir: stack.dataDir,
      url: stack.db.url,
    });
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('is not empty');
  }, 60_000);
});
