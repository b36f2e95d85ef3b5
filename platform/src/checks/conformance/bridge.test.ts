import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openBridge } from './bridge.ts';

let dir: string;
let upstream: Server;
const seen: { path: string; authorization?: string; host?: string }[] = [];

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'bmms-bridge-'));
  upstream = createServer((req, res) => {
    seen.push({ path: req.url ?? '', authorization: req.headers.authorization, host: req.headers.host });
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"ok":true}');
    });
  });
  await new Promise<void>((resolve) => upstream.listen(path.join(dir, 'preview.sock'), resolve));
});
afterAll(async () => {
  upstream.close();
  await rm(dir, { recursive: true, force: true });
});

describe('the loopback bridge to a preview', () => {
  it('forwards requests under its secret prefix with the credential added, and refuses any other path', async () => {
    const bridge = await openBridge({
      socketPath: path.join(dir, 'preview.sock'),
      headers: () => ({ authorization: 'Bearer platform-credential' }),
    });
    try {
      expect(bridge.url).toMatch(/^http:\/\/localhost:\d+\/[0-9a-f]{32}\/mcp$/);
      const answer = await fetch(bridge.url, { method: 'POST', body: '{}' });
      expect(await answer.json()).toEqual({ ok: true });
      expect(seen.at(-1)).toMatchObject({ path: '/mcp', authorization: 'Bearer platform-credential' });
      const guessed = await fetch(new URL('/mcp', bridge.url), { method: 'POST', body: '{}' });
      expect(guessed.status).toBe(404);
      expect(seen).toHaveLength(1);
    } finally {
      await bridge.close();
    }
  });
});
