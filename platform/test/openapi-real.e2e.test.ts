import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer as createHttpsServer } from 'node:https';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ChangeBody, TestStack, textOf } from './harness.ts';
import { selfSignedCert } from './tls.ts';

// Real documents that are not valid as a whole, imported through the API: each one goes green through every check,
// is merged and serves, its tools calling the API (a local HTTPS fake behind the egress proxy), with what the import
// repaired or skipped listed in the API's answer and in the change.

/** Directus's published description (`@directus/specs`): 136 operations, no server URL. */
const DIRECTUS_DOC = path.join(
  path.dirname(createRequire(import.meta.url).resolve('@directus/specs/package.json')),
  'dist/openapi.json',
);
const HOSTS = ['directus.example.com', 'files.example.com', 'shop.example.com'];

/** A Swagger 2.0 original with a `type: file` upload, as the classic Petstore has it. */
const SWAGGER_FILES = {
  swagger: '2.0',
  info: { title: 'Files', version: '1.0.0' },
  host: 'files.example.com',
  basePath: '/v2',
  schemes: ['https'],
  paths: {
    '/files/{id}/upload': {
      post: {
        operationId: 'uploadFile',
        summary: 'Upload a file',
        consumes: ['multipart/form-data'],
        produces: ['application/json'],
        parameters: [
          { name: 'id', in: 'path', required: true, type: 'integer' },
          { name: 'note', in: 'formData', type: 'string', description: 'A note kept with the file.' },
          { name: 'file', in: 'formData', type: 'file', required: true, description: 'The file to upload.' },
        ],
        responses: { 200: { description: 'stored', schema: { $ref: '#/definitions/Stored' } } },
      },
    },
    '/files/{id}': {
      get: {
        operationId: 'getFile',
        summary: 'Get a file record',
        parameters: [{ name: 'id', in: 'path', required: true, type: 'integer' }],
        responses: { 200: { description: 'the record', schema: { $ref: '#/definitions/Stored' } } },
      },
    },
  },
  definitions: {
    Stored: { type: 'object', properties: { id: { type: 'integer' }, size: { type: 'integer' } } },
  },
};

/** A document whose references point nowhere: one in a schema (repaired), one to a response (its operation skipped). */
const DANGLING = {
  openapi: '3.0.3',
  info: { title: 'Shop', version: '1' },
  servers: [{ url: 'https://shop.example.com' }],
  paths: {
    '/orders': {
      post: {
        operationId: 'createOrder',
        summary: 'Create an order',
        requestBody: { content: { 'application/json': { schema: { $ref: '#/components/schemas/NewOrder' } } } },
        responses: {
          201: {
            description: 'created',
            content: { 'application/json': { schema: { $ref: '#/components/schemas/Order' } } },
          },
        },
      },
    },
    '/orders/{id}': {
      get: {
        operationId: 'getOrder',
        summary: 'Get an order',
        parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
        responses: { 200: { $ref: '#/components/responses/OrderFound' } },
      },
    },
    '/health': { get: { operationId: 'health', responses: { 200: { description: 'ok' } } } },
  },
  components: {
    schemas: {
      Order: { type: 'object', properties: { id: { type: 'string' }, items: { $ref: '#/components/schemas/Item' } } },
    },
  },
};

interface Imported {
  server: { name: string };
  change: ChangeBody & { body: string };
  warnings: { path: string; message: string }[];
}

let stack: TestStack;
let tmp: string;
let fake: ReturnType<typeof createHttpsServer>;
const hits: { host: string; method: string; url: string; contentType: string | undefined; body: string }[] = [];

beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'bmms-openapi-real-'));
  const tls = selfSignedCert(tmp, HOSTS);
  // Every API answers a JSON object naming the request it got.
  fake = createHttpsServer({ key: tls.key, cert: tls.cert }, (req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => {
      body += c.toString('utf8');
    });
    req.on('end', () => {
      const host = String(req.headers.host ?? '').replace(/:\d+$/, '');
      hits.push({ host, method: req.method ?? '', url: req.url ?? '', contentType: req.headers['content-type'], body });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ data: { id: 7, host, method: req.method, path: req.url } }));
    });
  });
  const port = await new Promise<number>((resolve) =>
    fake.listen(0, '127.0.0.1', () => resolve((fake.address() as AddressInfo).port)),
  );
  stack = await TestStack.start(
    {},
    {
      egress: {
        lookup: async (host) => (HOSTS.includes(host) ? [{ address: '127.0.0.1', family: 4 }] : []),
        allowPrivate: (address) => address === '127.0.0.1',
        ca: tls.cert,
        upstreamPort: (host, p) => (HOSTS.includes(host) && p === 443 ? port : p),
      },
    },
  );
}, 120_000);

afterAll(async () => {
  await stack?.destroy();
  fake?.close();
  await rm(tmp, { recursive: true, force: true });
});

/** Imports a document, waits for the checks of change #1 (all green), merges it and connects a client. */
async function importAndServe(body: Record<string, unknown>, secret?: [string, string]) {
  const r = await stack.api<Imported>('POST', '/api/v1/servers', body);
  expect(r.status, JSON.stringify(r.body).slice(0, 1000)).toBe(201);
  const name = r.body.server.name;
  if (secret) {
    const put = await stack.api('PUT', `/api/v1/servers/${name}/secrets/${secret[0]}`, { value: secret[1] });
    expect(put.status).toBeLessThan(300);
  }
  const change = await stack.waitChecks(name, 1, 420_000);
  expect(change.checks.map((c) => c.name)).toEqual(
    expect.arrayContaining([
      'typecheck',
      'tests',
      'security',
      'secrets',
      'dependencies',
      'manifest',
      'surface',
      'preview',
      'contract',
    ]),
  );
  const failed = change.checks.filter((c) => !['success', 'neutral', 'skipped'].includes(c.conclusion ?? ''));
  expect(failed, JSON.stringify(failed)).toEqual([]);
  const merged = await stack.api<{ sha: string }>('POST', `/api/v1/servers/${name}/changes/1/merge`);
  expect(merged.status, JSON.stringify(merged.body)).toBe(200);
  const ready = await stack.waitReady(name, merged.body.sha, 180_000);
  return { imported: r.body, client: await stack.mcpClient(ready.url) };
}

describe('real OpenAPI documents import, go green and serve', () => {
  it('Directus (@directus/specs): selected operations, its auth replaced by a bearer token', async () => {
    const document = JSON.parse(await readFile(DIRECTUS_DOC, 'utf8')) as { paths: Record<string, unknown> };
    expect(Object.keys(document.paths).length).toBeGreaterThan(50);
    const { imported, client } = await importAndServe(
      {
        name: 'directus',
        openapi: document,
        baseUrl: 'https://directus.example.com',
        operations: [
          'getItems',
          'createItem',
          'getItem',
          'updateItem',
          'deleteItem',
          'getCollections',
          'getFiles',
          'getUsers',
          'getMe',
          'serverInfo',
          'getActivities',
          'getSettings',
        ],
        auth: { type: 'bearer', secret: 'DIRECTUS_TOKEN' },
      },
      ['DIRECTUS_TOKEN', 'directus-test-token'],
    );
    // Its one flaw: a request body schema that is null.
    expect(imported.warnings).toEqual([
      {
        path: '#/paths/~1items~1{collection}/post/requestBody/content/application~1json/schema',
        message: 'is null: read as a schema that accepts anything',
      },
    ]);
    expect(imported.change.body).toContain('**Warnings** (1)');
    try {
      const { tools } = await client.listTools();
      expect(tools).toHaveLength(12);
      const getItems = tools.find((t) => t.name === 'getItems');
      expect(getItems).toMatchObject({ title: 'List Items', annotations: { readOnlyHint: true } });
      expect(tools.find((t) => t.name === 'deleteItem')?.annotations).toMatchObject({ destructiveHint: true });

      const result = await client.callTool({ name: 'getItem', arguments: { collection: 'articles', id: '7' } });
      expect(result.isError).toBeFalsy();
      expect(hits.at(-1)).toMatchObject({ host: 'directus.example.com', method: 'GET', url: '/items/articles/7' });
      const answer = { data: { id: 7, host: 'directus.example.com', method: 'GET', path: '/items/articles/7' } };
      expect(JSON.parse(textOf(result))).toEqual(answer);
      expect(tools.find((t) => t.name === 'getItem')?.outputSchema).toEqual({
        type: 'object',
        properties: { data: { type: 'object' } },
      });
      expect(result.structuredContent).toEqual(answer);
    } finally {
      await client.close();
    }
  }, 900_000);

  it('a Swagger 2.0 document with a `type: file` parameter: the file is a string, and the warning says so', async () => {
    const { imported, client } = await importAndServe({ name: 'files', openapi: SWAGGER_FILES });
    expect(imported.warnings).toEqual([
      {
        path: '#/paths/~1files~1{id}~1upload/post/parameters/2/type',
        message: 'is "file": sent as a string (the content as base64, or a URL)',
      },
    ]);
    expect(imported.change.body).toContain('**Warnings** (1)');
    expect(imported.change.body).toContain('`#/paths/~1files~1{id}~1upload/post/parameters/2/type`');
    try {
      const { tools } = await client.listTools();
      const upload = tools.find((t) => t.name === 'uploadFile');
      expect(JSON.stringify(upload?.inputSchema)).not.toContain('"file"}');
      expect(upload?.inputSchema.properties?.body).toMatchObject({
        type: 'object',
        properties: { file: { type: 'string' }, note: { type: 'string' } },
        required: ['file'],
      });
      expect(upload?.outputSchema).toEqual({
        type: 'object',
        properties: { id: { type: 'integer' }, size: { type: 'integer' } },
      });
      const result = await client.callTool({
        name: 'uploadFile',
        arguments: { id: 3, body: { file: 'aGVsbG8=', note: 'hello' } },
      });
      expect(result.isError).toBeFalsy();
      expect(hits.at(-1)).toMatchObject({
        host: 'files.example.com',
        method: 'POST',
        url: '/v2/files/3/upload',
        contentType: 'application/x-www-form-urlencoded',
        body: 'file=aGVsbG8%3D&note=hello',
      });
      expect(result.structuredContent).toEqual({
        data: { id: 7, host: 'files.example.com', method: 'POST', path: '/v2/files/3/upload' },
      });
    } finally {
      await client.close();
    }
  }, 900_000);

  it('a document with dangling references: the schema is read as "any", the operation it breaks is skipped', async () => {
    const { imported, client } = await importAndServe({ name: 'shop', openapi: DANGLING });
    expect(imported.warnings).toEqual([
      {
        path: '#/paths/~1orders/post/requestBody/content/application~1json/schema/$ref',
        message: '"#/components/schemas/NewOrder" points nowhere: read as a schema that accepts anything',
      },
      {
        path: '#/components/schemas/Order/properties/items/$ref',
        message: '"#/components/schemas/Item" points nowhere: read as a schema that accepts anything',
      },
      {
        path: '#/paths/~1orders~1{id}/get/responses/200/$ref',
        message: '"#/components/responses/OrderFound" points nowhere: GET /orders/{id} skipped',
      },
    ]);
    expect(imported.change.body).toContain('**Warnings** (3)');
    try {
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name).sort()).toEqual(['createOrder', 'health']);
      const result = await client.callTool({ name: 'createOrder', arguments: { body: { sku: 'x1', qty: 2 } } });
      expect(result.isError).toBeFalsy();
      expect(hits.at(-1)).toMatchObject({
        host: 'shop.example.com',
        method: 'POST',
        url: '/orders',
        body: '{"sku":"x1","qty":2}',
      });
    } finally {
      await client.close();
    }
  }, 900_000);
});
