import { type ChildProcess, spawn } from 'node:child_process';
import http from 'node:http';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NETNS_UNAVAILABLE, TestNamespace } from '../../test/netns.ts';
import { boundConnect, upstreamAgent } from './upstream.ts';

// An instance over the network, in a namespace of the test's own: it takes calls and answers /slow after 5 s, never
// anything else; cutting the namespace's link makes it a machine that was lost mid-call.
const HOST = `
const http = require('node:http');
http.createServer((req, res) => {
  console.log('got ' + req.url);
  if (req.url === '/slow') setTimeout(() => res.end('done'), 5000);
}).listen(8080, '0.0.0.0', () => console.log('ready'));
`;

describe.skipIf(NETNS_UNAVAILABLE !== '')(
  `a call to an instance over the network ${NETNS_UNAVAILABLE ? `(skipped: ${NETNS_UNAVAILABLE})` : ''}`,
  () => {
    let ns: TestNamespace;
    let host: ChildProcess;
    const heard: string[] = [];
    const waiting: (() => void)[] = [];
    const got = (path: string) =>
      new Promise<void>((resolve) => {
        const check = () => (heard.includes(`got ${path}`) ? resolve() : waiting.push(check));
        check();
      });

    beforeAll(async () => {
      ns = TestNamespace.create('ka');
      host = spawn('ip', ['netns', 'exec', ns.name, process.execPath, '-e', HOST], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      createInterface({ input: host.stdout as NodeJS.ReadableStream }).on('line', (line) => {
        heard.push(line);
        for (const w of waiting.splice(0)) w();
      });
      await new Promise<void>((resolve) => {
        const ready = () => (heard.includes('ready') ? resolve() : waiting.push(ready));
        ready();
      });
    }, 30_000);

    afterAll(() => {
      host?.kill('SIGKILL');
      ns?.remove();
    });

    // A call as the gateway sends it: on its agent, with its connect bound.
    const call = (path: string) => {
      const req = http.request({ host: ns.address, port: 8080, path, method: 'POST', agent: upstreamAgent });
      boundConnect(req);
      const answer = new Promise<{ status?: number; code?: string; at: number }>((resolve) => {
        req.on('response', (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode, at: Date.now() }));
        });
        req.on('error', (err: NodeJS.ErrnoException) => resolve({ code: err.code, at: Date.now() }));
      });
      req.end('{}');
      return answer;
    };

    it('keeps a call whose instance is alive, however long it takes to answer', async () => {
      const started = Date.now();
      const answer = await call('/slow');
      expect(answer.status).toBe(200);
      expect(answer.at - started).toBeGreaterThanOrEqual(4900);
    }, 30_000);

    it('fails a call within seconds when the instance’s machine is lost while it waits for the answer', async () => {
      const answer = call('/never');
      await got('/never');
      const lost = Date.now();
      ns.cut();
      const { code, at } = await answer;
      // Without the agent's probes the kernel retries for a quarter of an hour; with them: 1 s idle + 10 probes.
      expect(code).toBe('ETIMEDOUT');
      expect(at - lost).toBeLessThan(20_000);
    }, 60_000);
  },
);
