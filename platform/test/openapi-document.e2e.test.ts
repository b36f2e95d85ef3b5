import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiRouter } from '../src/api/router.ts';
import { TestStack } from './harness.ts';
import { openApiPath, routesOf } from './routes.ts';

type ErrorBody = { error: { code: string; message: string; details?: Record<string, unknown> } };
type Operation = {
  security: Record<string, string[]>[];
  parameters?: { in: string; name: string; required?: boolean }[];
  responses: Record<string, { content?: Record<string, { schema: unknown }> }>;
};
type Document = {
  openapi: string;
  servers: { url: string }[];
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, unknown>; securitySchemes: Record<string, Record<string, string>> };
};

const METHODS = ['get', 'put', 'post', 'delete', 'patch'];

let stack: TestStack;
let doc: Document;

beforeAll(async () => {
  stack = await TestStack.start();
  expect((await stack.api('POST', '/api/v1/servers', { name: 'demo', template: 'echo' })).status).toBe(201);
  const served = await stack.api<Document>('GET', '/api/v1/openapi.json', undefined, { key: null });
  expect(served.status).toBe(200);
  doc = served.body;
}, 120_000);

afterAll(async () => {
  await stack?.destroy();
});

describe('GET /api/v1/openapi.json', () => {
  it('is served without a credential, as JSON naming the platform as its server', async () => {
    const r = await stack.api('GET', '/api/v1/openapi.json', undefined, { key: null });
    expect(r.headers.get('content-type')).toMatch(/^application\/json/);
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.servers).toEqual([{ url: `${stack.url}/api/v1` }]);
  });

  it('is a valid OpenAPI 3.1 document', async () => {
    const validator = new Validator();
    const result = await validator.validate(doc);
    expect(result.errors).toBeUndefined();
    expect(result.valid).toBe(true);
    expect(validator.version).toBe('3.1');
  });

  it('proves the validator refuses a broken document', async () => {
    const broken = structuredClone(doc);
    (broken.paths['/servers'] as Record<string, unknown>).get = { responses: 'none' };
    expect((await new Validator().validate(broken)).valid).toBe(false);
  });

  it('describes every route of the API router, and nothing else', () => {
    const served = routesOf(apiRouter(stack.platform.ctx)).map((r) => `${r.method} ${openApiPath(r.path)}`);
    const documented = Object.entries(doc.paths).flatMap(([path, item]) =>
      Object.keys(item)
        .filter((key) => METHODS.includes(key))
        .map((method) => `${method} ${path}`),
    );
    expect(new Set(served).size).toBe(served.length);
    expect(documented.sort()).toEqual(served.sort());
  });

  it('declares each path parameter of each route', () => {
    for (const [path, item] of Object.entries(doc.paths)) {
      const names = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
      for (const [method, op] of Object.entries(item)) {
        const declared = (op.parameters ?? []).filter((p) => p.in === 'path');
        expect(declared.map((p) => p.name).sort(), `${method} ${path}`).toEqual([...names].sort());
        expect(declared.every((p) => p.required)).toBe(true);
      }
    }
  });

  it('names the credentials: an API key, or a session cookie with its CSRF header for changes', () => {
    expect(doc.components.securitySchemes).toMatchObject({
      apiKey: { type: 'http', scheme: 'bearer' },
      session: { type: 'apiKey', in: 'cookie', name: 'bmms_session' },
      csrf: { type: 'apiKey', in: 'header', name: 'X-CSRF-Token' },
    });
    expect(doc.paths['/servers']?.get?.security).toEqual([{ apiKey: [] }, { session: [] }]);
    expect(doc.paths['/servers']?.post?.security).toEqual([{ apiKey: [] }, { session: [], csrf: [] }]);
    expect(doc.paths['/openapi.json']?.get?.security).toEqual([]);
  });

  it('describes the answers the API really gives, and its errors', async () => {
    const ajv = new Ajv2020({ strict: false, validateFormats: false });
    ajv.addSchema(doc, 'api');
    const pointer = (...parts: string[]) => parts.map((p) => p.replaceAll('~', '~0').replaceAll('/', '~1')).join('/');
    const check = async (method: string, route: string, path: string, status: number, body?: unknown) => {
      const r = await stack.api(method.toUpperCase(), `/api/v1${path}`, body);
      expect(r.status, `${method} ${path}: ${JSON.stringify(r.body)}`).toBe(status);
      const at = `api#/${pointer('paths', route, method, 'responses', String(status), 'content', 'application/json', 'schema')}`;
      const validate = ajv.getSchema(at);
      if (!validate) throw new Error(`no schema at ${at}`);
      expect(validate(r.body), `${method} ${path}: ${ajv.errorsText(validate.errors)}`).toBe(true);
    };
    await check('get', '/servers', '/servers', 200);
    await check('get', '/servers/{name}', '/servers/demo', 200);
    await check('get', '/servers/{name}/changes', '/servers/demo/changes', 200);
    await check('get', '/servers/{name}/changes/{number}', '/servers/demo/changes/1', 200);
    await check('get', '/servers/{name}/changes/{number}/diff', '/servers/demo/changes/1/diff', 200);
    await check('get', '/servers/{name}/secrets', '/servers/demo/secrets', 200);
    await check('put', '/servers/{name}/secrets/{secret}', '/servers/demo/secrets/API_TOKEN', 201, { value: 'x' });
    await check('get', '/templates', '/templates', 200);
    await check('get', '/me', '/me', 200);
    await check('get', '/keys', '/keys', 200);
    await check('post', '/keys', '/keys', 201, { name: 'docs', scopes: ['api'] });
    await check('get', '/org/members', '/org/members', 200);
    await check('post', '/org/invitations', '/org/invitations', 201, { email: 'new@example.com' });
    await check('get', '/org/invitations', '/org/invitations', 200);
    // Errors: one shape everywhere.
    await check('get', '/servers/{name}', '/servers/nope', 404);
    await check('post', '/servers', '/servers', 400, { name: 'x', template: 5 });
  });
});

describe('requests are checked against the schemas the document shows', () => {
  const cases: [string, string, string, unknown, string, Record<string, unknown>?][] = [
    [
      'a number for a string',
      'POST',
      '/servers',
      { name: 'newer', template: 5 },
      'body.template: expected string, got number',
    ],
    [
      'an import with a document of the wrong type',
      'POST',
      '/servers',
      { name: 'newer', openapi: 5 },
      'body.openapi: expected string or object, got number',
    ],
    ['an array for the body', 'POST', '/servers', [1, 2], 'body: expected object, got array'],
    [
      'options that are not an object',
      'POST',
      '/servers',
      { name: 'newer', template: 'echo', options: 'x' },
      'body.options: expected object, got string',
    ],
    ['a missing branch', 'POST', '/servers/demo/changes', { title: 'x' }, 'body.branch: missing (expected string)'],
    [
      'a title of the wrong type',
      'POST',
      '/servers/demo/changes',
      { branch: 'x', title: 1 },
      'body.title: expected string, got number',
    ],
    ['a numeric sha', 'POST', '/servers/demo/revert', { sha: 1234 }, 'body.sha: expected string, got number'],
    [
      'a revision that is not hex',
      'POST',
      '/servers/demo/rollback',
      { revision: 'HEAD~1' },
      'body.revision: must be a commit SHA (hex)',
    ],
    [
      'tool arguments that are a list',
      'POST',
      '/servers/demo/tools/echo/call',
      { arguments: [] },
      'body.arguments: expected object, got array',
    ],
    ['a key name of the wrong type', 'POST', '/keys', { name: 7 }, 'body.name: expected string, got number'],
    [
      'scopes that are not a list',
      'POST',
      '/keys',
      { name: 'k', scopes: 'api' },
      'body.scopes: expected array, got string',
    ],
    [
      'a role that is not a string',
      'PATCH',
      '/org/members/00000000-0000-0000-0000-000000000000',
      { role: 1 },
      'body.role: expected string, got number',
    ],
    [
      'a server that is not a name',
      'POST',
      '/generations',
      { prompt: 'a server', server: 3 },
      'body.server: expected string, got number',
    ],
    [
      'a spec that is not an object',
      'POST',
      '/generations/00000000-0000-0000-0000-000000000000/confirm',
      { spec: 'x' },
      'body.spec: expected object, got string',
    ],
    [
      'a visibility of the wrong type',
      'POST',
      '/servers/demo/publish',
      { visibility: true },
      'body.visibility: expected string, got boolean',
    ],
    [
      'a state that is not one',
      'GET',
      '/servers/demo/changes?state=draft',
      undefined,
      'query.state: Invalid option: expected one of "open"|"merged"|"closed"',
    ],
    [
      'a change that is not a number',
      'GET',
      '/servers/demo/tools?change=abc',
      undefined,
      'query.change: must be a whole number',
    ],
    ['no document URL', 'GET', '/openapi/operations', undefined, 'query.url: missing (expected string)'],
  ];

  it.each(cases)('%s: 400 invalid_request naming the field', async (_what, method, path, body, message) => {
    const before = await stack.platform.ctx.db.server.count();
    const r = await stack.api<ErrorBody>(method, `/api/v1${path}`, body);
    expect(r.status, JSON.stringify(r.body)).toBe(400);
    expect(r.body.error.code).toBe('invalid_request');
    expect(r.body.error.message).toBe(message);
    const at = message.slice(0, message.indexOf(': '));
    expect(r.body.error.details?.issues).toEqual([{ path: at, message: message.slice(at.length + 2) }]);
    if (at.startsWith('body.')) expect(r.body.error.details?.field).toBe(at.slice('body.'.length));
    expect(await stack.platform.ctx.db.server.count()).toBe(before);
  });

  it('refuses unknown body fields, naming each', async () => {
    const r = await stack.api<ErrorBody>('POST', '/api/v1/servers/demo/changes', {
      branch: 'x',
      titel: 'typo',
      draft: true,
    });
    expect(r.status).toBe(400);
    expect(r.body.error).toEqual({
      code: 'invalid_request',
      message: 'body.titel: unknown field; body.draft: unknown field',
      details: {
        field: 'titel',
        issues: [
          { path: 'body.titel', message: 'unknown field' },
          { path: 'body.draft', message: 'unknown field' },
        ],
      },
    });
    const secret = await stack.api<ErrorBody>('PUT', '/api/v1/servers/demo/secrets/TOKEN', { value: 'v', note: 'x' });
    expect(secret.body.error.message).toBe('body.note: unknown field');
    expect((await stack.api('GET', '/api/v1/servers/demo/secrets')).body).not.toMatchObject({
      secrets: [{ name: 'TOKEN' }],
    });
  });

  it('ignores unknown query parameters', async () => {
    const r = await stack.api('GET', '/api/v1/servers?page=2&_=123');
    expect(r.status).toBe(200);
  });

  it('keeps the codes the services answer for their own rules', async () => {
    const cases: [string, string, unknown, string][] = [
      ['POST', '/servers', { name: 42, template: 'echo' }, 'invalid_name'],
      ['POST', '/servers', { name: 'fresh', template: 'no-such' }, 'unknown_template'],
      ['POST', '/servers', '{"name": "x",', 'invalid_json'],
      ['PUT', '/servers/demo/secrets/TOKEN', { value: 5 }, 'invalid_secret_value'],
      ['PUT', '/servers/demo/secrets/not-a-name', { value: 'v' }, 'invalid_secret_name'],
      ['POST', '/generations', {}, 'prompt_empty'],
      ['PUT', '/me/password', { password: 'short' }, 'invalid_request'],
    ];
    for (const [method, path, body, code] of cases) {
      const r = await stack.api<ErrorBody>(method, `/api/v1${path}`, body);
      expect(r.status, `${method} ${path}`).toBe(400);
      expect(r.body.error.code, `${method} ${path}: ${r.body.error.message}`).toBe(code);
    }
  });
});
