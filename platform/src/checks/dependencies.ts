import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import {
  integrityOf,
  PINNED_DEPENDENCIES,
  PINNED_DEV_DEPENDENCIES,
  RUNTIME_PACKAGE,
  RUNTIME_VERSION,
  VENDORED_RUNTIME_PATH,
  VENDORED_RUNTIME_SPEC,
} from '@bmms/runner-template';
import { packRuntime } from '@bmms/runner-template/pack';
import { z } from 'zod';
import allowlistFile from './dependency-allowlist.json' with { type: 'json' };
import { type Check, type CheckOutcome, type Finding, outcomeOf } from './types.ts';

const allowlistSchema = z.object({
  packages: z.record(
    z.string(),
    z.object({ versions: z.array(z.string()).min(1), dev: z.boolean().optional(), why: z.string().min(1) }),
  ),
});

/** A vetted package: the exact versions allowed, and whether only as a devDependency. */
export interface AllowedPackage {
  versions: string[];
  dev: boolean;
}

/**
 * The registry versions "pinned" stands for: what runner-template renders, and for the runtime itself its version
 * (repos rendered before it was vendored name it so; the vendored tarball is checked by its integrity instead).
 */
const PINNED_VERSIONS: Readonly<Record<string, string>> = {
  ...PINNED_DEPENDENCIES,
  ...PINNED_DEV_DEPENDENCIES,
  [RUNTIME_PACKAGE]: RUNTIME_VERSION,
};

/** The allowlist of dependency-allowlist.json, with "pinned" resolved to the versions runner-template renders. */
export function dependencyAllowlist(): Map<string, AllowedPackage> {
  const parsed = allowlistSchema.parse(allowlistFile);
  const out = new Map<string, AllowedPackage>();
  for (const [name, entry] of Object.entries(parsed.packages)) {
    const versions = entry.versions.map((v) => {
      if (v !== 'pinned') return v;
      const pinned = PINNED_VERSIONS[name];
      if (!pinned)
        throw new Error(`dependency-allowlist.json: "${name}" is "pinned" but runner-template pins no such package`);
      return pinned;
    });
    out.set(name, { versions, dev: entry.dev ?? false });
  }
  return out;
}

const SECTIONS = ['dependencies', 'devDependencies', 'optionalDependencies', 'peerDependencies'] as const;
const INSTALL_SCRIPTS = [
  'preinstall',
  'install',
  'postinstall',
  'preprepare',
  'prepare',
  'postprepare',
  'prepublish',
  'prepack',
  'postpack',
  'dependencies',
];
const FIX_VETTED =
  'remove it (write the code in the server, or use ctx.fetch for an HTTP API); to propose a package, ask a maintainer to vet it into the allowlist';

type SpecKind = 'exact' | 'range' | 'git-url' | 'local' | 'alias';

/** What an npm dependency spec points at: an exact registry version, a range, or somewhere else. */
function specKind(spec: string): SpecKind {
  const s = spec.trim();
  if (/^(?:npm|jsr):/i.test(s)) return 'alias';
  if (/^(?:file|link|workspace|portal):/i.test(s) || /^(?:\.{1,2}\/|\/|~\/)/.test(s)) return 'local';
  if (/^(?:git\+|git:|git@|github:|gitlab:|bitbucket:|gist:|[a-z][a-z0-9+.-]*:\/\/)/i.test(s)) return 'git-url';
  if (/^[\w.-]+\/[\w.-]+(?:#.*)?$/.test(s) && !s.startsWith('@')) return 'git-url'; // GitHub shorthand user/repo
  if (/^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/.test(s)) return 'exact';
  return 'range';
}

/** The 1-based line of `"name"` after `"section"` in the file text (best effort, for the summary). */
function lineOf(text: string, section: string | null, name: string): number | undefined {
  const from = section ? text.indexOf(`"${section}"`) : 0;
  const at = text.indexOf(`"${name}"`, Math.max(from, 0));
  return at === -1 ? undefined : text.slice(0, at).split('\n').length;
}

/**
 * The vendored runtime as the check sees it: the integrity of the tarball this platform ships, and of the one at
 * `VENDORED_RUNTIME_PATH` in the tree (null when there is none).
 */
export interface VendoredRuntime {
  expected: string;
  actual: string | null;
}

/**
 * Checks one package.json text; `file` is its repo-relative path. `vendored` (root package.json only) lets its
 * `dependencies` name the runtime as `file:vendor/…tgz`; without it that spec is a local path like any other.
 */
export function checkPackageJson(
  file: string,
  text: string,
  allowlist = dependencyAllowlist(),
  vendored?: VendoredRuntime,
): Finding[] {
  const parsed = parsePackage(text);
  if ('problem' in parsed) return [{ file, ...parsed.problem }];
  const pkg: PackageUnderCheck = { file, text, record: parsed.record, allowlist, findings: [] };
  if (vendored && file === 'package.json') pkg.vendored = vendored;
  checkSections(pkg);
  checkBundled(pkg);
  checkOverrides(pkg);
  checkInstallScripts(pkg);
  return pkg.findings;
}

/** A finding before it is placed in a file. */
type Problem = Omit<Finding, 'file' | 'line'>;

/** One package.json being checked: its text, its parsed object, and the findings so far. */
interface PackageUnderCheck {
  file: string;
  text: string;
  record: Record<string, unknown>;
  allowlist: Map<string, AllowedPackage>;
  findings: Finding[];
  /** Set for the root package.json: the vendored runtime's expected and actual integrity. */
  vendored?: VendoredRuntime;
}

/** The package.json as an object, or why it is none. */
function parsePackage(text: string): { record: Record<string, unknown> } | { problem: Problem } {
  let pkg: unknown;
  try {
    pkg = JSON.parse(text);
  } catch (err) {
    const reason = err instanceof SyntaxError ? err.message : 'unreadable';
    return {
      problem: {
        rule: 'dep-invalid-json',
        message: `is not valid JSON (${reason}): the platform cannot tell what it would install`,
        fix: 'fix the syntax (a JSON object with "dependencies" mapping names to exact versions)',
      },
    };
  }
  if (typeof pkg !== 'object' || pkg === null || Array.isArray(pkg)) {
    return {
      problem: {
        rule: 'dep-invalid-json',
        message: 'is not a JSON object',
        fix: 'restore the package.json the template renders',
      },
    };
  }
  return { record: pkg as Record<string, unknown> };
}

/** One dependency spec of `section`: a finding unless it is a vetted package at a vetted exact version. */
function checkSpec(pkg: PackageUnderCheck, section: string, name: string, spec: unknown, dev: boolean): void {
  const vendored =
    pkg.vendored && section === 'dependencies' && name === RUNTIME_PACKAGE && spec === VENDORED_RUNTIME_SPEC;
  const problem = vendored
    ? vendoredProblem(`${section}.${name}`, pkg.vendored)
    : specProblem(pkg.allowlist, `${section}.${name}`, name, spec, dev);
  if (problem) pkg.findings.push({ file: pkg.file, line: lineOf(pkg.text, section, name), ...problem });
}

/** What is wrong with `name`'s spec (`where` names it in messages), or undefined when nothing is. */
function specProblem(
  allowlist: Map<string, AllowedPackage>,
  where: string,
  name: string,
  spec: unknown,
  dev: boolean,
): Problem | undefined {
  if (typeof spec !== 'string') {
    return {
      rule: 'dep-invalid-json',
      message: `${where}: the version must be a string`,
      fix: 'write an exact version, e.g. "1.2.3"',
    };
  }
  const kind = specKind(spec);
  const vetted = allowlist.get(name);
  if (kind === 'git-url') {
    return {
      rule: 'dep-git-url',
      message: `${where}: "${spec}" installs code from a git repository or URL that nobody vetted and that can change under the same name`,
      fix: 'use a vetted registry package at an exact version, or remove it',
    };
  }
  if (kind === 'local') {
    return {
      rule: 'dep-local-path',
      message: `${where}: "${spec}" points at a file, link or workspace: it installs code outside the vetted list`,
      fix: 'put the code in src/ and import it with a relative path, or remove it',
    };
  }
  if (kind === 'alias') {
    return {
      rule: 'dep-alias',
      message: `${where}: "${spec}" installs a different package under the name "${name}"`,
      fix: vetted ? `write the exact version: "${name}": "${vetted.versions[0]}"` : FIX_VETTED,
    };
  }
  if (!vetted) {
    const allowed = [...allowlist].map(([n, p]) => `${n}@${p.versions.join('|')}${p.dev ? ' (dev)' : ''}`).join(', ');
    return {
      rule: 'dep-not-allowlisted',
      message: `${where}: "${name}" is not a vetted package: every dependency runs with this server's secrets, so only vetted ones are allowed (${allowed})`,
      fix: FIX_VETTED,
    };
  }
  if (vetted.dev && !dev) {
    return {
      rule: 'dep-not-allowlisted',
      message: `${where}: "${name}" is vetted for type-checking only, never as a runtime dependency`,
      fix: `move it to devDependencies: "${name}": "${vetted.versions[0]}"`,
    };
  }
  if (kind === 'range') {
    return {
      rule: 'dep-unpinned',
      message: `${where}: "${spec}" is not an exact version: a range installs whatever is newest, not what was vetted`,
      fix: `pin the exact version: "${name}": "${vetted.versions[0]}"`,
    };
  }
  if (!vetted.versions.includes(spec.trim())) {
    return {
      rule: 'dep-not-allowlisted',
      message: `${where}: ${name} ${spec} is not a vetted version of ${name} (vetted: ${vetted.versions.join(', ')})`,
      fix: `pin the vetted version: "${name}": "${vetted.versions[0]}"`,
    };
  }
  return undefined;
}

/** What is wrong with the vendored runtime tarball (missing, or not byte for byte the one the platform ships). */
function vendoredProblem(where: string, vendored: VendoredRuntime | undefined): Problem | undefined {
  if (!vendored) return undefined;
  const restore = `restore ${VENDORED_RUNTIME_PATH} as the platform committed it (git checkout <an earlier commit> -- ${VENDORED_RUNTIME_PATH}), or let the platform's next change refresh it`;
  if (vendored.actual === null) {
    return {
      rule: 'dep-vendored-runtime',
      message: `${where}: "${VENDORED_RUNTIME_SPEC}" names the vendored runtime, but ${VENDORED_RUNTIME_PATH} is not in the tree`,
      fix: restore,
    };
  }
  if (vendored.actual !== vendored.expected) {
    return {
      rule: 'dep-vendored-runtime',
      message: `${where}: ${VENDORED_RUNTIME_PATH} is not the runtime this platform ships (its integrity is ${vendored.actual.slice(0, 22)}…, expected ${vendored.expected.slice(0, 22)}…): a changed tarball installs unvetted code that runs with this server's secrets`,
      fix: restore,
    };
  }
  return undefined;
}

/** dependencies, devDependencies, optionalDependencies, peerDependencies: every spec of each. */
function checkSections(pkg: PackageUnderCheck): void {
  const { file, text, record, findings } = pkg;
  for (const section of SECTIONS) {
    const deps = record[section];
    if (deps === undefined) continue;
    if (typeof deps !== 'object' || deps === null || Array.isArray(deps)) {
      findings.push({
        file,
        line: lineOf(text, null, section),
        rule: 'dep-invalid-json',
        message: `"${section}" must be an object of name → version`,
        fix: 'write { "name": "1.2.3" }',
      });
      continue;
    }
    for (const [name, spec] of Object.entries(deps)) checkSpec(pkg, section, name, spec, section === 'devDependencies');
  }
}

/** bundledDependencies / bundleDependencies: bundled packages ship their code as they are, so only vetted ones. */
function checkBundled(pkg: PackageUnderCheck): void {
  const { file, text, record, allowlist, findings } = pkg;
  for (const section of ['bundledDependencies', 'bundleDependencies']) {
    const bundled = record[section];
    if (bundled === undefined || bundled === false) continue;
    const names = Array.isArray(bundled) ? bundled : [];
    if (!Array.isArray(bundled) && bundled !== true) {
      findings.push({
        file,
        line: lineOf(text, null, section),
        rule: 'dep-invalid-json',
        message: `"${section}" must be a list of names`,
        fix: `remove "${section}"`,
      });
    }
    for (const name of names) {
      if (typeof name !== 'string' || !allowlist.has(name)) {
        findings.push({
          file,
          line: lineOf(text, section, String(name)),
          rule: 'dep-not-allowlisted',
          message: `${section}: "${String(name)}" is not a vetted package: bundled packages ship unvetted code`,
          fix: FIX_VETTED,
        });
      }
    }
  }
}

/** npm `overrides`, yarn `resolutions`, pnpm `pnpm.overrides`: they swap packages anywhere in the tree. */
function checkOverrides(pkg: PackageUnderCheck): void {
  const { record } = pkg;
  const pnpm = record.pnpm;
  const overrideSources: [string, unknown][] = [
    ['overrides', record.overrides],
    ['resolutions', record.resolutions],
    [
      'pnpm.overrides',
      typeof pnpm === 'object' && pnpm !== null ? (pnpm as Record<string, unknown>).overrides : undefined,
    ],
  ];
  for (const [section, value] of overrideSources) {
    if (value === undefined) continue;
    const walk = (node: unknown, label: string) => {
      if (typeof node !== 'object' || node === null || Array.isArray(node)) return;
      for (const [key, spec] of Object.entries(node)) {
        const fullName = key === '.' ? label : overrideName(key);
        if (typeof spec === 'object' && spec !== null) walk(spec, fullName);
        else if (typeof spec === 'string' && spec.startsWith('$'))
          checkSpec(pkg, section, fullName, dollarRef(record, spec.slice(1)), false);
        else checkSpec(pkg, section, fullName, spec, false);
      }
    };
    walk(value, section);
  }
}

/** Lifecycle scripts that npm runs at install or pack time. */
function checkInstallScripts(pkg: PackageUnderCheck): void {
  const scripts = pkg.record.scripts;
  if (typeof scripts !== 'object' || scripts === null) return;
  for (const name of Object.keys(scripts)) {
    if (!INSTALL_SCRIPTS.includes(name)) continue;
    pkg.findings.push({
      file: pkg.file,
      line: lineOf(pkg.text, 'scripts', name),
      rule: 'dep-install-script',
      message: `scripts.${name} runs commands when the package is installed or packed, on the machine that builds the server`,
      fix: `remove scripts.${name}: the platform builds servers itself and runs nothing at install`,
    });
  }
}

/** The package an override key replaces: "parent>child", "a/b", "@scope/name@^1" → the last package name. */
function overrideName(key: string): string {
  const segments = (key.split('>').pop() ?? key).split('/');
  const scoped = segments.length >= 2 && (segments[segments.length - 2] ?? '').startsWith('@');
  const name = scoped ? segments.slice(-2).join('/') : (segments[segments.length - 1] ?? key);
  return name.replace(/(?<=.)@.*$/, '');
}

/** The spec an override's `$name` reference points at (the direct dependency's spec). */
function dollarRef(record: Record<string, unknown>, name: string): unknown {
  for (const section of SECTIONS) {
    const deps = record[section];
    if (typeof deps === 'object' && deps !== null && name in deps) return (deps as Record<string, unknown>)[name];
  }
  return `$${name}`;
}

/** Every package.json of the tree (outside node_modules), repo-relative. */
async function packageFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile() && e.name === 'package.json')
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)).split(path.sep).join('/'))
    .filter((p) => !p.split('/').includes('node_modules'))
    .sort();
}

/** The vendored runtime of the tree in `dir`, when its root package.json names it (else undefined). */
async function vendoredRuntimeOf(
  dir: string,
  expected: () => Promise<string>,
  rootText: string,
): Promise<VendoredRuntime | undefined> {
  if (!rootText.includes(VENDORED_RUNTIME_SPEC)) return undefined;
  const bytes = await readFile(path.join(dir, VENDORED_RUNTIME_PATH)).catch(() => null);
  return { expected: await expected(), actual: bytes ? integrityOf(bytes) : null };
}

/**
 * `dependencies`: every package.json names only vetted packages at exact versions, with no install scripts; the
 * runtime may be the vendored tarball when it is exactly the one `runtimeIntegrity` names (the platform's pack).
 */
export function createDependenciesCheck(
  runtimeIntegrity: () => Promise<string> = async () => (await packRuntime()).integrity,
): Check {
  return {
    name: 'dependencies',
    timeoutMs: 60_000,
    run: ({ dir }) => runDependenciesCheck(dir, runtimeIntegrity),
  };
}

/** `dependencies` with the runtime this platform packs. */
export const dependenciesCheck: Check = createDependenciesCheck();

async function runDependenciesCheck(dir: string, runtimeIntegrity: () => Promise<string>): Promise<CheckOutcome> {
  const allowlist = dependencyAllowlist();
  const files = await packageFiles(dir);
  if (!files.includes('package.json')) {
    return outcomeOf(
      [
        {
          file: 'package.json',
          rule: 'dep-missing',
          message: 'missing at the root: the platform cannot tell which runtime this server is built against',
          fix: `restore the package.json the template renders (dependencies: ${Object.entries(PINNED_DEPENDENCIES)
            .map(([n, v]) => `"${n}": "${v}"`)
            .join(', ')})`,
        },
      ],
      '',
    );
  }
  const findings: Finding[] = [];
  let count = 0;
  const rootText = await readFile(path.join(dir, 'package.json'), 'utf8');
  const vendored = await vendoredRuntimeOf(dir, runtimeIntegrity, rootText);
  for (const file of files) {
    const text = file === 'package.json' ? rootText : await readFile(path.join(dir, file), 'utf8');
    findings.push(...checkPackageJson(file, text, allowlist, vendored));
    try {
      const pkg = JSON.parse(text) as Record<string, unknown>;
      for (const s of SECTIONS) count += Object.keys((pkg[s] as object | undefined) ?? {}).length;
    } catch {
      // reported above
    }
  }
  const runtime = vendored ? ', the vendored runtime is the one the platform ships' : '';
  return outcomeOf(
    findings,
    `${files.length} package.json file(s), ${count} dependencies: all vetted and pinned${runtime}, no install scripts`,
  );
}
