import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { EgressDeniedError, ManifestError, ToolMismatchError, validateManifest } from '../src/index.ts';
import { assertEgressAllowed, checkTools, defineTool, normalizeResult, startServer } from '../src/runtime/index.ts';
import { gatewayCredential, gatewayKeys } from './gateway-credential.ts';

describe('assertEgressAllowed', () => {
  const egress = ['api.example.com', '127.0.0.1:8080'];
  const allowed = (url: string) => {
    try {
      assertEgressAllowed(new URL(url), egress);
      return true;
    } catch (error) {
      expect(error).toBeInstanceOf(EgressDeniedError);
      return false;
    }
  };

  it('allows an exact host on its default port, and host:port exactly', () => {
    expect(allowed('https://api.example.com/v1')).toBe(true);
    expect(allowed('http://api.example.com/v1')).toBe(true);
    expect(allowed('http://127.0.0.1:8080/x')).toBe(true);
  });

  it('refuses other hosts, subdomains, other ports and other schemes', () => {
    expect(allowed('https://evil.example.com')).toBe(false);
    expect(allowed('https://x.api.example.com')).toBe(false);
    expect(allowed('https://api.example.com:8443')).toBe(false);
    expect(allowed('http://127.0.0.1:8081')).toBe(false);
    expect(allowed('http://127.0.0.1')).toBe(false);
    expect(allowed('ftp://api.example.com')).toBe(false);
  });

  it('names the refused host', () => {
    expect(() => assertEgressAllowed(new URL('https://evil.example.com/a'), egress)).toThrow(
      'Egress to "evil.example.com" is not allowed',
    );
  });
});

describe('defineTool and normalizeResult', () => {
  const add = defineTool({ name: 'add', input: { a: z.number(), b: z.number() }, handler: ({ a, b }) => a + b });

  it('validates arguments with the zod shape', () => {
    const bad = add.prepare({ a: 'x' });
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.issues.map((i) => i.path.join('.'))).toEqual(['a', 'b']);
  });

  it('normalizes strings, JSON values and full results', () => {
    expect(normalizeResult('hi')).toEqual({ content: [{ type: 'text', text: 'hi' }] });
    expect(normalizeResult({ n: 1 })).toEqual({ content: [{ type: 'text', text: '{"n":1}' }] });
    expect(normalizeResult(5)).toEqual({ content: [{ type: 'text', text: '5' }] });
    const full = { content: [{ type: 'text' as const, text: 'x' }], isError: true };
    expect(normalizeResult(full)).toBe(full);
    expect(normalizeResult(undefined)).toEqual({ content: [] });
  });
});

describe('start-up validation', () => {
  const manifest = {
    name: 'demo-server',
    version: '1.0.0',
    description: 'Demo.',
    tools: [{ name: 'add', description: 'Adds.', inputSchema: { type: 'object', properties: {} } }],
  };

  it('checkTools lists every mismatch', () => {
    const other = defineTool({ name: 'other', input: {}, handler: () => 'x' });
    expect(() => checkTools(validateManifest(manifest), [other, other])).toThrow(ToolMismatchError);
    try {
      checkTools(validateManifest(manifest), [other, other]);
    } catch (error) {
      expect((error as ToolMismatchError).problems).toEqual([
        'tool "other" is implemented more than once',
        'tool "add" is declared in mcp.json but has no implementation',
        'tool "other" is implemented but not declared in mcp.json',
      ]);
    }
  });

  it('startServer rejects an invalid manifest before listening', async () => {
    const lines: string[] = [];
    await expect(
      startServer({
        manifest: { ...manifest, name: 'X' },
        tools: [],
        ownProcess: false,
        write: (l) => lines.push(l),
        env: {},
      }),
    ).rejects.toBeInstanceOf(ManifestError);
    expect(JSON.parse(lines[0] ?? '{}')).toMatchObject({
      level: 'fatal',
      msg: 'cannot start',
      code: 'manifest_invalid',
    });
  });
});

describe('logging behind the gateway', () => {
  const { privateKey, pem } = gatewayKeys();
  const credential = () => gatewayCredential(privateKey, { aud: 'quiet-server', scope: '*' });
  const manifest = {
    name: 'quiet-server',
    version: '1.0.0',
    description: 'Logs.',
    tools: [
      { name: 'ok', description: 'Works.', inputSchema: { type: 'object', properties: {} } },
      { name: 'boom', description: 'Throws.', inputSchema: { type: 'object', properties: {} } },
    ],
  };
  const tools = [
    defineTool({ name: 'ok', input: {}, handler: () => 'fine' }),
    defineTool({
      name: 'boom',
      input: {},
      handler: () => {
        throw new Error('it broke');
      },
    }),
  ];
  const call = (port: string, name: string) =>
    fetch(`http://${port}/mcp`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        authorization: credential(),
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name, arguments: {} } }),
    });

  it('writes no line for a call that worked (the gateway records every call), one for a call that failed', async () => {
    const lines: string[] = [];
    const server = await startServer({
      manifest,
      tools,
      ownProcess: false,
      write: (l) => lines.push(l),
      env: { PORT: '0', BMMS_GATEWAY_KEY: pem },
    });
    try {
      expect((await call(server.address, 'ok')).status).toBe(200);
      expect((await call(server.address, 'boom')).status).toBe(200);
      await new Promise((r) => setTimeout(r, 20));
      const logged = lines
        .join('')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(logged.map((l) => [l.msg, l.tool])).toEqual([
        ['listening', undefined],
        ['tool call failed', 'boom'],
      ]);
    } finally {
      await server.close();
    }
  });
});
