import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generationConfigFromEnv } from '../src/generation/config.ts';
import { FakeAnthropic } from './fake-anthropic.ts';
import { type ChangeBody, poll, TestStack, textOf } from './harness.ts';

// The whole prompt path against a local Messages API with scripted answers: the real SDK talks to it.
let stack: TestStack;
let fake: FakeAnthropic;

const pure = { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false };
const TO_F = {
  name: 'convert_temperature',
  description: 'Converts degrees Celsius to degrees Fahrenheit.',
  inputSchema: {
    type: 'object',
    properties: { celsius: { type: 'number', description: 'Degrees Celsius.' } },
    required: ['celsius'],
  },
  annotations: pure,
};
const SPEC = { name: 'units', description: 'Converts temperatures.', tools: [TO_F], secrets: [], egress: [] };
const TO_F_SOURCE = `import { defineTool } from '@bmms/runner-template/runtime';
import { z } from 'zod';

export default defineTool({
  name: 'convert_temperature',
  input: { celsius: z.number() },
  handler: ({ celsius }) => String((celsius * 9) / 5 + 32),
});
`;
const TO_C_SOURCE = `import { defineTool } from '@bmms/runner-template/runtime';
import { z } from 'zod';

export default defineTool({
  name: 'convert_fahrenheit',
  input: { fahrenheit: z.number() },
  handler: ({ fahrenheit }) => String(((fahrenheit - 32) * 5) / 9),
});
`;

interface Event {
  seq: number;
  type: string;
  [field: string]: unknown;
}
interface GenerationBody {
  id: string;
  kind: string;
  status: string;
  server: string | null;
  change: number | null;
  spec: Record<string, unknown> | null;
  error: { code: string; message: string } | null;
  events: Event[];
}
interface ErrorBody {
  error: { code: string; message: string };
}

/** Reads a generation's server-sent events until `until` holds for one of them (or the stream ends). */
async function readEvents(id: string, until: (e: Event) => boolean, timeoutMs = 240_000): Promise<Event[]> {
  const res = await fetch(`${stack.url}/api/v1/generations/${id}/events`, {
    headers: { authorization: `Bearer ${stack.key}` },
    signal: AbortSignal.timeout(timeoutMs),
  });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toContain('text/event-stream');
  const events: Event[] = [];
  const reader = res.body?.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  try {
    for (;;) {
      const chunk = await reader?.read();
      if (!chunk || chunk.done) return events;
      buffer += chunk.value;
      for (let end = buffer.indexOf('\n\n'); end !== -1; end = buffer.indexOf('\n\n')) {
        const frame = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const name = /^event: (.*)$/m.exec(frame)?.[1];
        const data = /^data: (.*)$/m.exec(frame)?.[1];
        if (!name || !data) continue;
        const event = JSON.parse(data) as Event;
        expect(event.type).toBe(name);
        events.push(event);
        if (until(event)) return events;
      }
    }
  } finally {
    await reader?.cancel().catch(() => {});
  }
}

const generation = async (id: string) => (await stack.api<GenerationBody>('GET', `/api/v1/generations/${id}`)).body;
const waitStatus = (id: string, status: string) =>
  poll(async () => ((await generation(id)).status === status ? generation(id) : undefined), 60_000, `${id} ${status}`);

/** Paths changed by change `n` of `server` (base → head). */
async function changedFiles(server: string, n: number): Promise<string[]> {
  const change = (await stack.api<ChangeBody>('GET', `/api/v1/servers/${server}/changes/${n}`)).body;
  const { git } = stack.platform.ctx;
  const before = change.base ? await git.readTree(server, change.base) : {};
  const after = await git.readTree(server, change.head);
  return [...new Set([...Object.keys(before), ...Object.keys(after)])]
    .filter(
      (p) => Buffer.compare(Buffer.from(before[p] ?? []), Buffer.from(after[p] ?? [])) !== 0 || !before[p] || !after[p],
    )
    .sort();
}

beforeAll(async () => {
  fake = await new FakeAnthropic().start();
  stack = await TestStack.start({
    generation: fake.generationConfig({ maxRetries: 2, maxRepairs: 2 }),
  });
}, 120_000);

afterAll(async () => {
  await stack?.destroy();
  await fake?.close();
});

describe('from a prompt to a running server, then an iteration', () => {
  let id: string;

  it('plans a spec (overload retried, invalid output repaired) and waits for confirmation', async () => {
    fake.script(
      { status: 529, retryAfterMs: 5 },
      { tool: 'propose_server', input: { ...SPEC, name: 'Units!', tools: [{ name: 'convert_temperature' }] } },
      { tool: 'propose_server', input: SPEC },
    );
    const started = await stack.api<GenerationBody & { links: { events: string } }>('POST', '/api/v1/generations', {
      prompt: 'A server that converts Celsius to Fahrenheit.',
    });
    expect(started.status).toBe(202);
    expect(started.body).toMatchObject({ kind: 'create', status: 'planning' });
    expect(started.body.links.events).toBe(`/api/v1/generations/${started.body.id}/events`);
    id = started.body.id;

    const events = await readEvents(id, (e) => e.type === 'spec_ready');
    expect(events.map((e) => e.type)).toEqual(['planning', 'model_retry', 'output_invalid', 'spec_ready']);
    expect(events[2]?.problems).toEqual(expect.arrayContaining([expect.stringContaining('name: must be a DNS label')]));
    expect(events[3]?.spec).toEqual(SPEC);
    const g = await generation(id);
    expect(g).toMatchObject({ status: 'awaiting_confirmation', server: 'units', spec: SPEC });
    expect(fake.received.at(-1)?.body.messages[0]).toEqual({
      role: 'user',
      content: 'A server that converts Celsius to Fahrenheit.',
    });
  });

  it('takes an edited spec, writes handlers (a rule break repaired), opens a change whose checks pass', async () => {
    const edited = { ...SPEC, description: 'Converts temperatures between scales.' };
    fake.script(
      {
        tool: 'write_handlers',
        input: { tools: [{ name: 'convert_temperature', source: TO_F_SOURCE.replace('String(', 'eval(') }] },
      },
      { tool: 'write_handlers', input: { tools: [{ name: 'convert_temperature', source: TO_F_SOURCE }] } },
    );
    const confirmed = await stack.api<GenerationBody>('POST', `/api/v1/generations/${id}/confirm`, { spec: edited });
    expect(confirmed.status).toBe(202);
    expect(confirmed.body.status).toBe('generating');
    const again = await stack.api<ErrorBody>('POST', `/api/v1/generations/${id}/confirm`, {});
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('generation_not_awaiting_confirmation');

    const events = await readEvents(id, (e) => e.type === 'checks' || e.type === 'failed');
    const types = events.map((e) => e.type);
    expect(types.slice(0, 4)).toEqual(['planning', 'model_retry', 'output_invalid', 'spec_ready']);
    expect(types.slice(4)).toEqual([
      'confirmed',
      'output_invalid',
      'files_rendered',
      'committed',
      'change_opened',
      'checks',
    ]);
    expect(String(events[5]?.problems)).toContain('[no-eval]');
    expect(events.at(-1)).toMatchObject({ conclusion: 'success' });
    expect(events.at(-1)?.checks).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ name: 'typecheck', conclusion: 'success' }),
        expect.objectContaining({ name: 'security', conclusion: 'success' }),
        expect.objectContaining({ name: 'surface', conclusion: 'success' }),
      ]),
    );
    expect((await generation(id)).status).toBe('completed');
    expect((await generation(id)).change).toBe(1);
    // Step 2 sent the confirmed (edited) manifest.
    expect(JSON.stringify(fake.received.at(-2)?.body.messages[0])).toContain('Converts temperatures between scales.');
  }, 300_000);

  it('merges into a Ready server whose tool answers an SDK client', async () => {
    const merged = await stack.api<{ sha: string }>('POST', '/api/v1/servers/units/changes/1/merge');
    expect(merged.status, JSON.stringify(merged.body)).toBe(200);
    const ready = await stack.waitReady('units', merged.body.sha, 120_000);
    expect(ready.conditions).toContainEqual(expect.objectContaining({ type: 'Ready', status: 'True' }));
    const client = await stack.mcpClient(ready.url);
    try {
      expect(textOf(await client.callTool({ name: 'convert_temperature', arguments: { celsius: 100 } }))).toBe('212');
    } finally {
      await client.close();
    }
  }, 180_000);

  it('iterates: the edits become change #2, touching only what the request needs', async () => {
    fake.script({
      tool: 'edit_server',
      input: {
        title: 'Add convert_fahrenheit',
        summary: 'Adds the reverse conversion.',
        upsert: [
          {
            name: 'convert_fahrenheit',
            description: 'Converts degrees Fahrenheit to degrees Celsius.',
            inputSchema: {
              type: 'object',
              properties: { fahrenheit: { type: 'number', description: 'Degrees Fahrenheit.' } },
              required: ['fahrenheit'],
            },
            annotations: pure,
            source: TO_C_SOURCE,
          },
        ],
      },
    });
    const started = await stack.api<GenerationBody>('POST', '/api/v1/generations', {
      prompt: 'Also convert Fahrenheit back to Celsius.',
      server: 'units',
    });
    expect(started.status).toBe(202);
    expect(started.body.kind).toBe('iterate');
    const events = await readEvents(started.body.id, (e) => e.type === 'checks' || e.type === 'failed');
    expect(events.map((e) => e.type)).toEqual([
      'planning',
      'spec_ready',
      'files_rendered',
      'committed',
      'change_opened',
      'checks',
    ]);
    expect(events.at(-1)).toMatchObject({ conclusion: 'success' });
    expect(events[4]).toMatchObject({ number: 2, conflicts: [] });
    // The model saw the current manifest and tool file.
    const sent = JSON.stringify(fake.received.at(-1)?.body.messages[0]);
    expect(sent).toContain('mcp.json');
    expect(sent).toContain('src/tools/convert_temperature.ts');
    expect(await changedFiles('units', 2)).toEqual([
      'README.md',
      'mcp.json',
      'src/server.ts',
      'src/tools/convert_fahrenheit.ts',
      'test/convert_fahrenheit.test.ts',
    ]);
  }, 300_000);

  it('reports a conflict with another open change on the new change', async () => {
    fake.script({
      tool: 'edit_server',
      input: {
        title: 'Clarify convert_temperature',
        summary: 'Says the result is rounded to nothing.',
        upsert: [
          { ...TO_F, description: 'Converts degrees Celsius to degrees Fahrenheit, exactly.', source: TO_F_SOURCE },
        ],
      },
    });
    const started = await stack.api<GenerationBody>('POST', '/api/v1/generations', {
      prompt: 'Say that convert_temperature is exact.',
      server: 'units',
    });
    const events = await readEvents(started.body.id, (e) => e.type === 'checks' || e.type === 'failed');
    const opened = events.find((e) => e.type === 'change_opened');
    expect(opened).toMatchObject({ number: 3, conflicts: [{ number: 2, paths: ['README.md', 'mcp.json'] }] });
    expect(await changedFiles('units', 3)).toEqual(['README.md', 'mcp.json']);
    const change = await stack.api<{ body: string }>('GET', '/api/v1/servers/units/changes/3');
    expect(change.body.body).toContain('Conflicts with other open changes');
    expect(change.body.body).toContain('#2: README.md, mcp.json');
  }, 300_000);

  it('deploys the iteration: merging change #2 serves the new tool next to the old one', async () => {
    const merged = await stack.api<{ sha: string }>('POST', '/api/v1/servers/units/changes/2/merge');
    expect(merged.status, JSON.stringify(merged.body)).toBe(200);
    const ready = await stack.waitReady('units', merged.body.sha, 120_000);
    const client = await stack.mcpClient(ready.url);
    try {
      expect(textOf(await client.callTool({ name: 'convert_fahrenheit', arguments: { fahrenheit: 212 } }))).toBe('100');
      expect(textOf(await client.callTool({ name: 'convert_temperature', arguments: { celsius: 0 } }))).toBe('32');
    } finally {
      await client.close();
    }
  }, 180_000);

  it('fails an iteration whose edits change no file (nothing_changed), opening no branch', async () => {
    // An edit in form (the description) that leaves every file as it is.
    fake.script({
      tool: 'edit_server',
      input: { title: 'Nothing', summary: 'Changes nothing.', description: 'Converts temperatures between scales.' },
    });
    const branches = await stack.platform.ctx.git.listBranches('units');
    const started = await stack.api<GenerationBody>('POST', '/api/v1/generations', {
      prompt: 'Keep everything as it is.',
      server: 'units',
    });
    expect(started.status).toBe(202);
    const g = await waitStatus(started.body.id, 'failed');
    expect(g.error).toEqual({
      code: 'nothing_changed',
      message: 'the edit changes no file; describe the change more precisely',
    });
    expect(await stack.platform.ctx.git.listBranches('units')).toEqual(branches);
  });
});

describe('bad input: a clear error and nothing half-created', () => {
  const counts = async () => ({
    generations: await stack.platform.ctx.db.generation.count(),
    servers: await stack.platform.ctx.db.server.count(),
    requests: fake.received.length,
  });

  it.each([
    ['an empty prompt', { prompt: '   ' }, 400, 'prompt_empty', 'describe'],
    ['an over-long prompt', { prompt: 'x'.repeat(8001) }, 400, 'prompt_too_long', '8000'],
    ['no prompt at all', {}, 400, 'prompt_empty', '"prompt" is required'],
    ['an unknown server', { prompt: 'add a tool', server: 'nope-nope' }, 404, 'not_found', 'nope-nope'],
  ])('%s', async (_what, body, status, code, fragment) => {
    const before = await counts();
    const r = await stack.api<ErrorBody>('POST', '/api/v1/generations', body);
    expect(r.status).toBe(status);
    expect(r.body.error.code).toBe(code);
    expect(r.body.error.message).toContain(fragment);
    expect(await counts()).toEqual(before);
  });

  it('refuses a prompt holding a credential before sending or storing it', async () => {
    const token = `ghp_${'aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z5A'.slice(0, 36)}`;
    const before = await counts();
    const r = await stack.api<ErrorBody>('POST', '/api/v1/generations', {
      prompt: `A server that lists my repos, use token ${token}`,
    });
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('prompt_contains_secret');
    expect(r.body.error.message).toContain('GitHub token');
    expect(r.body.error.message).toContain('named secret');
    expect(JSON.stringify(r.body)).not.toContain(token);
    expect(await counts()).toEqual(before);
  });

  it('fails a generation whose model keeps answering garbage, creating no server', async () => {
    fake.script(...[1, 2, 3].map(() => ({ tool: 'propose_server', input: { garbage: true } })));
    const before = await counts();
    const started = await stack.api<GenerationBody>('POST', '/api/v1/generations', { prompt: 'anything' });
    const g = await waitStatus(started.body.id, 'failed');
    expect(g.error?.code).toBe('model_output_invalid');
    expect(g.events.at(-1)?.type).toBe('failed');
    expect((await counts()).servers).toBe(before.servers);
  });

  it('fails a generation when the model is down (overloaded on every retry)', async () => {
    fake.script(...[1, 2, 3].map(() => ({ status: 529, retryAfterMs: 5 })));
    const started = await stack.api<GenerationBody>('POST', '/api/v1/generations', { prompt: 'anything' });
    const g = await waitStatus(started.body.id, 'failed');
    expect(g.error).toEqual({
      code: 'model_unavailable',
      message: 'the model did not answer: overloaded after 2 retries; try again later',
    });
  });

  it('fails a generation whose model key is refused (model_rejected)', async () => {
    fake.script({ status: 401 });
    const started = await stack.api<GenerationBody>('POST', '/api/v1/generations', { prompt: 'anything' });
    const g = await waitStatus(started.body.id, 'failed');
    expect(g.error).toEqual({
      code: 'model_rejected',
      message: 'the model request was refused: the API key was not accepted; check ANTHROPIC_API_KEY',
    });
  });

  it('fails a generation on what it did not expect (main’s mcp.json cut short) with generation_failed', async () => {
    expect((await stack.api('POST', '/api/v1/servers', { name: 'garbled', template: 'echo' })).status).toBe(201);
    const wd = await stack.clone('garbled');
    await writeFile(path.join(wd.dir, 'mcp.json'), '{ "name": "garbled",');
    await wd.commitAndPush('a manifest cut short', 'main');
    const asked = fake.received.length;
    const started = await stack.api<GenerationBody>('POST', '/api/v1/generations', {
      prompt: 'add a tool',
      server: 'garbled',
    });
    expect(started.status).toBe(202);
    const g = await waitStatus(started.body.id, 'failed');
    expect(g.error).toEqual({ code: 'generation_failed', message: 'the generation failed unexpectedly; try again' });
    expect(fake.received.length).toBe(asked);
  });

  it('refuses to confirm a spec whose name is taken, leaving the generation to edit', async () => {
    fake.script({ tool: 'propose_server', input: SPEC });
    const started = await stack.api<GenerationBody>('POST', '/api/v1/generations', { prompt: 'units again' });
    await waitStatus(started.body.id, 'awaiting_confirmation');
    const taken = await stack.api<ErrorBody>('POST', `/api/v1/generations/${started.body.id}/confirm`, {});
    expect(taken.status).toBe(409);
    expect(taken.body.error.code).toBe('name_taken');
    const invalid = await stack.api<ErrorBody>('POST', `/api/v1/generations/${started.body.id}/confirm`, {
      spec: { ...SPEC, name: 'units-2', tools: [] },
    });
    expect(invalid.status).toBe(400);
    expect(invalid.body.error.code).toBe('spec_invalid');
    expect(invalid.body.error.message).toContain('tools');
    const token = [
      'sk',
      'ant',
      'api03',
      'Zx8Qw2Er4Ty6Ui8Op0As2Df4Gh6Jk8Lz0Xc2Vb4Nm6Qw8Er0Ty2Ui4Op6As8Df0Gh2Jk4Lz6Xc8Vb0NmAA',
    ].join('-');
    const leaking = await stack.api<ErrorBody>('POST', `/api/v1/generations/${started.body.id}/confirm`, {
      spec: { ...SPEC, name: 'units-2', description: `Converts units. Key: ${token}` },
    });
    expect(leaking.status).toBe(400);
    expect(leaking.body.error.code).toBe('prompt_contains_secret');
    expect(JSON.stringify(await generation(started.body.id))).not.toContain(token);
    expect((await generation(started.body.id)).status).toBe('awaiting_confirmation');
  });

  it('refuses to iterate on a server with nothing merged yet', async () => {
    expect((await stack.api('POST', '/api/v1/servers', { name: 'fresh', template: 'echo' })).status).toBe(201);
    const before = await counts();
    const r = await stack.api<ErrorBody>('POST', '/api/v1/generations', { prompt: 'add a tool', server: 'fresh' });
    expect(r.status).toBe(409);
    expect(r.body.error.code).toBe('server_not_merged');
    expect(await counts()).toEqual(before);
  });

  it('answers 404 for a generation of another id', async () => {
    const r = await stack.api<ErrorBody>('GET', '/api/v1/generations/00000000-0000-0000-0000-000000000000');
    expect(r.status).toBe(404);
  });
});

describe('without a model key', () => {
  it('keeps running and says what to set', async () => {
    const offline = await TestStack.start({
      generation: { ...generationConfigFromEnv({}), anthropicApiKey: undefined },
    });
    try {
      const r = await offline.api<ErrorBody>('POST', '/api/v1/generations', { prompt: 'a server' });
      expect(r.status).toBe(503);
      expect(r.body.error.code).toBe('model_not_configured');
      expect(r.body.error.message).toContain('ANTHROPIC_API_KEY');
      expect(await offline.platform.ctx.db.generation.count()).toBe(0);
      expect((await offline.api('POST', '/api/v1/servers', { name: 'still-works', template: 'echo' })).status).toBe(
        201,
      );
    } finally {
      await offline.destroy();
    }
  }, 60_000);
});
