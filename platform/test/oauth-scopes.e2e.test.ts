import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { unixRequest } from '@bmms/reconciler';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ServerBody, TestStack } from './harness.ts';
import { connectWithOpenidClient, mcpPost } from './oauth-helpers.ts';

const PASSWORD = 'correct horse battery staple';
const OWNER = { email: 'owner@localhost', password: PASSWORD };
const CALL_ADD = { method: 'tools/call', params: { name: 'add', arguments: { a: 2, b: 3 } } };
const CALL_ECHO = { method: 'tools/call', params: { name: 'echo', arguments: { text: 'hi' } } };

/** Scopes per tool (manifest `scopes`), API key scopes, membership, and the instance's own credential check. */
describe('OAuth scopes and the internal credential', () => {
  let stack: TestStack;
  let gamma: ServerBody;

  beforeAll(async () => {
    stack = await TestStack.start();
    expect((await stack.api('PUT', '/api/v1/me/password', { password: PASSWORD })).status).toBe(204);
    await stack.createAndDeploy('gamma');
    // The tool `add` now requires its own scope.
    const wd = await stack.clone('gamma');
    const file = path.join(wd.dir, 'mcp.json');
    const manifest = JSON.parse(await readFile(file, 'utf8')) as { tools: { name: string; scopes?: string[] }[] };
    for (const tool of manifest.tools) if (tool.name === 'add') tool.scopes = ['math:add'];
    await writeFile(file, `${JSON.stringify(manifest, null, 2)}\n`);
    const sha = await wd.commitAndPush('add needs math:add', 'main');
    gamma = await stack.waitReady('gamma', sha, 180_000);
  }, 300_000);

  afterAll(async () => {
    await stack?.destroy();
  });

  it('lists the tool scope in the resource metadata', async () => {
    const meta = (await (await fetch(`${stack.url}/.well-known/oauth-protected-resource/s/gamma/mcp`)).json()) as {
      scopes_supported: string[];
    };
    expect(meta.scopes_supported).toEqual(['mcp:tools', 'math:add']);
  });

  it('a token without the tool scope may call other tools, and gets 403 insufficient_scope for that one', async () => {
    const { accessToken } = await connectWithOpenidClient(stack.url, gamma.url, OWNER);
    expect((await mcpPost(gamma.url, accessToken, CALL_ECHO)).status).toBe(200);
    const res = await mcpPost(gamma.url, accessToken, CALL_ADD);
    expect(res.status).toBe(403);
    expect(res.body).toEqual({ error: { code: 'insufficient_scope', message: 'this call needs scope math:add' } });
    expect(res.headers.get('www-authenticate')).toBe(
      `Bearer error="insufficient_scope", scope="mcp:tools math:add", resource_metadata="${stack.url}/.well-known/oauth-protected-resource/s/gamma/mcp", error_description="this call needs scope math:add"`,
    );
  });

  it('a token with the tool scope calls it', async () => {
    const { accessToken } = await connectWithOpenidClient(stack.url, gamma.url, OWNER, undefined, 'mcp:tools math:add');
    const res = await mcpPost(gamma.url, accessToken, CALL_ADD);
    expect(res.status).toBe(200);
    expect(JSON.stringify(res.body)).toContain('"text":"5"');
  });

  it('an API key carries scopes: one without mcp:tools cannot call, one with it can', async () => {
    const apiOnly = await stack.api<{ key: string }>('POST', '/api/v1/keys', { name: 'ci', scopes: ['api'] });
    expect(apiOnly.status).toBe(201);
    const refused = await mcpPost(gamma.url, apiOnly.body.key, CALL_ECHO);
    expect(refused.status).toBe(403);
    expect(refused.body).toEqual({ error: { code: 'insufficient_scope', message: 'this call needs scope mcp:tools' } });
    const mcp = await stack.api<{ key: string }>('POST', '/api/v1/keys', { name: 'agent', scopes: ['mcp:tools'] });
    expect((await mcpPost(gamma.url, mcp.body.key, CALL_ECHO)).status).toBe(200);
    // …and an MCP-only key does not open the REST API.
    const rest = await stack.api('GET', '/api/v1/servers', undefined, { key: mcp.body.key });
    expect(rest.status).toBe(403);
    expect(rest.body).toEqual({
      error: { code: 'forbidden', message: 'this API key\'s scopes (mcp:tools) do not include "api"' },
    });
  });

  it('a body the gateway and the instance could read differently never skips the per-tool scope check', async () => {
    const key = (await stack.api<{ key: string }>('POST', '/api/v1/keys', { name: 'bom', scopes: ['mcp:tools'] })).body
      .key;
    const post = async (body: Buffer, contentType = 'application/json') => {
      const res = await fetch(gamma.url, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${key}`,
          'content-type': contentType,
          accept: 'application/json, text/event-stream',
        },
        body: new Uint8Array(body),
      });
      return { status: res.status, body: (await res.json()) as unknown };
    };
    const addCall = JSON.stringify({ jsonrpc: '2.0', id: 7, ...CALL_ADD });
    const refused = { error: { code: 'insufficient_scope', message: 'this call needs scope math:add' } };
    // A UTF-8 byte-order mark: the instance's decoder drops it, so the gateway must too.
    const bom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(addCall)]);
    expect(await post(bom)).toEqual({ status: 403, body: refused });
    // …in a batch, and with the tool name spelled with a JSON escape.
    const batch = Buffer.concat([
      Buffer.from([0xef, 0xbb, 0xbf]),
      Buffer.from(`[${addCall.replace('"add"', '"\\u0061dd"')}]`),
    ]);
    expect(await post(batch)).toEqual({ status: 403, body: refused });
    // UTF-16 (whatever the charset says, the instance reads UTF-8): not JSON to either, refused before forwarding.
    const utf16 = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(addCall, 'utf16le')]);
    expect(await post(utf16, 'application/json; charset=utf-16le')).toEqual({
      status: 400,
      body: { jsonrpc: '2.0', error: { code: -32700, message: 'Parse error: Invalid JSON' }, id: null },
    });
    // The same call without tricks is refused the same way, and an allowed one still passes with a BOM.
    expect(await post(Buffer.from(addCall))).toEqual({ status: 403, body: refused });
    const echo = Buffer.concat([
      Buffer.from([0xef, 0xbb, 0xbf]),
      Buffer.from(JSON.stringify({ jsonrpc: '2.0', id: 8, ...CALL_ECHO })),
    ]);
    const ok = await post(echo);
    expect(ok.status).toBe(200);
    expect(JSON.stringify(ok.body)).toContain('"text":"hi"');
    // The key's last use is written off the call path, in a batch.
    await stack.platform.ctx.directory.flush();
    const keys = await stack.api<{ keys: { name: string; lastUsedAt: string | null }[] }>('GET', '/api/v1/keys');
    expect(keys.body.keys.find((k) => k.name === 'bom')?.lastUsedAt).toEqual(expect.any(String));
  });

  it('the instance refuses calls that do not carry the gateway credential', async () => {
    const route = stack.platform.ctx.routes.get('gamma');
    if (!route) throw new Error('gamma has no route');
    const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' });
    const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
    const bare = await unixRequest(route.socketPath, { method: 'POST', path: '/mcp', headers, body });
    expect(bare.status).toBe(401);
    expect(JSON.parse(bare.body.toString())).toEqual({
      error: 'unauthorized',
      message: 'missing gateway credential: calls reach this server only through the platform',
    });
    const forOther = stack.platform.ctx.credentials.mint({
      server: 'other',
      sub: 'x',
      scopes: ['mcp:tools'],
      client: 'c',
    });
    const wrong = await unixRequest(route.socketPath, {
      method: 'POST',
      path: '/mcp',
      headers: { ...headers, authorization: `Bearer ${forOther}` },
      body,
    });
    expect(wrong.status).toBe(401);
    expect(JSON.parse(wrong.body.toString()).message).toBe('gateway credential: issued for another server');
  });

  it('a member who leaves the org loses access at once, token or not', async () => {
    const invite = await stack.api<{ token: string }>('POST', '/api/v1/org/invitations', {
      email: 'dev@example.com',
      role: 'developer',
    });
    expect(invite.status).toBe(201);
    const signup = await fetch(`${stack.url}/auth/signup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        email: 'dev@example.com',
        password: PASSWORD,
        name: 'Dev',
        invitation: invite.body.token,
      }),
    });
    expect(signup.status).toBe(201);
    const dev = (await signup.json()) as { user: { id: string } };
    const { accessToken } = await connectWithOpenidClient(stack.url, gamma.url, {
      email: 'dev@example.com',
      password: PASSWORD,
    });
    expect((await mcpPost(gamma.url, accessToken, CALL_ECHO)).status).toBe(200);
    expect((await stack.api('DELETE', `/api/v1/org/members/${dev.user.id}`)).status).toBe(204);
    const after = await mcpPost(gamma.url, accessToken, CALL_ECHO);
    expect(after.status).toBe(403);
    expect(after.body).toEqual({
      error: { code: 'forbidden', message: 'your account is no longer a member of the organization that owns "gamma"' },
    });
  });
});
