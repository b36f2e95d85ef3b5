import { render } from '@bmms/runner-template';
import { describe, expect, it } from 'vitest';
import { ApiError, type DocumentIssue } from '../../errors.ts';
import { PLANS } from '../../plans.ts';
import { convertDocument } from './convert.ts';
import { validateTolerant } from './document.ts';
import { listOperations } from './operations.ts';

const ok = { 200: { description: 'ok' } };
const base = { openapi: '3.0.3', info: { title: 'Shop', version: '1' }, servers: [{ url: 'https://api.example.com' }] };

async function refusal(doc: Record<string, unknown>): Promise<DocumentIssue[]> {
  const err = await validateTolerant(doc).then(
    () => {
      throw new Error('expected the document to be refused');
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ApiError);
  expect((err as ApiError).code).toBe('openapi_invalid');
  return ((err as ApiError).details as { issues: DocumentIssue[] }).issues;
}

describe('reading documents that are not valid as a whole', () => {
  it('skips an operation that cannot be read and keeps the others, saying which and why', async () => {
    const { doc, warnings } = await validateTolerant({
      ...base,
      paths: {
        '/items': { get: { operationId: 'listItems', responses: ok } },
        '/broken': { get: { parameters: [{ name: 'q', in: 'nowhere', schema: {} }], responses: ok } },
      },
    });
    expect(listOperations(doc).map((o) => o.id)).toEqual(['listItems']);
    expect(warnings).toEqual([
      {
        path: '#/paths/~1broken/get/parameters/0/in',
        message: expect.stringMatching(/must be equal to one of the allowed values: GET \/broken skipped$/),
      },
    ]);
  });

  it('repairs what has one obvious reading: null and dangling schemas, untyped parameters, stray root keys', async () => {
    const { doc, warnings } = await validateTolerant({
      ...base,
      produces: ['application/json'],
      paths: {
        '/items/{id}': {
          get: {
            operationId: 'getItem',
            parameters: [{ name: 'id', in: 'path', required: true }],
            responses: { 200: { description: 'ok', content: { 'application/json': { schema: null } } } },
          },
          post: {
            operationId: 'updateItem',
            parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
            requestBody: { content: { 'application/json': { schema: { $ref: '#/components/schemas/Gone' } } } },
            responses: ok,
          },
        },
      },
    });
    expect(listOperations(doc).map((o) => o.id)).toEqual(['getItem', 'updateItem']);
    expect(warnings).toEqual([
      { path: '#/produces', message: 'is not a field of OpenAPI: ignored' },
      { path: '#/paths/~1items~1{id}/get/parameters/0', message: 'has no schema: read as a string' },
      {
        path: '#/paths/~1items~1{id}/get/responses/200/content/application~1json/schema',
        message: 'is null: read as a schema that accepts anything',
      },
      {
        path: '#/paths/~1items~1{id}/post/requestBody/content/application~1json/schema/$ref',
        message: '"#/components/schemas/Gone" points nowhere: read as a schema that accepts anything',
      },
    ]);
    const { spec } = convertDocument(doc, listOperations(doc), 'shop', PLANS.hobby, {});
    expect(spec.tools.map((t) => [t.name, t.inputSchema.properties])).toEqual([
      ['getItem', { id: { type: 'string' } }],
      ['updateItem', { id: { type: 'string' }, body: { description: 'The request body.' } }],
    ]);
  });

  it('turns a Swagger 2.0 file upload into a string (base64 or a URL), never an invalid type', async () => {
    const { doc, warnings } = await validateTolerant({
      swagger: '2.0',
      info: { title: 'Files', version: '1' },
      host: 'files.example.com',
      paths: {
        '/upload': {
          post: {
            operationId: 'upload',
            consumes: ['multipart/form-data'],
            parameters: [
              { name: 'file', in: 'formData', type: 'file', required: true, description: 'The file.' },
              { name: 'note', in: 'formData', type: 'string' },
            ],
            responses: ok,
          },
        },
      },
    });
    expect(warnings).toEqual([
      {
        path: '#/paths/~1upload/post/parameters/0/type',
        message: 'is "file": sent as a string (the content as base64, or a URL)',
      },
    ]);
    const { spec } = convertDocument(doc, listOperations(doc), 'files', PLANS.hobby, {});
    expect(JSON.stringify(spec.tools[0]?.inputSchema)).not.toContain('"type":"file"');
    expect(spec.tools[0]?.inputSchema.properties.body).toMatchObject({
      type: 'object',
      properties: {
        file: { type: 'string' },
        note: { type: 'string' },
      },
      required: ['file'],
    });
  });

  it('declares a path parameter the operation leaves undeclared, as a required string', async () => {
    const { doc, warnings } = await validateTolerant({
      ...base,
      components: { parameters: { Id: { name: 'id', in: 'path', required: true, schema: { type: 'integer' } } } },
      paths: {
        '/items/{collection}/{id}': {
          get: { operationId: 'getItem', parameters: [{ $ref: '#/components/parameters/Id' }], responses: ok },
        },
      },
    });
    expect(warnings).toEqual([
      {
        path: '#/paths/~1items~1{collection}~1{id}/get/parameters',
        message: 'does not declare the path parameter "collection": read as a required string',
      },
    ]);
    const { spec } = convertDocument(doc, listOperations(doc), 'shop', PLANS.hobby, {});
    expect(spec.tools[0]?.inputSchema).toMatchObject({
      properties: { id: { type: 'integer' }, collection: { type: 'string' } },
      required: ['id', 'collection'],
    });
    expect(spec.tools[0]?.source).toContain('encodeURIComponent(String(input["collection"]))');
  });

  it('skips an operation whose non-schema $ref points nowhere, naming where the $ref is', async () => {
    const { doc, warnings } = await validateTolerant({
      ...base,
      paths: {
        '/a': { get: { operationId: 'a', responses: { 200: { $ref: '#/components/responses/Nope' } } } },
        '/b': { get: { operationId: 'b', responses: ok } },
      },
    });
    expect(listOperations(doc).map((o) => o.id)).toEqual(['b']);
    expect(warnings).toEqual([
      {
        path: '#/paths/~1a/get/responses/200/$ref',
        message: '"#/components/responses/Nope" points nowhere: GET /a skipped',
      },
    ]);
  });

  it('refuses a document with nothing usable left, listing every problem with its JSON path', async () => {
    const issues = await refusal({
      ...base,
      paths: {
        '/a': { get: { responses: { 200: { $ref: '#/components/responses/Nope' } } } },
        '/b': { get: { parameters: [{ name: 'q', in: 'nowhere', schema: {} }], responses: ok } },
      },
    });
    expect(issues.map((i) => i.path)).toEqual([
      '#/paths/~1a/get/responses/200/$ref',
      '#/paths/~1b/get/parameters/0/in',
    ]);
    expect(issues[0]?.message).toBe('"#/components/responses/Nope" points nowhere');
  });
});

describe('the base URL of an import', () => {
  it.each([
    ['http://10.0.0.7/v1', 'is an IP address'],
    ['https://printer.local/api', 'only resolves inside a private network'],
    ['https://intranet/api', 'single-label name'],
  ])('refuses %s at import, with the baseUrl advice', async (url, why) => {
    const { doc } = await validateTolerant({
      ...base,
      servers: [{ url }],
      paths: { '/a': { get: { operationId: 'a', responses: ok } } },
    });
    let err: unknown;
    try {
      convertDocument(doc, listOperations(doc), 'lan', PLANS.hobby, {});
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).code).toBe('openapi_bad_base_url');
    expect((err as ApiError).message).toContain(why);
    expect((err as ApiError).message).toContain('pass "baseUrl" with the API\'s public address');
    // With a public baseUrl the same document imports.
    const fixed = convertDocument(doc, listOperations(doc), 'lan', PLANS.hobby, { baseUrl: 'https://api.example.com' });
    expect(Object.keys(render(fixed.spec, fixed.extras))).toContain('test/a.test.ts');
  });
});
