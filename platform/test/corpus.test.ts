import { cp, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { GitProvider } from '@bmms/gitserver';
import { afterAll, describe, expect, it } from 'vitest';
import { type Check, type CheckInput, type CheckOutcome, staticChecks } from '../src/checks/index.ts';
import { securityCheck } from '../src/checks/security/index.ts';
import { typecheckCheck } from '../src/checks/typecheck.ts';
import type { Expect } from './corpus/define.ts';
import { CORPUS_DIR } from './corpus/generate.ts';

/** Static checks must not touch git when there is no base: any call fails the test. */
const noGit = new Proxy({} as GitProvider, {
  get: (_t, name) => () => {
    throw new Error(`static check called git.${String(name)} although baseSha is null`);
  },
});

const scratch = await mkdtemp(path.join(os.tmpdir(), 'corpus-'));
afterAll(() => rm(scratch, { recursive: true, force: true }));

async function run(check: Check, dir: string, workDir?: string): Promise<CheckOutcome> {
  const input: CheckInput = {
    dir,
    workDir: workDir ?? (await mkdtemp(path.join(scratch, `${check.name}-`))),
    serverName: path.basename(dir),
    commitSha: 'f'.repeat(40),
    baseSha: null,
    git: noGit,
    signal: AbortSignal.timeout(60_000),
  };
  return check.run(input);
}

const list = async (kind: string) => (await readdir(path.join(CORPUS_DIR, kind))).sort();
const hostile = await Promise.all(
  (await list('hostile')).map(async (name) => ({
    name,
    dir: path.join(CORPUS_DIR, 'hostile', name),
    expect: JSON.parse(await readFile(path.join(CORPUS_DIR, 'hostile', name, 'EXPECT.json'), 'utf8')) as Expect,
  })),
);
const legit = (await list('legit')).map((name) => ({ name, dir: path.join(CORPUS_DIR, 'legit', name) }));
const checks = staticChecks();

describe('corpus', () => {
  it('holds at least 45 hostile and 16 legitimate servers', () => {
    expect(hostile.length).toBeGreaterThanOrEqual(45);
    expect(legit.length).toBeGreaterThanOrEqual(16);
  });

  describe('hostile servers are rejected by the expected rule', () => {
    for (const { name, dir, expect: want } of hostile) {
      const check = checks.find((c) => c.name === want.check);
      it.skipIf(!check)(`${name}: ${want.check} [${want.rule}] — ${want.what}`, async () => {
        const outcome = await run(check as Check, dir);
        expect(outcome.conclusion, outcome.summary).toBe('failure');
        const finding = outcome.findings?.find((f) => f.rule === want.rule);
        expect(finding, `no [${want.rule}] finding in:\n${outcome.summary}`).toBeDefined();
        expect(outcome.summary).toContain(`[${want.rule}]`);
        if (finding?.file) expect(outcome.summary).toContain(finding.file);
        if (want.check === 'security') expect(finding?.file).toMatch(/^src\//);
      });
    }
  });

  describe('legitimate servers pass every static check with zero findings', () => {
    for (const { name, dir } of legit) {
      it(name, async () => {
        for (const check of checks) {
          const outcome = await run(check, dir);
          expect(outcome.findings ?? [], `${check.name}: ${outcome.summary}`).toEqual([]);
          expect(outcome.conclusion, `${check.name}: ${outcome.summary}`).toBe('success');
        }
      });
    }
  });

  it('legitimate servers compile (typecheck)', { timeout: 240_000 }, async () => {
    const typecheck = typecheckCheck();
    const failures: string[] = [];
    const queue = [...legit];
    const worker = async () => {
      for (let next = queue.shift(); next; next = queue.shift()) {
        const work = await mkdtemp(path.join(scratch, `tsc-${next.name}-`));
        await cp(next.dir, path.join(work, 'repo'), { recursive: true });
        const outcome = await run(typecheck, path.join(work, 'repo'), work);
        if (outcome.conclusion !== 'success') failures.push(`${next.name}: ${outcome.summary}`);
      }
    };
    await Promise.all(Array.from({ length: Math.min(4, os.availableParallelism()) }, worker));
    expect(failures).toEqual([]);
  });

  it('security checks the largest legitimate server well under 300 ms', async () => {
    let largest = legit[0] as (typeof legit)[number];
    let most = 0;
    for (const server of legit) {
      const tools = (await readdir(path.join(server.dir, 'src/tools'))).length;
      if (tools > most) [largest, most] = [server, tools];
    }
    await run(securityCheck, largest.dir); // warm: the first run loads the compiler API
    const started = performance.now();
    const outcome = await run(securityCheck, largest.dir);
    const ms = performance.now() - started;
    console.log(`security on ${largest.name} (${most} tools): ${ms.toFixed(1)} ms`);
    expect(outcome.conclusion).toBe('success');
    expect(ms).toBeLessThan(300);
  });
});
