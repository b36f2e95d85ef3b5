import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { BWRAP_PATH, browserEnvironment } from '../src/views/browser.ts';

const run = promisify(execFile);
const SANDBOX = path.resolve(import.meta.dirname, '../src/views/chromium-sandbox.sh');

// The views check runs a customer's view in Chromium, which runs without its own sandbox: the wrapper that starts
// it is the boundary. Here the wrapper starts a shell instead of the browser and looks around from inside.
describe.skipIf(!existsSync(BWRAP_PATH))('the views check browser sandbox (chromium-sandbox.sh)', () => {
  const inside = async (script: string, env: Record<string, string> = {}) =>
    (
      await run(SANDBOX, ['-c', script], {
        env: { PATH: '/usr/bin:/bin', BMMS_CHROMIUM_REAL: '/usr/bin/sh', ...env },
        timeout: 20_000,
      })
    ).stdout.trim();

  it('runs as nobody, sees /usr and nothing of the platform (no data dir, repos, keys or home)', async () => {
    expect(await inside('id -u; id -g')).toBe('65534\n65534');
    const root = (await inside('ls -A /')).split('\n').sort();
    expect(root).toEqual(['bin', 'dev', 'etc', 'lib', 'lib64', 'proc', 'run', 'sbin', 'tmp', 'usr']);
    expect(await inside(`test -e ${JSON.stringify(process.cwd())} && echo visible || echo hidden`)).toBe('hidden');
    expect(await inside('ls -A /tmp /run /dev/shm | grep -v : | grep . || echo empty')).toBe('empty');
    expect(await inside('ls /etc')).not.toMatch(/passwd|shadow|hosts|resolv/);
  });

  it('has no network but its own loopback, and no process of the host', async () => {
    const interfaces = (await inside('tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " "')).split('\n');
    expect(interfaces).toEqual(['lo']);
    // Its own pid namespace: the shell is one of the few processes it can see.
    const pids = (await inside('ls /proc | grep -E "^[0-9]+$"')).split('\n');
    expect(pids.length).toBeLessThan(5);
  });

  it('gets only the environment the check gives it (never the platform one) and drops its own settings', async () => {
    process.env.BMMS_TEST_SECRET = 'must-not-leak';
    try {
      const given = browserEnvironment('/usr/bin/sh', BWRAP_PATH);
      expect(Object.keys(given).sort()).toEqual(['BMMS_BWRAP', 'BMMS_CHROMIUM_REAL', 'PATH']);
      const seen = (await inside('env | cut -d= -f1 | sort', given)).split('\n');
      expect(seen).not.toContain('BMMS_TEST_SECRET');
      expect(seen).not.toContain('BMMS_CHROMIUM_REAL');
      expect(seen).not.toContain('BMMS_BWRAP');
      expect(seen).toContain('HOME');
    } finally {
      delete process.env.BMMS_TEST_SECRET;
    }
  });
});
