// Postgres restarts in the middle of a deploy: the platform rides it out and converges on main's HEAD with one
// instance and no half-written history. It runs its own throw-away Postgres cluster (initdb as the `postgres`
// user), so restarting it touches no other test.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HAS_BWRAP, poll } from './harness.ts';
import { freePort, PlatformProcess } from './platform-process.ts';

const BIN = '/usr/lib/postgresql/15/bin';
const canRun = process.getuid?.() === 0 && existsSync(`${BIN}/initdb`);

/** A private Postgres cluster on a free port, run as the `postgres` user. */
class PrivateCluster {
  readonly dir: string;
  readonly port: number;
  constructor(dir: string, port: number) {
    this.dir = dir;
    this.port = port;
  }
  #pgctl(...args: string[]): void {
    execFileSync('runuser', ['-u', 'postgres', '--', `${BIN}/pg_ctl`, '-D', path.join(this.dir, 'data'), ...args], {
      stdio: 'ignore',
    });
  }
  init(): void {
    execFileSync('chown', ['postgres', this.dir]);
    execFileSync(
      'runuser',
      ['-u', 'postgres', '--', `${BIN}/initdb`, '-A', 'trust', '-U', 'postgres', path.join(this.dir, 'data')],
      {
        stdio: 'ignore',
      },
    );
    this.start();
  }
  start(): void {
    this.#pgctl(
      '-w',
      '-l',
      path.join(this.dir, 'log'),
      '-o',
      `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1`,
      'start',
    );
  }
  stop(mode: 'fast' | 'immediate'): void {
    this.#pgctl('-w', '-m', mode, 'stop');
  }
  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }
}

describe.runIf(canRun)('a Postgres restart during a deploy', () => {
  let tmp: string;
  let cluster: PrivateCluster;
  let platform: PlatformProcess;

  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'bmms-pgrestart-'));
    await chmod(tmp, 0o755);
    cluster = new PrivateCluster(await mkdtemp(path.join(tmp, 'pg-')), await freePort());
    cluster.init();
    platform = new PlatformProcess(path.join(tmp, 'platform'), {
      DATABASE_URL: cluster.url,
      BMMS_RESYNC_SECONDS: '1',
      BMMS_ROLLBACK_WINDOW_SECONDS: '0',
      ...(HAS_BWRAP ? {} : { BMMS_INSECURE_NO_SANDBOX: '1' }),
    });
    await platform.start();
  }, 120_000);
  afterAll(async () => {
    await platform?.stop();
    try {
      cluster?.stop('fast');
    } catch {
      // already down
    }
    await rm(tmp, { recursive: true, force: true });
  });

  const server = () => platform.server('demo');
  const converged = () => platform.servingHead('demo', { settled: true });

  it('converges on HEAD once the database is back', async () => {
    await platform.deployTwoRevisions('demo', tmp, { settled: true });

    // A revert starts a deploy; the database goes down as soon as the deploy is on record.
    const reverted = await platform.api<{ sha: string }>('POST', '/api/v1/servers/demo/revert', {});
    expect(reverted.status).toBe(201);
    await poll(
      async () =>
        (await server()).history.some((d) => d.state === 'progressing' || d.revision === reverted.body.sha)
          ? true
          : undefined,
      30_000,
      'the deploy on record',
    );
    cluster.stop('immediate');
    // Meanwhile the API says what is wrong instead of hanging.
    const down = await platform.api<{ error?: { code: string } }>('GET', '/api/v1/servers/demo').catch(() => null);
    expect(down?.status ?? 500).toBeGreaterThanOrEqual(500);
    await new Promise((r) => setTimeout(r, 3000));
    cluster.start();

    const s = await converged();
    expect(s.observedRevision).toBe(reverted.body.sha);
    const mcp = await platform.mcp('demo', 'tools/list');
    expect(mcp.status).toBe(200);
    expect(mcp.text).toContain('"echo"');
    expect(platform.child?.exitCode).toBeNull();
  }, 300_000);
});
