import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateApiKey } from '../src/accounts/keys.ts';
import { FakeAnthropic } from './fake-anthropic.ts';
import { type ChangeBody, TestStack } from './harness.ts';

// Every `bmms` command runs as a child process (the bin npm links into node_modules/.bin, as `npx bmms` runs it)
// against a real platform, with its configuration in the environment or in a stored login.
const ROOT = path.resolve(import.meta.dirname, '../..');
const BIN_DIR = path.join(ROOT, 'node_modules', '.bin');
const BMMS = path.join(BIN_DIR, 'bmms');

let stack: TestStack;
let fake: FakeAnthropic;
let home: string;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `bmms args…` with BMMS_URL/BMMS_API_KEY (unless `env` overrides them) and `input` on stdin. */
function bmms(args: string[], options: { env?: Record<string, string | undefined>; input?: string } = {}) {
  const env: NodeJS.ProcessEnv = {
    PATH: `${BIN_DIR}:${process.env.PATH ?? ''}`,
    HOME: home,
    XDG_CONFIG_HOME: path.join(home, 'config'),
    BMMS_URL: stack.url,
    BMMS_API_KEY: stack.key,
  };
  for (const [k, v] of Object.entries(options.env ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return new Promise<Run>((resolve, reject) => {
    const child = spawn(BMMS, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(options.input ?? '');
  });
}

/** Runs `bmms args… --json`, expects exit 0 and returns the parsed stdout. */
async function bmmsJson<T = Record<string, unknown>>(args: string[], input?: string): Promise<T> {
  const r = await bmms([...args, '--json'], input === undefined ? {} : { input });
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as T;
}

/** The `{error}` a failing `--json` command prints on stderr. */
const errorOf = (r: Run) => (JSON.parse(r.stderr) as { error: { code: string; message: string } }).error;

const SPEC = {
  name: 'units',
  description: 'Converts temperatures.',
  tools: [
    {
      name: 'convert_temperature',
      description: 'Converts degrees Celsius to degrees Fahrenheit.',
      inputSchema: {
        type: 'object',
        properties: { celsius: { type: 'number', description: 'Degrees Celsius.' } },
        required: ['celsius'],
      },
      annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    },
  ],
  secrets: [],
  egress: [],
};
const HANDLER = `import { defineTool } from '@bmms/runner-template/runtime';
import { z } from 'zod';

export default defineTool({
  name: 'convert_temperature',
  input: { celsius: z.number() },
  handler: ({ celsius }) => String((celsius * 9) / 5 + 32),
});
`;

beforeAll(async () => {
  home = await mkdtemp(path.join(os.tmpdir(), 'bmms-cli-'));
  fake = await new FakeAnthropic().start();
  stack = await TestStack.start({
    generation: fake.generationConfig({ maxRetries: 1, maxRepairs: 1 }),
  });
}, 120_000);

afterAll(async () => {
  await stack?.destroy();
  await fake?.close();
  if (home) await rm(home, { recursive: true, force: true });
});

describe('usage and configuration', () => {
  it('answers usage errors with exit 2 and an unreachable platform with 1, saying what is wrong', async () => {
    const [none, help, missing, unknownOption, unknown, metrics, unconfigured, unreachable] = await Promise.all([
      bmms([]),
      bmms(['--help']),
      bmms(['servers', 'show']),
      bmms(['servers', 'list', '--bogus']),
      bmms(['frobnicate']),
      bmms(['metrics']),
      bmms(['servers', 'list'], { env: { BMMS_URL: undefined, BMMS_API_KEY: undefined } }),
      bmms(['servers', 'list'], { env: { BMMS_URL: 'http://127.0.0.1:1' } }),
    ]);
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toContain('bmms: cannot reach http://127.0.0.1:1/api/v1');
    expect(none.code).toBe(2);
    expect(none.stdout).toContain('bmms servers list');
    expect(help.code).toBe(0);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('usage: bmms servers show <name>');
    expect(unknownOption.code).toBe(2);
    expect(unknownOption.stderr).toContain('--bogus');
    expect(unknown.code).toBe(2);
    expect(metrics.code).toBe(2);
    expect(metrics.stderr).toContain('usage: bmms metrics');
    expect(unconfigured.code).toBe(2);
    expect(unconfigured.stderr).toContain('bmms login');
  });

  it('exits 5 on a refused key, with the API error as JSON under --json', async () => {
    const [r, human] = await Promise.all([
      bmms(['servers', 'list', '--json'], { env: { BMMS_API_KEY: 'bmms_not_a_key' } }),
      bmms(['servers', 'list'], { env: { BMMS_API_KEY: 'bmms_not_a_key' } }),
    ]);
    expect(r.code).toBe(5);
    expect(r.stdout).toBe('');
    expect(errorOf(r).code).toBe('unauthorized');
    expect(human.code).toBe(5);
    expect(human.stderr).toMatch(/^bmms: .*\(unauthorized\)\n$/);
  });

  it('login checks the key, stores URL and key with mode 0600, and later commands use them', async () => {
    const configFile = path.join(home, 'config', 'bmms', 'config.json');
    const noEnv = { BMMS_URL: undefined, BMMS_API_KEY: undefined };
    const refused = await bmms(['login', '--url', stack.url], { env: noEnv, input: 'bmms_wrong\n' });
    expect(refused.code).toBe(5);
    await expect(stat(configFile)).rejects.toThrow();

    const ok = await bmms(['login', '--url', `${stack.url}/`], { env: noEnv, input: `${stack.key}\n` });
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/^Logged in to http:\/\/127\.0\.0\.1:\d+ as .+ \(default, owner\)\.\n$/);
    expect((await stat(configFile)).mode & 0o777).toBe(0o600);
    expect(JSON.parse(await readFile(configFile, 'utf8'))).toEqual({ url: stack.url, key: stack.key });
    expect(ok.stdout + ok.stderr).not.toContain(stack.key);

    const listed = await bmms(['servers', 'list'], { env: noEnv });
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toContain('No servers yet');

    const me = await bmmsJson<{ role: string; user: { email: string } }>(['login', '--url', stack.url]);
    expect(me.role).toBe('owner');
  });
});

describe('servers, changes, revert', () => {
  it('creates, lists and shows servers; a taken name exits 4, a bad name 2, an unknown server 3', async () => {
    const [created, other, badName] = await Promise.all([
      bmms(['servers', 'create', 'demo']),
      bmmsJson<{ server: { name: string }; change: ChangeBody }>([
        'servers',
        'create',
        'other',
        '--template',
        'echo',
        '--description',
        'A second one',
      ]),
      bmms(['servers', 'create', 'Not_A_Name']),
    ]);
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toContain(`Created demo: ${stack.url}/s/demo/mcp`);
    expect(created.stdout).toContain('bmms changes merge demo 1');
    expect(other.server.name).toBe('other');
    expect(other.change.number).toBe(1);
    expect(badName.code).toBe(2);
    expect(badName.stderr).toContain('(invalid_name)');

    const [taken, list, listJson, show, showHuman, missing] = await Promise.all([
      bmms(['servers', 'create', 'demo', '--json']),
      bmms(['servers', 'list']),
      bmmsJson<{ servers: { name: string; description: string }[] }>(['servers', 'list']),
      bmmsJson<{ name: string; gitUrl: string; history: unknown[] }>(['servers', 'show', 'demo']),
      bmms(['servers', 'show', 'demo']),
      bmms(['servers', 'show', 'nope', '--json']),
    ]);
    expect(taken.code).toBe(4);
    expect(errorOf(taken).code).toBe('name_taken');
    expect(list.stdout.split('\n')[0]).toMatch(/^NAME\s+STATE\s+REVISION\s+URL$/);
    // Before change #1 merges nothing serves; the state depends on whether main was reconciled yet.
    expect(list.stdout).toMatch(/^demo\s+(not deployed|pending|progressing|stalled|degraded)\s+-\s+http/m);
    expect(listJson.servers.map((s) => s.name).sort()).toEqual(['demo', 'other']);
    expect(listJson.servers.find((s) => s.name === 'other')?.description).toBe('A second one');
    expect(show).toMatchObject({ name: 'demo', gitUrl: `${stack.url}/git/demo.git` });
    expect(showHuman.stdout).toContain(`git:       ${stack.url}/git/demo.git`);
    expect(missing.code).toBe(3);
    expect(errorOf(missing).code).toBe('not_found');
  });

  it('lists, shows, merges and closes changes; merging twice exits 4', async () => {
    await stack.waitChecks('demo', 1);
    const [list, listJson, weird, show, missing, closed] = await Promise.all([
      bmms(['changes', 'list', 'demo']),
      bmmsJson<{ changes: ChangeBody[] }>(['changes', 'list', 'demo', '--state', 'open']),
      bmms(['changes', 'list', 'demo', '--state', 'weird']),
      bmms(['changes', 'show', 'demo', '1']),
      bmms(['changes', 'show', 'demo', '9']),
      bmms(['changes', 'close', 'other', '1']),
    ]);
    expect(list.stdout).toMatch(/^1\s+open\s+success\s+bmms\/init\s+Create demo from the echo template$/m);
    expect(listJson.changes.map((c) => c.number)).toEqual([1]);
    expect(weird.code).toBe(2);
    expect(show.stdout).toContain('#1 Create demo from the echo template');
    expect(show.stdout).toMatch(/^ {2}typecheck\s+success/m);
    expect(missing.code).toBe(3);
    expect(closed.code, closed.stderr).toBe(0);
    expect(closed.stdout).toBe('Closed #1.\n');

    const merged = await bmmsJson<{ sha: string; change: ChangeBody }>(['changes', 'merge', 'demo', '1']);
    expect(merged.change.state).toBe('merged');
    expect(merged.sha).toMatch(/^[0-9a-f]{40}$/);
    const again = await bmms(['changes', 'merge', 'demo', '1', '--json']);
    expect(again.code).toBe(4);
    expect(errorOf(again).code).toBe('change_not_open');

    expect((await bmms(['changes', 'close', 'other', '1'])).code).toBe(4);
  });

  it('reverts the head of main', async () => {
    const server = await bmmsJson<{ desiredRevision: string }>(['servers', 'show', 'demo']);
    const r = await bmmsJson<{ sha: string; reverted: string }>(['revert', 'demo']);
    expect(r.reverted).toBe(server.desiredRevision);
    expect(r.sha).not.toBe(r.reverted);
    const human = await bmms(['revert', 'demo', r.sha]);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toMatch(/^Reverted [0-9a-f]{7}: main is now [0-9a-f]{7}; deploying\.\n$/);
    expect((await bmms(['revert', 'nope'])).code).toBe(3);
  });
});

describe('secrets and keys', () => {
  it('sets secrets from stdin (or --value, with a warning), lists and deletes them; never prints a value', async () => {
    const value = `v-${Date.now()}-secret`;
    const [set, argv, badName] = await Promise.all([
      bmms(['secrets', 'set', 'demo', 'API_TOKEN'], { input: `${value}\n` }),
      bmms(['secrets', 'set', 'demo', 'OTHER', '--value', 'x1', '--json']),
      bmms(['secrets', 'set', 'demo', 'bad name'], { input: 'x' }),
    ]);
    expect(set.code, set.stderr).toBe(0);
    expect(set.stdout).toBe('Set API_TOKEN on demo (not declared in mcp.json: unused).\n');
    expect(badName.code).toBe(2);
    expect(argv.code).toBe(0);
    expect(argv.stderr).toContain('warning: a value given with --value is visible');
    expect(JSON.parse(argv.stdout)).toMatchObject({ name: 'OTHER', declared: false });

    const [list, human] = await Promise.all([
      bmmsJson<{ secrets: { name: string }[]; missing: string[] }>(['secrets', 'list', 'demo']),
      bmms(['secrets', 'list', 'demo']),
    ]);
    expect(list.secrets.map((s) => s.name).sort()).toEqual(['API_TOKEN', 'OTHER']);
    expect(human.stdout).toMatch(/^API_TOKEN\s+no\s+\d{4}-/m);
    expect(human.stdout + set.stdout + set.stderr).not.toContain(value);

    expect((await bmms(['secrets', 'delete', 'demo', 'OTHER'])).stdout).toBe('Deleted OTHER from demo.\n');
    const gone = await bmms(['secrets', 'delete', 'demo', 'OTHER', '--json']);
    expect(gone.code).toBe(3);
    expect(errorOf(gone).code).toBe('secret_not_found');
  });

  it('creates, lists and revokes keys; a revoked key exits 5, revoking twice 3', async () => {
    const [created, scoped] = await Promise.all([
      bmms(['keys', 'create', 'ci']),
      bmmsJson<{ scopes: string[]; key: string }>(['keys', 'create', 'git-only', '--scope', 'git']),
    ]);
    expect(created.code, created.stderr).toBe(0);
    const key = created.stdout.trim();
    expect(key).toMatch(/^bmms_/);
    expect(scoped.scopes).toEqual(['git']);

    const [viaKey, viaGitKey, list, human] = await Promise.all([
      bmms(['servers', 'list', '--json'], { env: { BMMS_API_KEY: key } }),
      bmms(['servers', 'list'], { env: { BMMS_API_KEY: scoped.key } }),
      bmmsJson<{ keys: { id: string; name: string }[] }>(['keys', 'list']),
      bmms(['keys', 'list']),
    ]);
    expect(viaKey.code).toBe(0);
    expect(viaGitKey.code).toBe(5);
    const ci = list.keys.find((k) => k.name === 'ci');
    expect(ci).toBeDefined();
    expect(human.stdout).toMatch(new RegExp(`^${ci?.id}\\s+ci\\s+`, 'm'));

    expect(await bmmsJson(['keys', 'revoke', ci?.id as string])).toEqual({ revoked: ci?.id });
    expect((await bmms(['servers', 'list'], { env: { BMMS_API_KEY: key } })).code).toBe(5);
    expect((await bmms(['keys', 'revoke', ci?.id as string])).code).toBe(3);
  });
});

describe('audit', () => {
  it("shows the audit log, filtered by action and time, as a table or the API's JSON; bad --since exits 2", async () => {
    const made = await bmmsJson<{ id: string }>(['keys', 'create', 'audited']);
    const page = await bmmsJson<{ events: { action: string; target: { id: string | null } }[]; next: string | null }>([
      'audit',
      '--action',
      'apikey.',
      '--since',
      '1h',
    ]);
    expect(page.events.length).toBeGreaterThan(0);
    expect(page.events.every((e) => e.action.startsWith('apikey.'))).toBe(true);
    expect(page.events[0]).toMatchObject({ action: 'apikey.create', target: { id: made.id } });
    const human = await bmms(['audit', '--action', 'apikey.create', '--limit', '1']);
    expect(human.code, human.stderr).toBe(0);
    const [header, row] = human.stdout.split('\n');
    expect(header).toMatch(/^TIME\s+ACTION\s+ACTOR\s+TARGET\s+IP$/);
    expect(row).toMatch(new RegExp(`^\\S+\\s+apikey\\.create\\s+\\S+@\\S+\\s+api_key ${made.id}\\s+\\S+$`));
    expect((await bmmsJson<{ events: unknown[] }>(['audit', '--since', '2999-01-01T00:00:00Z'])).events).toEqual([]);
    expect((await bmms(['audit', '--since', 'last tuesday'])).code).toBe(2);
  });
});

describe('generate', () => {
  it('follows a prompt live, stops for confirmation without a terminal, then --confirm finishes it', async () => {
    fake.script({ tool: 'propose_server', input: SPEC });
    const planned = await bmms(['generate', 'A server that converts Celsius to Fahrenheit.']);
    expect(planned.code, planned.stderr).toBe(0);
    const id = /^generation (\S+)$/m.exec(planned.stderr)?.[1] as string;
    expect(planned.stderr).toContain('planning with scripted-model');
    expect(planned.stderr).toContain('spec ready: units with tools convert_temperature');
    expect(planned.stderr).toContain(`bmms generate --confirm ${id}`);
    expect(planned.stdout).toBe(`Generation ${id} awaits confirmation.\n`);

    fake.script({ tool: 'write_handlers', input: { tools: [{ name: 'convert_temperature', source: HANDLER }] } });
    const done = await bmms(['generate', '--confirm', id, '--name', 'celsius', '--json']);
    expect(done.code, done.stderr).toBe(0);
    const g = JSON.parse(done.stdout) as { status: string; server: string; change: number; events: { type: string }[] };
    expect(g).toMatchObject({ status: 'completed', server: 'celsius', change: 1 });
    expect(g.events.map((e) => e.type)).toContain('checks');
    for (const line of ['confirmed: generating celsius', 'change #1 opened on celsius', 'checks finished: success']) {
      expect(done.stderr, done.stderr).toContain(line);
    }
  }, 60_000);

  it('exits 1 with the reason when the generation fails', async () => {
    fake.script(...[1, 2].map(() => ({ tool: 'propose_server', input: { garbage: true } })));
    const r = await bmms(['generate', '--yes', 'Something the model cannot do']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/failed: .*\(model_output_invalid\)/);
    expect((await bmms(['generate'], { input: '' })).code).toBe(2);
  });

  it('imports an OpenAPI file as a new server', async () => {
    const file = path.join(home, 'petstore.yaml');
    await writeFile(
      file,
      [
        'openapi: 3.0.0',
        'info: {title: Pets, version: "1"}',
        'servers: [{url: "https://pets.example.com"}]',
        'paths:',
        '  /pets:',
        '    get:',
        '      operationId: listPets',
        '      summary: List pets',
        '      responses: {"200": {description: ok}}',
      ].join('\n'),
    );
    const r = await bmms(['generate', '--openapi', file, '--name', 'pets']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`Created pets from ${file}: ${stack.url}/s/pets/mcp`);
    expect((await bmms(['generate', '--openapi', file])).code).toBe(2);
    const taken = await bmms(['generate', '--openapi', file, '--name', 'pets', '--json']);
    expect(taken.code).toBe(4);
  });
});

describe('metrics', () => {
  it("shows a server's calls, errors and latency; --json is the API's answer; a bad period exits 2", async () => {
    await stack.waitReady('demo', undefined, 120_000);
    const client = await stack.mcpClient(`${stack.url}/s/demo/mcp`);
    for (let b = 0; b < 3; b++) await client.callTool({ name: 'add', arguments: { a: 1, b } });
    await client.callTool({ name: 'no_such_tool', arguments: {} }).catch(() => undefined);
    await client.close();

    const m = await bmmsJson<{ period: string; totals: { calls: number; errors: number }; tools: { tool: string }[] }>([
      'metrics',
      'demo',
      '--period',
      'hour',
    ]);
    expect(m.period).toBe('hour');
    expect(m.totals).toMatchObject({ calls: 4, errors: 1 });
    expect(m.tools.map((t) => t.tool).sort()).toEqual(['add', 'no_such_tool']);
    const add = await bmmsJson<{ totals: { calls: number; errors: number } }>(['metrics', 'demo', '--tool', 'add']);
    expect(add.totals).toMatchObject({ calls: 3, errors: 0 });

    const human = await bmms(['metrics', 'demo']);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toContain('demo: last day');
    expect(human.stdout).toMatch(/calls 4 {2}errors 1 \(25\.0 %\) {2}p50 [0-9.]+ ms/);
    expect(human.stdout).toMatch(/^add +3 +0 +[0-9.]+ ms/m);

    const bad = await bmms(['metrics', 'demo', '--period', 'year']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--period must be one of hour, day, week, month');
    expect((await bmms(['metrics', 'nope'])).code).toBe(3);
    expect((await bmms(['metrics'])).code).toBe(2);
  }, 180_000);
});

describe('delete', () => {
  it('refuses to delete without --yes when not on a terminal, then deletes', async () => {
    const refused = await bmms(['servers', 'delete', 'other']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('pass --yes');
    expect(await bmmsJson(['servers', 'delete', 'other', '--yes'])).toEqual({ deleted: 'other' });
    expect((await bmms(['servers', 'show', 'other'])).code).toBe(3);
    expect((await bmms(['servers', 'delete', 'other', '-y'])).code).toBe(3);
  });

  it('deletes an organization and an account only with --confirm', async () => {
    const { db } = stack.platform.ctx;
    const org = await db.org.create({ data: { slug: 'doomed', name: 'Doomed' } });
    const user = await db.user.create({ data: { email: 'doomed@example.com', name: 'Doomed' } });
    await db.membership.create({ data: { orgId: org.id, userId: user.id, role: 'owner' } });
    const { key, prefix, hash } = generateApiKey();
    await db.apiKey.create({ data: { orgId: org.id, userId: user.id, name: 'cli', prefix, hash, scopes: ['*'] } });
    const asOwner = { env: { BMMS_API_KEY: key } };

    expect((await bmms(['org', 'delete'], asOwner)).code).toBe(2);
    const wrong = await bmms(['org', 'delete', '--confirm', 'nope', '--json'], asOwner);
    expect([wrong.code, errorOf(wrong).code]).toEqual([2, 'invalid_request']);
    const operator = await bmms(['org', 'delete', '--confirm', 'default', '--json']);
    expect([operator.code, errorOf(operator).code]).toEqual([4, 'operator_org']);
    expect((await bmms(['account', 'delete'], asOwner)).code).toBe(2);

    // Alone in it: deleting the account takes the organization along.
    const r = await bmms(['account', 'delete', '--confirm', 'doomed@example.com', '--json'], asOwner);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ deleted: true, orgs: 1 });
    expect(await db.org.findUnique({ where: { id: org.id } })).toBeNull();
    expect((await bmms(['keys', 'list'], asOwner)).code).toBe(5);

    const other = await db.org.create({ data: { slug: 'gone', name: 'Gone' } });
    const owner = await db.user.create({ data: { email: 'gone@example.com', name: 'Gone' } });
    await db.membership.create({ data: { orgId: other.id, userId: owner.id, role: 'owner' } });
    const k = generateApiKey();
    await db.apiKey.create({
      data: { orgId: other.id, userId: owner.id, name: 'cli', prefix: k.prefix, hash: k.hash, scopes: ['*'] },
    });
    const done = await bmms(['org', 'delete', '--confirm', 'gone'], { env: { BMMS_API_KEY: k.key } });
    expect(done.code, done.stderr).toBe(0);
    expect(done.stdout).toContain('Deleted the organization and its 0 server(s).');
  });
});
