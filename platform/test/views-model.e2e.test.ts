import { parseManifest } from '@bmms/runner-template';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeAnthropic } from './fake-anthropic.ts';
import { type ChangeBody, HAS_BWRAP, poll, TestStack } from './harness.ts';

// MCP Apps views with a model and through the gateway, on a data-grid server merged and deployed: the gateway
// negotiates the extension with the client that declares it only; designing a view with a model key fits the
// pattern to the tool's output schema (the local Messages API fake plays the model); and an iteration by prompt
// changes a view's files.

const UI = 'io.modelcontextprotocol/ui';
const MIME = 'text/html;profile=mcp-app';
const SERVER = 'grid-fit';

let stack: TestStack;
let fake: FakeAnthropic;
let url: string;

/** list_rows with records the schema describes: names the first guess reads wrongly (no "name", no "status"). */
const TASKS_SCHEMA = {
  type: 'object',
  properties: {
    columns: { type: 'array', items: { type: 'string' } },
    rows: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          reporter: { type: 'string' },
          headline: { type: 'string' },
          lane_name: { type: 'string' },
          estimate: { type: 'number' },
          opened: { type: 'string', format: 'date' },
        },
      },
    },
    title: { type: 'string' },
    source: { type: 'string' },
    total: { type: 'integer' },
  },
  required: ['title', 'source', 'columns', 'rows', 'total'],
};

interface GenerationBody {
  status: string;
  change: number | null;
  error: { code: string } | null;
  events: { type: string; problems?: string[]; conclusion?: string; checks?: { name: string; conclusion: string }[] }[];
}

/** Paths a change touches (base → head). */
async function changedFiles(n: number): Promise<string[]> {
  const change = (await stack.api<ChangeBody>('GET', `/api/v1/servers/${SERVER}/changes/${n}`)).body;
  const { git } = stack.platform.ctx;
  const before = change.base ? await git.readTree(SERVER, change.base) : {};
  const after = await git.readTree(SERVER, change.head);
  return [...new Set([...Object.keys(before), ...Object.keys(after)])]
    .filter((p) => !before[p] || !after[p] || Buffer.compare(Buffer.from(before[p]), Buffer.from(after[p])) !== 0)
    .sort();
}

const readAt = async (sha: string, file: string) => (await stack.platform.ctx.git.readFile(SERVER, sha, file)) ?? '';

function expectGreen(change: ChangeBody | undefined): void {
  expect(change?.checks.map((c) => c.name)).toEqual(
    expect.arrayContaining(['manifest', 'security', 'views', 'preview']),
  );
  for (const check of change?.checks ?? []) {
    const allowed = check.name === 'preview' && !HAS_BWRAP ? ['success', 'skipped'] : ['success'];
    expect(allowed, `${check.name}: ${check.summary}`).toContain(check.conclusion);
  }
  expect(change?.checkSuite?.conclusion).toBe('success');
}

beforeAll(async () => {
  fake = await new FakeAnthropic().start();
  stack = await TestStack.start({
    generation: fake.generationConfig({ maxRetries: 0, maxRepairs: 2 }),
  });
  url = (await stack.createAndDeploy(SERVER, 'data-grid')).url;
}, 300_000);

afterAll(async () => {
  await stack?.destroy();
  await fake?.close();
});

describe('MCP Apps through the gateway', () => {
  it('answers the extension only to a client that declares it; a client that does not still gets text', async () => {
    const plain = await stack.mcpClient(url);
    const apps = new Client(
      { name: 'e2e-apps', version: '1.0.0' },
      { capabilities: { extensions: { [UI]: { mimeTypes: [MIME] } } } },
    );
    await apps.connect(
      new StreamableHTTPClientTransport(new URL(url), {
        requestInit: { headers: { Authorization: `Bearer ${stack.key}` } },
      }),
    );
    try {
      expect(apps.getServerCapabilities()?.extensions).toEqual({ [UI]: { mimeTypes: [MIME] } });
      expect(plain.getServerCapabilities()?.extensions).toBeUndefined();
      const read = await apps.readResource({ uri: `ui://${SERVER}/grid` });
      expect(read.contents[0]).toMatchObject({ mimeType: MIME, _meta: { ui: { csp: {}, prefersBorder: true } } });
      // Both get the tool's answer as text (here the API is out of reach: the text says why).
      const asApps = await apps.callTool({ name: 'list_rows', arguments: {} });
      const asPlain = await plain.callTool({ name: 'list_rows', arguments: {} });
      for (const result of [asApps, asPlain]) {
        const first = (result.content as { type: string; text?: string }[])[0];
        expect(first?.type).toBe('text');
        expect(first?.text?.length).toBeGreaterThan(0);
      }
      expect(asPlain.content).toEqual(asApps.content);
    } finally {
      await plain.close();
      await apps.close();
    }
  });
});

describe('designing a view with a model key', () => {
  beforeAll(async () => {
    // main's list_rows describes its records (a direct write to main: what a merged change would leave there).
    const { git } = stack.platform.ctx;
    const head = (await git.resolveRef(SERVER, 'refs/heads/main')) as string;
    const manifest = JSON.parse(await readAt(head, 'mcp.json'));
    manifest.tools[0].outputSchema = TASKS_SCHEMA;
    await git.commitFiles(SERVER, {
      branch: 'main',
      parent: head,
      files: { 'mcp.json': `${JSON.stringify(manifest, null, 2)}\n` },
      message: 'list_rows describes its records',
      author: { name: 'Test', email: 'test@example.com' },
    });
  });

  it('fits the pattern to the output schema (a name the schema lacks is sent back) into a green change', async () => {
    fake.script(
      {
        tool: 'fit_view',
        input: { title: 'Tasks', list: 'rows', label: 'summary', date: null, status: 'lane_name', number: null },
      },
      {
        tool: 'fit_view',
        input: {
          title: 'Tasks',
          list: 'rows',
          label: 'headline',
          date: 'opened',
          status: 'lane_name',
          number: 'estimate',
        },
      },
    );
    const sent = fake.received.length;
    const res = await stack.api<ChangeBody & { body: string }>('POST', `/api/v1/servers/${SERVER}/views`, {
      pattern: 'kanban',
      tool: 'list_rows',
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body.body).toContain("chosen by the model from `list_rows`'s output schema");

    // The model saw the pattern and the output schema; its first answer came back with what was wrong.
    const asked = fake.received.slice(sent);
    expect(asked).toHaveLength(2);
    expect(asked[0]?.body.tools?.[0]?.name).toBe('fit_view');
    expect(JSON.stringify(asked[0]?.body.messages[0])).toContain('Kanban: records in columns by status');
    expect(JSON.stringify(asked[0]?.body.messages[0])).toContain('lane_name');
    expect(JSON.stringify(asked[1]?.body.messages.at(-1))).toContain(
      'label: \\"summary\\" is not a field of rows (reporter, headline, lane_name, estimate, opened)',
    );

    const config = await readAt(res.body.head, 'ui/kanban/config.ts');
    expect(config).toContain('title: "Tasks"');
    expect(config).toContain('label: "headline" as string | null');
    expect(config).toContain('status: "lane_name" as string | null');
    expect(config).toContain('date: "opened" as string | null');
    expect(config).toContain('number: "estimate" as string | null');
    const manifest = parseManifest(await readAt(res.body.head, 'mcp.json'));
    expect(manifest.resources.find((r) => r.uri === `ui://${SERVER}/kanban`)?.title).toBe('Tasks');
    expectGreen(await stack.waitChecks(SERVER, res.body.number, 300_000));
  }, 360_000);

  it('opens the first version from the schema when the model refuses, saying so', async () => {
    fake.script({ status: 401 });
    const res = await stack.api<ChangeBody & { body: string }>('POST', `/api/v1/servers/${SERVER}/views`, {
      pattern: 'card-list',
      tool: 'list_rows',
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body.body).toContain('the model could not fit them (model_rejected');
    const config = await readAt(res.body.head, 'ui/card-list/config.ts');
    expect(config).toContain('label: "reporter" as string | null'); // the first string: the guess by names and types
    expect(config).toContain('status: null as string | null');
  });
});

describe('iterating by prompt changes a view', () => {
  it("rewrites a view's files (a view rule broken, sent back, repaired) into a green change", async () => {
    const head = (await stack.platform.ctx.git.resolveRef(SERVER, 'refs/heads/main')) as string;
    const css = await readAt(head, 'ui/grid.css');
    const script = await readAt(head, 'ui/grid.ts');
    const bold = `${css.trimEnd()}\nth button {\n  font-weight: 700;\n}\n`;
    fake.script(
      {
        tool: 'edit_server',
        input: {
          title: 'Bold grid headers',
          summary: 'The grid view shows its column headers in bold.',
          views: [{ path: 'ui/grid.ts', source: `${script}\ndocument.body.innerHTML += '<b>bold</b>';\n` }],
        },
      },
      {
        tool: 'edit_server',
        input: {
          title: 'Bold grid headers',
          summary: 'The grid view shows its column headers in bold.',
          views: [{ path: 'ui/grid.css', source: bold }],
        },
      },
    );
    const sent = fake.received.length;
    const started = await stack.api<{ id: string }>('POST', '/api/v1/generations', {
      prompt: 'Show the column headers of the grid view in bold.',
      server: SERVER,
    });
    expect(started.status, JSON.stringify(started.body)).toBe(202);
    const g = await poll(
      async () => {
        const r = await stack.api<GenerationBody>('GET', `/api/v1/generations/${started.body.id}`);
        return ['completed', 'failed'].includes(r.body.status) ? r.body : undefined;
      },
      360_000,
      'the iteration',
    );
    expect(g.error).toBeNull();
    expect(g.events.find((e) => e.type === 'output_invalid')?.problems?.join('\n')).toContain('ui/grid.ts:');
    expect(g.events.find((e) => e.type === 'output_invalid')?.problems?.join('\n')).toContain('[view-html-sink]');
    // The model saw the view's files beside the tool's.
    const context = JSON.stringify(fake.received[sent]?.body.messages[0]);
    expect(context).toContain('ui/grid.html:');
    expect(context).toContain('ui/grid.ts:');
    expect(context).toContain('src/tools/list_rows.ts:');

    const number = g.change as number;
    const files = await changedFiles(number);
    expect(files).toContain('ui/grid.css');
    expect(files).not.toContain('ui/grid.ts');
    // mcp.json as it was: an edit that does not mention egress or secrets leaves them (they were emptied before).
    expect(files).not.toContain('mcp.json');
    const change = await stack.waitChecks(SERVER, number, 300_000);
    expect(await readAt(change.head, 'ui/grid.css')).toBe(bold);
    expectGreen(change);
  }, 420_000);
});
