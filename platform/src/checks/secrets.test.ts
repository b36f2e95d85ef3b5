import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { InternalGitProvider } from '@bmms/gitserver';
import { CREDENTIAL_SAMPLES } from '@bmms/gitserver/testing';
import { renderTemplate, templates } from '@bmms/runner-template';
import { afterAll, describe, expect, it } from 'vitest';
import { secretsCheck } from './secrets.ts';
import type { CheckInput } from './types.ts';

// Assembled at run time: this file holds no token-shaped literal.
const TOKEN = `ghp_${'Zq8Rt2Lm5Vx9Kp3Wn7Yc1Hd4Fg6Jb0Ts2Ea8U'.slice(0, 36)}`;
const MASKED = `ghp_…${TOKEN.slice(-2)}`;
const AUTHOR = { name: 'Test', email: 'test@example.test' };
const made: string[] = [];

afterAll(() => Promise.all(made.map((d) => rm(d, { recursive: true, force: true }))));

async function input(files: Record<string, string | Buffer>, extra: Partial<CheckInput> = {}): Promise<CheckInput> {
  const workDir = await mkdtemp(path.join(os.tmpdir(), 'bmms-secrets-'));
  made.push(workDir);
  const dir = path.join(workDir, 'repo');
  await mkdir(dir, { recursive: true });
  for (const [file, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, file)), { recursive: true });
    await writeFile(path.join(dir, file), content);
  }
  return {
    dir,
    workDir,
    serverName: 'demo',
    commitSha: '0'.repeat(40),
    baseSha: null,
    git: new InternalGitProvider({ root: path.join(workDir, 'git') }),
    signal: new AbortController().signal,
    ...extra,
  };
}

describe('secrets check', () => {
  it.each(Object.keys(templates))('passes the rendered %s template', async (name) => {
    const outcome = await secretsCheck.run(await input(renderTemplate(name, 'demo')));
    expect(outcome.summary).toMatch(/^no credentials in \d+ file\(s\)$/);
    expect(outcome.conclusion).toBe('success');
  });

  it('names file, line, rule and masked value, says why and how to fix, and never shows the token', async () => {
    const tool = [
      "import { z } from 'zod';",
      '',
      `const GITHUB = '${TOKEN}';`,
      "export const description = 'Lists issues';",
    ].join('\n');
    const outcome = await secretsCheck.run(
      await input({ 'src/tools/issues.ts': tool, 'assets/icon.bin': Buffer.from([0, 1, 2, 3]) }),
    );
    expect(outcome.conclusion).toBe('failure');
    expect(outcome.summary).toBe(
      [
        '1 finding(s):',
        `src/tools/issues.ts:3: [secret-github-token] GitHub token ${MASKED} committed in plain text: anyone who can read this repository can use it — remove it, rotate the credential (treat it as leaked), store it as a named secret and read it with ctx.secret('NAME')`,
      ].join('\n'),
    );
    expect(JSON.stringify(outcome)).not.toContain(TOKEN);
  });

  it('reports every kind of credential with its own rule', async () => {
    const pem = `-----BEGIN EC PRIVATE KEY-----\n${'MHcCAQEEIBq3Xk9Lm2Rt5Vx8Zq1Wn4Yc7Hd0Fg3Jb6Ts9Ea2UoPi'.repeat(2)}\n`;
    const outcome = await secretsCheck.run(
      await input({
        '.env': `STRIPE_KEY=sk_live_${'4eC39HqLyjWDarjtT1zdp7dc'}\nDB_PASSWORD=Xk9Lm2Rt5Vx8Zq1Wn4Yc7Hd0\n`,
        'keys/server.pem': pem,
      }),
    );
    expect(outcome.findings?.map((f) => `${f.file}:${f.line} ${f.rule}`)).toEqual([
      '.env:1 secret-stripe-key',
      '.env:2 secret-high-entropy',
      'keys/server.pem:1 secret-private-key',
    ]);
    expect(outcome.summary).toContain('sk_live_…dc');
    expect(outcome.summary).not.toContain('4eC39HqLyjWDarjtT1zdp7dc');
    expect(outcome.summary).not.toContain('Xk9Lm2Rt5Vx8Zq1Wn4Yc7Hd0');
  });

  it('finds a token added and removed again within the change: it is still in history', async () => {
    const base = await input({});
    const { git } = base;
    await git.createRepo('demo');
    const main = await git.commitFiles('demo', {
      branch: 'main',
      parent: null,
      files: { 'README.md': '# demo\n' },
      message: 'init',
      author: AUTHOR,
    });
    const leak = await git.commitFiles('demo', {
      branch: 'change',
      parent: main.sha,
      files: { 'src/config.ts': `export const token = '${TOKEN}';\n` },
      message: 'add config',
      author: AUTHOR,
    });
    const head = await git.commitFiles('demo', {
      branch: 'change',
      parent: leak.sha,
      files: { 'src/config.ts': "export const token = await ctx.secret('GITHUB_TOKEN');\n" },
      message: 'use a secret',
      author: AUTHOR,
    });
    await git.checkout('demo', head.sha, base.dir);
    const outcome = await secretsCheck.run({ ...base, commitSha: head.sha, baseSha: main.sha });
    expect(outcome.conclusion).toBe('failure');
    expect(outcome.summary).toContain(
      `src/config.ts:1: [secret-github-token] GitHub token ${MASKED} committed in plain text: anyone who can read this repository can use it — added in commit ${leak.sha.slice(0, 7)} and gone from the final tree, but still in this change's history`,
    );
    expect(outcome.summary).toContain('then rewrite the branch so no commit contains it');
    expect(JSON.stringify(outcome)).not.toContain(TOKEN);

    // The same tree checked without history (main itself) has nothing to report.
    const clean = await secretsCheck.run({ ...base, commitSha: head.sha, baseSha: null });
    expect(clean.conclusion).toBe('success');
  });

  it.each(CREDENTIAL_SAMPLES.map((c) => [c.format, c] as const))(
    'fails on a committed %s, named by its rule and masked',
    async (_, c) => {
      const outcome = await secretsCheck.run(await input({ 'src/tools/client.ts': `// client\n${c.line}\n` }));
      expect(outcome.conclusion).toBe('failure');
      expect(outcome.findings?.map((f) => `${f.file}:${f.line} ${f.rule}`)).toContain(
        `src/tools/client.ts:2 ${c.rule}`,
      );
      expect(JSON.stringify(outcome)).not.toContain(c.value);
    },
  );
});
