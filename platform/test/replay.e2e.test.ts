import type { Dirent } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestStack, textOf } from './harness.ts';

// Acceptance 2 of issue 17, end to end: a server whose owner consented to recording gets production calls through
// the gateway (one tool reaching an upstream through the egress proxy); the calls are recorded sealed; a change
// that alters one tool's answer lists exactly those calls with both answers, a change without a behavioural
// difference says so, and neither the server's secret value nor the caller's token is anywhere at rest.
const SECRET = 'zq-secret-value-7f3e9a1c';
const UPSTREAM_TOKEN = 'upstream-session-4c1d8e2b';
const PRICES = 'api.prices-replay.com';
let stack: TestStack;
let upstream: Server;
let port: number;
let price = 3;
let upstreamHits = 0;
let token: string;
let client: Client;

beforeAll(async () => {
  upstream = createServer((req, res) => {
    upstreamHits++;
    const item = decodeURIComponent((req.url ?? '').split('/').pop() ?? '');
    res.writeHead(200, { 'content-type': 'application/json', 'set-cookie': `session=${UPSTREAM_TOKEN}` });
    res.end(JSON.stringify({ item, price, token: UPSTREAM_TOKEN }));
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  port = (upstream.address() as AddressInfo).port;
  stack = await TestStack.start(
    {},
    {
      egress: {
        // The price list's public name resolves to the local fake (no DNS is asked), on its port.
        lookup: async (host) => (host === PRICES ? [{ address: '127.0.0.1', family: 4 }] : []),
        allowPrivate: (address) => address === '127.0.0.1',
        upstreamPort: (host, p) => (host === PRICES && p === 80 ? port : p),
      },
    },
  );
}, 120_000);
afterAll(async () => {
  await client?.close().catch(() => {});
  await stack?.destroy();
  await new Promise((resolve) => upstream?.close(resolve));
});

/** Adds a `price` tool that asks the upstream through ctx.fetch (egress allowlisted in mcp.json). */
async function addPriceTool(dir: string): Promise<void> {
  const manifestPath = path.join(dir, 'mcp.json');
  const manifest = JSON.parse(await readFile(manifestPath, 'utf8'));
  manifest.egress = [PRICES];
  manifest.tools.push({
    name: 'price',
    title: 'Price',
    description: 'The price of an item.',
    inputSchema: { type: 'object', properties: { item: { type: 'string' } }, required: ['item'] },
  });
  await writeFile(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
  await writeFile(
    path.join(dir, 'src/tools/price.ts'),
    `import { defineTool } from '@bmms/runner-template/runtime';
import { z } from 'zod';

export default defineTool({
  name: 'price',
  input: { item: z.string() },
  async handler({ item }, ctx) {
    const response = await ctx.fetch('http://${PRICES}/prices/' + encodeURIComponent(item));
    const body = (await response.json()) as { price: number };
    return item + ' costs ' + body.price;
  },
});
`,
  );
  const serverPath = path.join(dir, 'src/server.ts');
  const server = await readFile(serverPath, 'utf8');
  await writeFile(
    serverPath,
    server
      .replace(
        "import add from './tools/add.ts';",
        "import add from './tools/add.ts';\nimport price from './tools/price.ts';",
      )
      .replace('tools: [echo, add]', 'tools: [echo, add, price]'),
  );
}

/** Every file under `dir`, recursively. */
async function filesUnder(dir: string): Promise<string[]> {
  // Folder by folder: instance folders come and go while the platform runs, and one that vanished mid-walk must not
  // empty the whole listing (a recursive readdir rejects as a whole).
  let entries: Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR')
      return [];
    throw err;
  }
  const files: string[] = [];
  for (const e of entries) {
    const full = path.join(dir, e.name);
    if (e.isFile()) files.push(full);
    else if (e.isDirectory()) files.push(...(await filesUnder(full)));
  }
  return files;
}

describe('replay: recorded production calls replayed against a change', () => {
  it('records consented calls sealed, and tells which calls a change answers differently', async () => {
    await stack.createAndDeploy('shop');
    const wd = await stack.clone('shop');
    await addPriceTool(wd.dir);
    const head = await wd.commitAndPush('a price tool that asks the price list', 'main');
    await stack.waitReady('shop', head, 180_000).catch(async (err) => {
      const runs = (await stack.suiteOf('shop', head))?.runs ?? [];
      const failed = runs.filter((r) => r.conclusion === 'failure').map((r) => `${r.name}: ${r.summary}`);
      throw new Error(`${(err as Error).message}; failed checks: ${failed.join('\n') || 'none'}`);
    });

    expect((await stack.api('PUT', '/api/v1/servers/shop/secrets/PRICE_KEY', { value: SECRET })).status).toBe(201);
    const off = await stack.api('GET', '/api/v1/servers/shop/replay');
    expect(off.body).toEqual({ enabled: false, sampleRate: 0.1, maxRecordings: 100, retentionDays: 14, recordings: 0 });
    const consent = await stack.api('PUT', '/api/v1/servers/shop/replay', {
      enabled: true,
      sampleRate: 1,
      retentionDays: 7,
    });
    expect(consent.status).toBe(200);
    expect(consent.body).toEqual({ enabled: true, sampleRate: 1, maxRecordings: 100, retentionDays: 7, recordings: 0 });
    expect((await stack.api('PUT', '/api/v1/servers/shop/replay', { enabled: true, sampleRate: 2 })).status).toBe(400);

    // A caller with its own key, which it also pastes into an argument.
    const created = await stack.api<{ key: string }>('POST', '/api/v1/keys', { name: 'caller' });
    token = created.body.key;
    client = await stack.mcpClient(`${stack.url}/s/shop/mcp`, token);
    const calls: [string, Record<string, unknown>, string][] = [
      ['echo', { text: `my key is ${SECRET}` }, `my key is ${SECRET}`],
      ['echo', { text: `use ${token} please` }, `use ${token} please`],
      ['add', { a: 1, b: 2 }, '3'],
      ['add', { a: 20, b: 22 }, '42'],
      ['price', { item: 'apple' }, 'apple costs 3'],
      ['price', { item: 'pear' }, 'pear costs 3'],
    ];
    for (const [name, args, expected] of calls) {
      expect(textOf(await client.callTool({ name, arguments: args }))).toBe(expected);
    }
    expect(upstreamHits).toBe(2);
    await stack.platform.ctx.replay.flush();
    expect((await stack.api('GET', '/api/v1/servers/shop/replay')).body).toMatchObject({ recordings: 6 });

    // The upstream changes its answers and is asked no more: previews get the recorded answers only.
    price = 999;
    const hitsBefore = upstreamHits;

    const same = await stack.clone('shop');
    await writeFile(
      path.join(same.dir, 'README.md'),
      `${await readFile(path.join(same.dir, 'README.md'), 'utf8')}\nMore words.\n`,
    );
    const addPath = path.join(same.dir, 'src/tools/add.ts');
    await writeFile(addPath, (await readFile(addPath, 'utf8')).replace('String(a + b)', 'String(b + a)'));
    await same.commitAndPush('add sums the other way round', 'refactor');
    const refactor = await stack.waitChecks('shop', await stack.openChange('shop', 'refactor'), 240_000);
    expect(refactor.checks.filter((c) => c.conclusion === 'failure')).toEqual([]);
    expect(refactor.checks.find((c) => c.name === 'replay')).toMatchObject({
      conclusion: 'success',
      summary: 'no difference in 6 replayed calls',
    });

    const off1 = await stack.clone('shop');
    const offPath = path.join(off1.dir, 'src/tools/add.ts');
    await writeFile(offPath, (await readFile(offPath, 'utf8')).replace('String(a + b)', 'String(a + b + 1)'));
    await off1.commitAndPush('add is off by one', 'off-by-one');
    const changed = await stack.waitChecks('shop', await stack.openChange('shop', 'off-by-one'), 240_000);
    const replay = changed.checks.find((c) => c.name === 'replay');
    expect(replay?.conclusion).toBe('neutral');
    // Exactly the two add calls, each with both answers; nothing else.
    expect(replay?.summary).toBe(
      [
        '2 of 6 replayed call(s) answer differently:',
        'add {"a":1,"b":2}',
        '  recorded: {"content":[{"text":"3","type":"text"}],"isError":false}',
        '  now:      {"content":[{"text":"4","type":"text"}],"isError":false}',
        'add {"a":20,"b":22}',
        '  recorded: {"content":[{"text":"42","type":"text"}],"isError":false}',
        '  now:      {"content":[{"text":"43","type":"text"}],"isError":false}',
      ].join('\n'),
    );
    // The difference itself blocks nothing: only the repository's own test of add fails.
    expect(changed.checks.filter((c) => c.conclusion === 'failure').map((c) => c.name)).toEqual(['tests']);
    expect(upstreamHits).toBe(hitsBefore);

    await scanForSecrets();

    const deleted = await stack.api('DELETE', '/api/v1/servers/shop/replay/recordings');
    expect(deleted.body).toEqual({ deleted: 6 });
    expect((await stack.api('GET', '/api/v1/servers/shop/replay')).body).toMatchObject({ recordings: 0 });
    const audit = await stack.platform.ctx.db.auditEvent.findMany({ where: { action: { startsWith: 'replay.' } } });
    expect(audit.map((a) => a.action).sort()).toEqual(['replay.delete_recordings', 'replay.enable']);
  }, 900_000);
});

/** No table (every column of every row, as text) and no file of the data dir holds the secret or the token. */
async function scanForSecrets(): Promise<void> {
  const { db } = stack.platform.ctx;
  const needles = [SECRET, token, UPSTREAM_TOKEN].flatMap((n) => [n, Buffer.from(n).toString('hex')]);
  const tables = await db.$queryRawUnsafe<{ table_name: string }[]>(
    `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`,
  );
  expect(tables.map((t) => t.table_name)).toContain('replay_recordings');
  let rows = 0;
  for (const { table_name } of tables) {
    const texts = await db.$queryRawUnsafe<{ row: string }[]>(`SELECT t::text AS row FROM "${table_name}" t`);
    rows += texts.length;
    for (const { row } of texts) {
      for (const needle of needles)
        expect(row.includes(needle), `${table_name} holds ${needle.slice(0, 6)}…`).toBe(false);
    }
  }
  expect(rows).toBeGreaterThan(0);
  const files = [...(await filesUnder(stack.dataDir)), ...(stack.db.dataDir ? await filesUnder(stack.db.dataDir) : [])];
  expect(files.length).toBeGreaterThan(0);
  for (const file of files) {
    const bytes = await readFile(file).catch(() => Buffer.alloc(0));
    for (const needle of [SECRET, token, UPSTREAM_TOKEN]) {
      expect(bytes.includes(needle), `${file} holds ${needle.slice(0, 6)}…`).toBe(false);
    }
  }
}
