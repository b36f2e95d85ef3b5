import { readdirSync, readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { largeDocument } from '../../../test/large-document.ts';
import { ApiError } from '../../errors.ts';
import { PLANS } from '../../plans.ts';
import { DocumentReader, WORKER_NICE } from './reader.ts';
import { UnreadBody } from './request.ts';

const ok = { 200: { description: 'ok' } };
const pets = {
  openapi: '3.0.3',
  info: { title: 'Pets', version: '2' },
  servers: [{ url: 'https://pets.example.com' }],
  paths: {
    '/pets': { get: { operationId: 'listPets', summary: 'List pets', responses: ok } },
    '/pets/{id}': {
      get: {
        operationId: 'getPet',
        parameters: [{ name: 'id', in: 'path', required: true }],
        responses: ok,
      },
    },
  },
};
const bytesOf = (value: unknown) => new UnreadBody(Buffer.from(JSON.stringify(value)));

/** The ApiError a promise rejects with. */
async function failure(promise: Promise<unknown>): Promise<ApiError> {
  const err = await promise.then(
    () => {
      throw new Error('expected a failure');
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ApiError);
  return err as ApiError;
}

const readers: DocumentReader[] = [];
const reader = (options: Partial<ConstructorParameters<typeof DocumentReader>[0]> = {}) => {
  const r = new DocumentReader({ timeoutMs: 60_000, memoryMb: 1024, ...options });
  readers.push(r);
  return r;
};
afterAll(async () => {
  await Promise.all(readers.map((r) => r.close()));
});

describe('reading OpenAPI documents in a worker', () => {
  it.runIf(process.platform === 'linux')(
    'runs the worker thread below the main thread’s priority',
    async () => {
      /** The nice value of each thread of this process (field 19 of /proc/self/task/<tid>/stat). */
      const nices = () =>
        readdirSync('/proc/self/task').map((tid) => {
          const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
          return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
        });
      const niced = () => nices().filter((n) => n === WORKER_NICE).length;
      const before = nices();
      expect(before[0]).toBeLessThan(WORKER_NICE);
      const already = niced();
      const { doc } = largeDocument(2 * 1024 * 1024);
      const job = reader().describe({ openapi: doc }, []);
      let seen = false;
      let done = false;
      const finished = () => {
        done = true;
      };
      job.then(finished, finished);
      while (!done && !seen) {
        seen = niced() > already;
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(seen).toBe(true);
      expect((await job).count).toBeGreaterThan(100);
      // The main thread kept its own.
      expect(nices()[0]).toBe(before[0]);
    },
    120_000,
  );

  it('lists the operations and the repairs, as the selection step answers', async () => {
    const described = await reader().describe({ openapi: pets }, []);
    expect(described).toEqual({
      title: 'Pets',
      version: '2',
      count: 2,
      operations: [
        { id: 'listPets', method: 'GET', path: '/pets', summary: 'List pets', tags: [] },
        { id: 'getPet', method: 'GET', path: '/pets/{id}', summary: '', tags: [] },
      ],
      warnings: [{ path: '#/paths/~1pets~1{id}/get/parameters/0', message: 'has no schema: read as a string' }],
    });
  }, 60_000);

  it('parses and checks a request body the main thread left unread, answering as the route would', async () => {
    const r = reader();
    const planned = await r.planImport(
      { body: bytesOf({ name: 'pets', openapi: pets, operations: ['getPet'] }).bytes },
      [],
      PLANS.hobby,
    );
    expect(planned).toMatchObject({
      name: 'pets',
      title: 'Pets',
      baseUrl: 'https://pets.example.com',
      tools: [{ operation: 'getPet', tool: 'getPet', method: 'GET', path: '/pets/{id}' }],
    });
    expect(Object.keys(planned.files)).toEqual(expect.arrayContaining(['mcp.json', 'src/tools/getPet.ts']));

    const notJson = await failure(r.describe({ body: new UnreadBody(Buffer.from('{"openapi": ')).bytes }, []));
    expect(notJson.code).toBe('invalid_json');
    expect(notJson.message).toMatch(/^the request body is not valid JSON: /);

    const wrongShape = await failure(
      r.planImport({ body: bytesOf({ name: 'pets', openapi: pets, operations: 'getPet' }).bytes }, [], PLANS.hobby),
    );
    expect(wrongShape).toMatchObject({
      code: 'invalid_request',
      status: 400,
      message: 'body.operations: expected array, got string',
      details: { field: 'operations', issues: [{ path: 'body.operations', message: 'expected array, got string' }] },
    });

    const badName = await failure(
      r.planImport({ body: bytesOf({ name: 'Pets!', openapi: pets }).bytes }, [], PLANS.hobby),
    );
    expect(badName.code).toBe('invalid_name');
  }, 60_000);

  it('carries the errors of the document over unchanged: code, status, message, details', async () => {
    const err = await failure(
      reader().describe(
        { openapi: { ...pets, paths: { '/a': { get: { responses: { 200: { $ref: '#/x' } } } } } } },
        [],
      ),
    );
    expect(err.code).toBe('openapi_invalid');
    expect(err.status).toBe(400);
    expect(err.details).toEqual({
      issues: [{ path: '#/paths/~1a/get/responses/200/$ref', message: '"#/x" points nowhere' }],
    });
  }, 60_000);

  it('ends a job past its time limit with openapi_timeout', async () => {
    const r = reader({ timeoutMs: 300 });
    const { doc } = largeDocument(4 * 1024 * 1024);
    const err = await failure(r.describe({ openapi: doc }, []));
    expect(err).toMatchObject({ code: 'openapi_timeout', status: 422 });
    expect(err.message).toContain('BMMS_OPENAPI_TIMEOUT_SECONDS');
  }, 60_000);

  it('ends a job past its memory limit with openapi_too_large', async () => {
    const r = reader({ memoryMb: 128 });
    const big = largeDocument(24 * 1024 * 1024);
    const err = await failure(r.describe({ body: bytesOf({ openapi: big.doc }).bytes }, []));
    expect(err).toMatchObject({ code: 'openapi_too_large', status: 413 });
    expect(err.message).toContain('more than 128 MB of memory');
    // The same reader still works: the worker that ran out was ended, not the reader.
    expect((await r.describe({ openapi: pets }, [])).count).toBe(2);
  }, 120_000);

  it('refuses a job beyond its queue with openapi_busy and a Retry-After', async () => {
    const r = reader({ concurrency: 1, maxWaiting: 1 });
    const { doc } = largeDocument(2 * 1024 * 1024);
    const first = r.describe({ openapi: doc }, []);
    const second = r.describe({ openapi: pets }, []);
    const third = await failure(r.describe({ openapi: pets }, []));
    expect(third).toMatchObject({ code: 'openapi_busy', status: 503 });
    expect(third.headers?.['Retry-After']).toMatch(/^\d+$/);
    expect((await first).count).toBeGreaterThan(100);
    expect((await second).count).toBe(2);
  }, 120_000);

  it('refuses jobs once closed (the platform shuts down)', async () => {
    const r = reader();
    await r.close();
    expect((await failure(r.describe({ openapi: pets }, []))).code).toBe('shutting_down');
  });
});
