import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CallingClient, TestStack } from './harness.ts';
import { largeDocument } from './large-document.ts';

// A document of more than 10 MB is read, validated, dereferenced and converted in the import worker, off the main
// thread: an MCP client calling a server through the gateway meanwhile keeps getting its answers. (Its latency
// against a run without imports is a benchmark: bench/openapi.ts.)

type ErrorBody = { error: { code: string; message: string; details?: Record<string, unknown> } };

let stack: TestStack;
const large = largeDocument(11 * 1024 * 1024);
const body = JSON.stringify({ openapi: large.doc });

beforeAll(async () => {
  stack = await TestStack.start();
  await stack.createAndDeploy('calc');
}, 240_000);

afterAll(async () => {
  await stack?.destroy();
});

describe('importing a document of more than 10 MB', () => {
  it('lists its operations while an MCP client keeps calling another server through the gateway', async () => {
    expect(body.length).toBeGreaterThan(10 * 1024 * 1024);
    const client = await stack.mcpClient(`${stack.url}/s/calc/mcp`);
    const calling = new CallingClient(client, 7);
    try {
      await calling.flowing(3);
      const before = calling.calls;
      let answered = false;
      // Calls answered while the document is read: counted from the request's start to its answer.
      const during = new Promise<number>((resolve) => {
        const tick = setInterval(() => {
          if (answered) {
            clearInterval(tick);
            resolve(calling.calls - before);
          }
        }, 5);
      });
      const r = await stack.api<{ title: string; count: number; warnings: unknown[] }>(
        'POST',
        '/api/v1/openapi/operations',
        body,
      );
      answered = true;
      expect(r.status, JSON.stringify(r.body).slice(0, 500)).toBe(200);
      expect(r.body).toMatchObject({ title: 'Large', count: large.operations, warnings: [] });
      expect(await during).toBeGreaterThanOrEqual(3);
      await calling.flowing(3);
    } finally {
      await calling.stop();
      await client.close();
    }
    expect(calling.failures).toEqual([]);
  }, 240_000);

  it('imports selected operations of it as a server, with titles and output schemas from the document', async () => {
    const r = await stack.api<{
      server: { name: string };
      change: { number: number };
      warnings: unknown[];
    }>(
      'POST',
      '/api/v1/servers',
      JSON.stringify({ name: 'large', openapi: large.doc, operations: ['getThing0', 'updateThing7'] }),
    );
    expect(r.status, JSON.stringify(r.body).slice(0, 500)).toBe(201);
    expect(r.body).toMatchObject({ server: { name: 'large' }, change: { number: 1 }, warnings: [] });
    const manifest = JSON.parse((await stack.platform.ctx.git.readFile('large', 'bmms/init', 'mcp.json')) ?? '{}') as {
      tools: { name: string; title?: string; outputSchema?: { properties?: Record<string, unknown> } }[];
    };
    expect(manifest.tools.map((t) => [t.name, t.title])).toEqual([
      ['getThing0', 'Get one Thing0'],
      ['updateThing7', 'Replace one Thing7'],
    ]);
    expect(manifest.tools[0]?.outputSchema?.properties).toMatchObject({
      id: { type: 'integer' },
      field_0: { type: 'string' },
      meta: { type: 'object', properties: { etag: { type: 'string' } } },
    });
  }, 240_000);

  it('answers a large body that is not JSON, or of the wrong shape, as a small one would be answered', async () => {
    const broken = await stack.api<ErrorBody>('POST', '/api/v1/openapi/operations', body.slice(0, -1));
    expect(broken.status).toBe(400);
    expect(broken.body.error.code).toBe('invalid_json');
    expect(broken.body.error.message).toMatch(/^the request body is not valid JSON: /);

    const wrong = await stack.api<ErrorBody>(
      'POST',
      '/api/v1/servers',
      JSON.stringify({ name: 'large-two', openapi: large.doc, operations: 'getThing0' }),
    );
    expect(wrong.status).toBe(400);
    expect(wrong.body.error).toEqual({
      code: 'invalid_request',
      message: 'body.operations: expected array, got string',
      details: { field: 'operations', issues: [{ path: 'body.operations', message: 'expected array, got string' }] },
    });

    const taken = await stack.api<ErrorBody>(
      'POST',
      '/api/v1/servers',
      JSON.stringify({ name: 'calc', openapi: large.doc, operations: ['getThing0'] }),
    );
    expect(taken.status).toBe(409);
    expect(taken.body.error.code).toBe('name_taken');
  }, 240_000);
});
