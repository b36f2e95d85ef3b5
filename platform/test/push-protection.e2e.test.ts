import { execFile } from 'node:child_process';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../src/logger.ts';
import { type GitWorkdir, TestStack } from './harness.ts';

const run = promisify(execFile);

// Assembled at run time, so the token is in no source file the checks could confuse with the push.
const TOKEN = `ghp_${'Qw3Er5Ty7Ui9Op1As2Df4Gh6Jk8Lz0Xc3Vb5N'.slice(0, 36)}`;
const MASKED = `ghp_…${TOKEN.slice(-2)}`;

let stack: TestStack;
const logs: string[] = [];
/** Every response body the test read from the API, as text. */
const responses: string[] = [];

beforeAll(async () => {
  stack = await TestStack.start(
    {},
    {},
    createLogger({}, (line) => logs.push(line)),
  );
  await stack.createAndDeploy('leaky');
}, 180_000);
afterAll(async () => {
  await stack?.destroy();
});

/** A push that must fail: returns git's stderr (what the user sees). */
async function refusedPush(wd: GitWorkdir, ...args: string[]): Promise<string> {
  try {
    await wd.git('push', ...args);
  } catch (err) {
    return String((err as { stderr?: unknown }).stderr ?? '');
  }
  throw new Error(`git push ${args.join(' ')} succeeded but must be refused`);
}

async function commitFile(wd: GitWorkdir, file: string, text: string, message: string): Promise<void> {
  await writeFile(path.join(wd.dir, file), text);
  await wd.git('add', '-A');
  await wd.git('commit', '-q', '-m', message);
}

/** Every file below `dir`. */
async function allFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name));
}

async function api(pathname: string): Promise<unknown> {
  const res = await stack.api('GET', pathname);
  const headers: string[] = [];
  res.headers.forEach((value, name) => {
    headers.push(`${name}: ${value}`);
  });
  responses.push(JSON.stringify(res.body), headers.join('\n'));
  expect(res.status).toBe(200);
  return res.body;
}

describe('push protection (acceptance 4)', () => {
  it('refuses a branch containing a GitHub token, naming it masked', async () => {
    const wd = await stack.clone('leaky');
    await wd.git('checkout', '-q', '-b', 'leak');
    await commitFile(wd, 'src/config.ts', `export const githubToken = '${TOKEN}';\n`, 'add config');
    const stderr = await refusedPush(wd, 'origin', 'leak');
    expect(stderr).toContain(`remote: bmms:   src/config.ts:1: GitHub token ${MASKED} [secret-github-token]`);
    expect(stderr).toContain("ctx.secret('NAME')");
    expect(stderr).not.toContain(TOKEN);

    // Removing it in a later commit does not help: the first commit is still in the push.
    await commitFile(wd, 'src/config.ts', "export const source = 'ctx.secret';\n", 'remove token');
    expect(await refusedPush(wd, 'origin', 'leak')).toContain(MASKED);
    // Nor does a maintainer's direct push to main.
    expect(await refusedPush(wd, 'origin', 'leak:main')).toContain('[secret-github-token]');
    expect(await stack.platform.ctx.git.resolveRef('leaky', 'leak')).toBeNull();
  });

  it('still accepts a clean branch', async () => {
    const wd = await stack.clone('leaky');
    await wd.git('checkout', '-q', '-b', 'clean');
    await commitFile(wd, 'NOTES.md', '# notes\n\nThe API token is read with ctx.secret.\n', 'notes');
    await wd.git('push', '-q', 'origin', 'clean');
    expect(await stack.platform.ctx.git.resolveRef('leaky', 'clean')).toBe(await wd.git('rev-parse', 'HEAD'));
  });

  it('leaves the token in no log line, database row, stored file or git object, and no API response', async () => {
    await stack.platform.ctx.checks.idle();

    // API responses: everything a user can read about the server, its changes and their checks.
    await api('/api/v1/servers');
    await api('/api/v1/servers/leaky');
    const changes = (await api('/api/v1/servers/leaky/changes')) as
      | { number: number }[]
      | { changes: { number: number }[] };
    const list = Array.isArray(changes) ? changes : changes.changes;
    expect(list.length).toBeGreaterThan(0);
    for (const change of list) {
      const detail = (await api(`/api/v1/servers/leaky/changes/${change.number}`)) as { checks: { name: string }[] };
      for (const check of detail.checks)
        await api(`/api/v1/servers/leaky/changes/${change.number}/checks/${check.name}`);
    }
    expect(responses.filter((r) => r.includes(TOKEN))).toEqual([]);

    // Logs: the platform logged (requests, checks, deploys), never the token.
    expect(logs.length).toBeGreaterThan(0);
    expect(logs.filter((l) => l.includes(TOKEN))).toEqual([]);

    // Database: every row of every table.
    const { db } = stack.platform.ctx;
    const tables = await db.$queryRawUnsafe<{ tablename: string }[]>(
      'SELECT tablename FROM pg_tables WHERE schemaname = current_schema()',
    );
    expect(tables.map((t) => t.tablename)).toContain('servers');
    const leakingTables: string[] = [];
    let rowCount = 0;
    for (const { tablename } of tables) {
      const rows = await db.$queryRawUnsafe<unknown[]>(`SELECT * FROM "${tablename.replaceAll('"', '""')}"`);
      rowCount += rows.length;
      const text = JSON.stringify(rows, (_k, v: unknown) =>
        typeof v === 'bigint' ? v.toString() : v instanceof Uint8Array ? Buffer.from(v).toString('latin1') : v,
      );
      if (text.includes(TOKEN)) leakingTables.push(tablename);
    }
    expect(rowCount).toBeGreaterThan(10);
    expect(leakingTables).toEqual([]);

    // Files under the data dir, byte for byte (the database files too when it is embedded).
    const files = await allFiles(stack.dataDir);
    const leakingFiles: string[] = [];
    for (const file of files) if ((await readFile(file)).includes(TOKEN)) leakingFiles.push(file);
    expect(leakingFiles).toEqual([]);

    // Git objects are compressed on disk: ask git for every object it holds, and for leftover quarantines.
    const gitdir = path.join(stack.dataDir, 'repos', 'leaky.git');
    const { stdout } = await run('git', [`--git-dir=${gitdir}`, 'cat-file', '--batch-all-objects', '--batch'], {
      maxBuffer: 256 * 1024 * 1024,
      encoding: 'latin1',
    });
    expect(stdout).toContain('# notes'); // the clean push is there
    expect(stdout.includes(TOKEN)).toBe(false);
    expect(files.filter((f) => /objects\/(?:incoming-|tmp_objdir-)/.test(f))).toEqual([]);
  });
});
