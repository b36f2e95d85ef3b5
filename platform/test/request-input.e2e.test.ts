import { connect } from 'node:net';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAIN_THREAD_BODY_BYTES } from '../src/generation/openapi/request.ts';
import { TestStack } from './harness.ts';

// Input a real platform used to answer with 500 internal_error: strings Postgres cannot store (a NUL, an unpaired
// surrogate) in a body, a query or a path, a URL with malformed percent-encoding, a body that is not what its
// Content-Encoding says. Each is the client's fault: 400 invalid_request, before anything is written.

interface ErrorBody {
  error: { code: string; message: string; details?: { field?: string; parameter?: string; issues?: unknown[] } };
}

const NUL_MESSAGE = 'contains a NUL character (\\u0000), which cannot be stored: remove it';

/** A small OpenAPI document; `info`, `path` and `operation` override its parts. */
function petsDocument(o: { title?: string; path?: string; operationId?: string; summary?: string } = {}) {
  return {
    openapi: '3.0.0',
    info: { title: o.title ?? 'Pets', version: '1' },
    servers: [{ url: 'https://api.example.com' }],
    paths: {
      [o.path ?? '/pets']: {
        get: {
          operationId: o.operationId ?? 'listPets',
          summary: o.summary ?? 'List pets',
          responses: { 200: { description: 'ok' } },
        },
      },
    },
  };
}

describe('input the database cannot store, malformed URLs and bodies answer 400 invalid_request', () => {
  let stack: TestStack;

  beforeAll(async () => {
    stack = await TestStack.start();
  }, 120_000);
  afterAll(async () => {
    await stack?.destroy();
  });

  /** What the database holds that a refused request could have written. */
  const rows = async () => {
    const { db } = stack.platform.ctx;
    return {
      servers: await db.server.count(),
      keys: await db.apiKey.count(),
      invitations: await db.invitation.count(),
      audit: await db.auditEvent.count(),
    };
  };

  it('refuses a NUL in any body field, naming the field, and writes nothing', async () => {
    const before = await rows();
    const cases: [string, string, unknown, string][] = [
      ['POST', '/api/v1/servers', { name: 'x-y', template: 'echo', description: 'a\u0000b' }, 'description'],
      ['POST', '/api/v1/servers', { name: 'x-y', template: 'echo', options: { 'k\u0000': 1 } }, 'options."k\\u0000"'],
      ['POST', '/api/v1/keys', { name: 'a\u0000' }, 'name'],
      ['POST', '/api/v1/keys', { name: 'k', scopes: ['api', 'mcp\u0000'] }, 'scopes.1'],
      ['POST', '/api/v1/invitations', { email: 'a\u0000@x.com' }, 'email'],
      ['POST', '/api/v1/servers/demo/publish', { description: 'a\u0000' }, 'description'],
      ['POST', '/api/v1/servers/demo/changes', { branch: 'b', title: 't\u0000' }, 'title'],
    ];
    for (const [method, url, body, field] of cases) {
      const r = await stack.api<ErrorBody>(method, url, body);
      expect(r.status, `${url} ${field}`).toBe(400);
      expect(r.body.error).toEqual({
        code: 'invalid_request',
        message: `body.${field}: ${field.startsWith('options') ? `the field name ${NUL_MESSAGE}` : NUL_MESSAGE}`,
        details: { field, issues: [{ path: `body.${field}`, message: expect.any(String) }] },
      });
    }
    expect(await rows()).toEqual(before);
  });

  it('refuses an unpaired surrogate before the key or invitation is written, so no write goes unaudited', async () => {
    const before = await rows();
    for (const [url, body, field] of [
      ['/api/v1/keys', '{"name":"k\\ud800"}', 'name'],
      ['/api/v1/invitations', '{"email":"a\\udc00@x.com"}', 'email'],
      ['/api/v1/servers', '{"name":"x-y","template":"echo","description":"\\ud83d"}', 'description'],
    ] as const) {
      const r = await stack.api<ErrorBody>('POST', url, body);
      expect(r.status, url).toBe(400);
      expect(r.body.error.code).toBe('invalid_request');
      expect(r.body.error.message).toMatch(new RegExp(`^body\\.${field}: contains an unpaired UTF-16 surrogate`));
      expect(r.body.error.details?.field).toBe(field);
    }
    expect(await rows()).toEqual(before);
    // A paired surrogate (an emoji) is fine.
    const emoji = await stack.api<{ name: string }>('POST', '/api/v1/keys', '{"name":"k\\ud83d\\ude00"}');
    expect(emoji.status).toBe(201);
    expect(emoji.body.name).toBe('k😀');
  });

  it('refuses a NUL in a query or path parameter, naming the parameter', async () => {
    const cases: [string, string, string][] = [
      ['GET', '/api/v1/audit?action=%00', 'query.action'],
      ['GET', '/api/v1/audit?targetId=a%00', 'query.targetId'],
      ['GET', '/api/v1/servers/demo/logs?q=%00', 'query.q'],
      ['GET', '/api/v1/servers/demo/logs?tool=%00', 'query.tool'],
      ['GET', '/api/v1/servers/demo/metrics?tool=%00', 'query.tool'],
      ['GET', '/api/v1/templates/a%00b', 'params.ref'],
      ['DELETE', '/api/v1/me/clients/a%00b', 'params.clientId'],
      ['GET', '/api/v1/servers/a%00b', 'params.name'],
    ];
    for (const [method, url, path] of cases) {
      const r = await stack.api<ErrorBody>(method, url);
      expect(r.status, url).toBe(400);
      expect(r.body.error).toEqual({
        code: 'invalid_request',
        message: `${path}: ${NUL_MESSAGE}`,
        details: { parameter: path.split('.')[1], issues: [{ path, message: NUL_MESSAGE }] },
      });
    }
  });

  it('refuses a NUL in a sign-in, sign-up or set-password form, JSON or form-encoded', async () => {
    const login = { email: 'a\u0000@x.com', password: 'xxxxxxxxxxxx' };
    for (const [url, body] of [
      ['/auth/login', login],
      ['/auth/signup', login],
      ['/auth/setup', { token: 'bmms_setup_x', password: 'xxxxxxxxxxxx', email: 'a\u0000@x.com' }],
    ] as const) {
      const r = await stack.api<ErrorBody>('POST', url, body, { key: null });
      expect(r.status, url).toBe(400);
      expect(r.body.error).toMatchObject({ code: 'invalid_request', details: { field: 'email' } });
    }
    const form = await fetch(`${stack.url}/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'email=a%00%40x.com&password=xxxxxxxxxxxx',
    });
    expect(form.status).toBe(400);
    expect(((await form.json()) as ErrorBody).error).toMatchObject({
      code: 'invalid_request',
      message: `body.email: ${NUL_MESSAGE}`,
    });
  });

  it('takes an OpenAPI document as data: what is stored of it is made storable; the fields around it are checked', async () => {
    const odd = petsDocument({ title: 'Pe\u0000ts', path: '/pets\u0000', summary: 'List \ud800 pets' });
    const created = await stack.api<{ change: { number: number } }>('POST', '/api/v1/servers', {
      name: 'odd-pets',
      openapi: odd,
    });
    expect(created.status).toBe(201);
    const change = await stack.api<{ title: string; body: string }>('GET', '/api/v1/servers/odd-pets/changes/1');
    expect(change.body.title).toBe('Create odd-pets from the Pe\uFFFDts OpenAPI document (1 operations)');
    expect(change.body.body).toContain('/pets\uFFFD');

    const described = await stack.api<{ title: string }>('POST', '/api/v1/openapi/operations', { openapi: odd });
    expect(described.status).toBe(200);
    expect(described.body.title).toBe('Pe\u0000ts');

    const before = await rows();
    const description = await stack.api<ErrorBody>('POST', '/api/v1/servers', {
      name: 'nul-pets',
      description: 'x\u0000',
      openapi: petsDocument(),
    });
    expect(description.status).toBe(400);
    expect(description.body.error.details?.field).toBe('description');
    // A body too large for the main thread is checked by the import worker, and answers the same.
    const large = await stack.api<ErrorBody>('POST', '/api/v1/servers', {
      name: 'nul-pets',
      description: 'x\u0000',
      openapi: { ...petsDocument(), 'x-padding': 'p'.repeat(MAIN_THREAD_BODY_BYTES) },
    });
    expect(large.status).toBe(400);
    expect(large.body.error).toEqual(description.body.error);
    expect(await rows()).toEqual(before);
  });

  it('answers 400 for malformed percent-encoding in a path, on every kind of route', async () => {
    for (const [method, url, segment] of [
      ['POST', '/s/%ZZ/mcp', '%ZZ'],
      ['GET', '/.well-known/oauth-protected-resource/s/%ZZ/mcp', '%ZZ'],
      ['GET', '/api/v1/servers/%ZZ', '%ZZ'],
      ['GET', '/api/v1/templates/%E0%A4%A', '%E0%A4%A'],
      ['GET', '/api/v1/servers/%ED%A0%80', '%ED%A0%80'],
    ] as const) {
      const r = await stack.api<ErrorBody>(method, url, method === 'POST' ? {} : undefined);
      expect(r.status, url).toBe(400);
      expect(r.body.error).toEqual({
        code: 'invalid_request',
        message: `the URL has malformed percent-encoding in "${segment}": write "%" as %25, and percent-encode only whole UTF-8 characters`,
      });
    }
  });

  it('answers 400 for a body that is not what its Content-Encoding says, and reads one that is', async () => {
    for (const encoding of ['gzip', 'deflate', 'br', 'zstd']) {
      for (const url of ['/api/v1/keys', '/auth/login']) {
        const r = await stack.api<ErrorBody>('POST', url, '{}', { headers: { 'content-encoding': encoding } });
        expect(r.status, `${encoding} ${url}`).toBe(400);
        expect(r.body.error.code).toBe('invalid_request');
        expect(r.body.error.message).toMatch(new RegExp(`^the request body is not valid ${encoding} data \\(`));
      }
    }
    const json = Buffer.from(JSON.stringify({ name: 'zipped' }));
    for (const [encoding, bytes] of [
      ['gzip', gzipSync(json)],
      ['deflate', deflateSync(json)],
      ['br', brotliCompressSync(json)],
    ] as const) {
      const r = await fetch(`${stack.url}/api/v1/keys`, {
        method: 'POST',
        headers: { authorization: `Bearer ${stack.key}`, 'content-encoding': encoding },
        body: bytes,
      });
      expect(r.status, encoding).toBe(201);
    }
  });

  it('cuts a long unknown name from the URL in a 404 to 100 characters', async () => {
    const long = 'a'.repeat(5000);
    const cut = `${'a'.repeat(100)}…`;
    const server = await stack.api<ErrorBody>('GET', `/api/v1/servers/${long}`);
    expect(server.status).toBe(404);
    expect(server.body.error).toEqual({ code: 'not_found', message: `server "${cut}" not found` });
    const mcp = await stack.api<ErrorBody>('POST', `/s/${long}/mcp`, { jsonrpc: '2.0', id: 1, method: 'ping' });
    expect(mcp.status).toBe(404);
    expect(mcp.body.error.message).toBe(`MCP server "${cut}" not found`);
    const template = await stack.api<ErrorBody>('GET', `/api/v1/templates/${long}`);
    expect(template.status).toBe(404);
    expect(template.body.error).toEqual({
      code: 'template_not_found',
      message: `published template "${cut}" not found`,
    });
    const unknownRoute = await stack.api<ErrorBody>('GET', `/api/v1/${long}`);
    expect(unknownRoute.body.error.message.length).toBeLessThanOrEqual(201 + ' not found'.length);
  });

  it('holds at most two large uploads of one organization at once: one more is refused unread (503 openapi_busy)', async () => {
    const { port } = new URL(stack.url);
    // Two uploads of a 5 MB document that has not arrived yet (slow clients, or a flood that never finishes).
    const held = await Promise.all(
      Array.from({ length: 2 }, async () => {
        const socket = connect(Number(port), '127.0.0.1');
        socket.on('error', () => {});
        await new Promise((resolve) => socket.once('connect', resolve));
        socket.write(
          `POST /api/v1/servers HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: Bearer ${stack.key}\r\n` +
            `Content-Type: application/json\r\nContent-Length: ${5 * 1024 * 1024}\r\n\r\n{"name":"big","openapi":"`,
        );
        return socket;
      }),
    );
    await new Promise((r) => setTimeout(r, 200));
    const big = JSON.stringify({ name: 'one-more', openapi: 'x'.repeat(2 * 1024 * 1024) });
    const refused = await stack.api<ErrorBody>('POST', '/api/v1/servers', JSON.parse(big));
    expect(refused.status).toBe(503);
    expect(refused.body.error.code).toBe('openapi_busy');
    // Small bodies are not held up by them.
    expect((await stack.api('GET', '/api/v1/servers')).status).toBe(200);
    for (const socket of held) socket.destroy();
    await expect
      .poll(async () => (await stack.api<ErrorBody>('POST', '/api/v1/servers', JSON.parse(big))).status)
      .not.toBe(503);
  });
});
