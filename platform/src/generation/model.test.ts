import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeAnthropic } from '../../test/fake-anthropic.ts';
import { ApiError } from '../errors.ts';
import { type GenerationConfig, generationConfigFromEnv } from './config.ts';
import { AnthropicModel, type ModelEvent } from './model.ts';
import { proposeServerTool, SPEC_SYSTEM, specDraftSchema, writeHandlersTool } from './prompts.ts';

let fake: FakeAnthropic;
const config = (over: Partial<GenerationConfig> = {}): GenerationConfig => ({
  ...generationConfigFromEnv({}),
  anthropicApiKey: 'sk-test-fake',
  anthropicBaseUrl: fake.url,
  model: 'scripted-model',
  maxTokens: 4096,
  timeoutMs: 1500,
  maxRetries: 2,
  maxRepairs: 2,
  ...over,
});

const SPEC = {
  name: 'units',
  description: 'Converts units.',
  tools: [
    {
      name: 'convert_temperature',
      description: 'Converts degrees Celsius to Fahrenheit.',
      inputSchema: { type: 'object', properties: { celsius: { type: 'number' } }, required: ['celsius'] },
    },
  ],
  secrets: [],
  egress: [],
};

beforeAll(async () => {
  fake = await new FakeAnthropic().start();
});
afterAll(async () => {
  await fake.close();
});

async function rejection(p: Promise<unknown>): Promise<ApiError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ApiError);
  return err as ApiError;
}

describe('a scripted multi-turn session through the real SDK', () => {
  it('retries overload, sends invalid output back with its errors, and returns the valid answer', async () => {
    const start = fake.received.length;
    fake.script(
      { status: 529, retryAfterMs: 5 },
      { text: 'Here is my plan, in prose.' },
      { tool: 'propose_server', input: { ...SPEC, name: 'Units Server!', tools: [{ name: 'convert' }] } },
      { tool: 'propose_server', input: SPEC },
    );
    const events: ModelEvent[] = [];
    const spec = await new AnthropicModel(config()).call(
      { system: SPEC_SYSTEM, messages: [{ role: 'user', content: 'a unit converter' }], tool: proposeServerTool },
      (e) => events.push(e),
    );
    expect(spec).toEqual(SPEC);
    expect(events.map((e) => e.type)).toEqual(['model_retry', 'output_invalid', 'output_invalid']);
    expect(events[0]).toEqual({ type: 'model_retry', reason: 'overloaded (529)' });

    const turns = fake.received.slice(start);
    expect(turns).toHaveLength(4);
    for (const t of turns) {
      expect(t.headers.authorization).toBe('Bearer sk-test-fake');
      expect(t.body).toMatchObject({
        model: 'scripted-model',
        max_tokens: 4096,
        stream: true,
        system: SPEC_SYSTEM,
        tool_choice: { type: 'tool', name: 'propose_server' },
      });
    }
    // The retry after 529 resends the same request; each repair adds the answer and the errors.
    expect(turns[1]?.body.messages).toEqual(turns[0]?.body.messages);
    expect(turns[2]?.body.messages.at(-1)).toEqual({
      role: 'user',
      content: 'Answer by calling the propose_server tool.',
    });
    const repair = turns[3]?.body.messages.at(-1) as { role: string; content: Record<string, unknown>[] };
    expect(repair.role).toBe('user');
    expect(repair.content[0]).toMatchObject({ type: 'tool_result', tool_use_id: 'toolu_3', is_error: true });
    expect(String(repair.content[0]?.content)).toContain('name: must be a DNS label');
    expect(String(repair.content[0]?.content)).toContain('tools.0.description');
    expect(turns[3]?.body.messages).toHaveLength(5);
  });

  it('gives up after the bounded number of repairs with a clear error', async () => {
    fake.script(
      { tool: 'propose_server', input: { name: 1 } },
      { tool: 'propose_server', input: { name: 2 } },
      { tool: 'propose_server', input: { name: 3 } },
    );
    const err = await rejection(
      new AnthropicModel(config()).call({
        system: SPEC_SYSTEM,
        messages: [{ role: 'user', content: 'x' }],
        tool: proposeServerTool,
      }),
    );
    expect(err.code).toBe('model_output_invalid');
    expect(err.message).toContain('after 3 attempt(s)');
    expect(fake.pending).toBe(0);
  });

  it('turns persistent overload into model_unavailable after the retries', async () => {
    fake.script(...[1, 2, 3].map(() => ({ status: 529, retryAfterMs: 5 })));
    const err = await rejection(
      new AnthropicModel(config()).call({
        system: '',
        messages: [{ role: 'user', content: 'x' }],
        tool: proposeServerTool,
      }),
    );
    expect(err.code).toBe('model_unavailable');
    expect(err.message).toContain('overloaded after 2 retries');
  });

  it('turns timeouts into model_unavailable', async () => {
    fake.script({ hang: true }, { hang: true });
    const err = await rejection(
      new AnthropicModel(config({ timeoutMs: 300, maxRetries: 1 })).call({
        system: '',
        messages: [{ role: 'user', content: 'x' }],
        tool: proposeServerTool,
      }),
    );
    expect(err.code).toBe('model_unavailable');
    expect(err.message).toContain('timed out');
  });

  it('turns an unreachable endpoint into model_unavailable', async () => {
    const err = await rejection(
      new AnthropicModel(config({ anthropicBaseUrl: 'http://127.0.0.1:1', maxRetries: 1 })).call({
        system: '',
        messages: [{ role: 'user', content: 'x' }],
        tool: proposeServerTool,
      }),
    );
    expect(err.code).toBe('model_unavailable');
    expect(err.message).toContain('cannot connect');
  });

  it('refuses to run without an API key, saying what to set', async () => {
    const err = await rejection(
      new AnthropicModel(config({ anthropicApiKey: undefined })).call({
        system: '',
        messages: [{ role: 'user', content: 'x' }],
        tool: proposeServerTool,
      }),
    );
    expect(err.code).toBe('model_not_configured');
    expect(err.message).toContain('ANTHROPIC_API_KEY');
  });

  it('sends generated code that breaks a security rule back to the model', async () => {
    const bad = `import { defineTool } from '@bmms/runner-template/runtime';
import { z } from 'zod';
export default defineTool({ name: 'convert_temperature', input: { celsius: z.number() }, handler: ({ celsius }) => process.env.X ?? String(celsius) });
`;
    const good = bad.replace('process.env.X ?? String(celsius)', 'String((celsius * 9) / 5 + 32)');
    fake.script(
      { tool: 'write_handlers', input: { tools: [{ name: 'convert_temperature', source: bad }] } },
      { tool: 'write_handlers', input: { tools: [{ name: 'convert_temperature', source: good }] } },
    );
    const start = fake.received.length;
    const out = await new AnthropicModel(config()).call({
      system: '',
      messages: [{ role: 'user', content: 'x' }],
      tool: writeHandlersTool(specDraftSchema.parse(SPEC)),
    });
    expect(out.tools[0]?.source).toBe(good);
    const repair = fake.received[start + 1]?.body.messages.at(-1) as { content: { content: string }[] };
    expect(repair.content[0]?.content).toContain('[no-process');
  });
});
