// The liveness watch on its own: an instance whose /healthz answers is left alone, one whose loop is stuck (it takes
// the connection and never answers) is killed after the configured misses in a row, one answer in between starts the
// count again, a refused connection (an instance going away) is no miss, and a probe that could not reach the loop
// (every channel busy) counts neither way.
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer as createHttpServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LivenessWatch, type Watched } from '../src/runtimes/liveness.ts';

let dir: string;
const servers: Server[] = [];
let answering: string;
let stuck: string;
let answerNext = false;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bmms-liveness-'));
  answering = join(dir, 'answering.sock');
  stuck = join(dir, 'stuck.sock');
  const ok = createHttpServer((_req, res) => res.end('ok'));
  // Takes every connection and never answers, as a process whose event loop is blocked does (the kernel accepts).
  const silent = createHttpServer((_req, res) => {
    if (answerNext) res.end('ok');
  });
  for (const [server, path] of [
    [ok, answering],
    [silent, stuck],
  ] as const) {
    await new Promise<void>((resolve) => server.listen(path, resolve));
    servers.push(server);
  }
});
afterAll(async () => {
  for (const s of servers) {
    s.closeAllConnections();
    s.close();
  }
  await rm(dir, { recursive: true, force: true });
});

function watch(instances: Watched[]) {
  const killed: { id: string; why: string }[] = [];
  const w = new LivenessWatch({
    intervalMs: 0,
    timeoutMs: 100,
    failures: 3,
    instances: () => instances,
    kill: (id, why) => killed.push({ id, why }),
  });
  return { w, killed };
}

describe('LivenessWatch', () => {
  it('kills an instance that does not answer three times in a row, and only that one', async () => {
    const { w, killed } = watch([
      { id: 'fine', socketPath: answering },
      { id: 'stuck', socketPath: stuck },
      { id: 'gone', socketPath: join(dir, 'nobody.sock') },
    ]);
    await w.check();
    await w.check();
    expect(killed).toEqual([]);
    await w.check();
    expect(killed).toEqual([{ id: 'stuck', why: expect.stringMatching(/^unresponsive: \/healthz did not answer/) }]);
  });

  it('starts counting again after an answer', async () => {
    const { w, killed } = watch([{ id: 'stuck', socketPath: stuck }]);
    await w.check();
    await w.check();
    answerNext = true;
    await w.check();
    answerNext = false;
    await w.check();
    await w.check();
    expect(killed).toEqual([]);
    await w.check();
    expect(killed.map((k) => k.id)).toEqual(['stuck']);
  });

  it('does not count a probe that could not reach the loop (every channel busy)', async () => {
    let busy = true;
    const { w, killed } = watch([{ id: 'busy', socketPath: stuck, unreachable: () => busy }]);
    for (let i = 0; i < 5; i++) await w.check();
    expect(killed).toEqual([]);
    busy = false;
    for (let i = 0; i < 3; i++) await w.check();
    expect(killed.map((k) => k.id)).toEqual(['busy']);
  });
});
