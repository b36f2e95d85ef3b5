import path from 'node:path';
import ts from 'typescript-api';
import { SECURITY_ALLOWLIST } from './allowlist.ts';
import type { Analysis } from './analysis.ts';
import type { SecurityRule } from './rules.ts';
import { own } from './syntax.ts';

const ALLOWED_MODULES: ReadonlySet<string> = new Set(SECURITY_ALLOWLIST.modules);
const IMPORT_META: ReadonlySet<string> = new Set(SECURITY_ALLOWLIST.importMeta);

/** Node built-in modules with a rule of their own (any other module outside the allowlist: `import-not-allowlisted`). */
const BANNED_MODULES: Readonly<Record<string, SecurityRule>> = {
  child_process: 'no-child-process',
  vm: 'no-vm',
  worker_threads: 'no-worker',
  cluster: 'no-worker',
  net: 'no-network-module',
  tls: 'no-network-module',
  dgram: 'no-network-module',
  http: 'no-network-module',
  https: 'no-network-module',
  http2: 'no-network-module',
  dns: 'no-network-module',
  'dns/promises': 'no-network-module',
  fs: 'no-fs',
  'fs/promises': 'no-fs',
  inspector: 'no-inspector',
  'inspector/promises': 'no-inspector',
  module: 'no-module-api',
  process: 'no-process',
};

/** An import, re-export or `import()` of `spec` (`how` says which): allowlisted modules and files under src/ only. */
export function checkModule(a: Analysis, node: ts.Node, spec: ts.Expression, json: boolean, how: string): void {
  if (!ts.isStringLiteralLike(spec)) {
    a.report(node, 'no-dynamic-import', `${how} with a computed specifier`);
    return;
  }
  const name = spec.text;
  if (name.startsWith('./') || name.startsWith('../')) {
    const target = path.posix.normalize(path.posix.join(path.posix.dirname(a.file), name));
    const ok = json
      ? (SECURITY_ALLOWLIST.jsonFiles as readonly string[]).includes(target)
      : target.startsWith('src/') &&
        !/[?#]/.test(name) &&
        SECURITY_ALLOWLIST.relativeExtensions.some((ext) => target.endsWith(ext));
    if (!ok) {
      const detail = json
        ? `${how} "${name}" as JSON (only ${SECURITY_ALLOWLIST.jsonFiles.join(', ')} may be)`
        : `${how} "${name}", which is not a .ts file under src/`;
      a.report(node, 'import-not-allowlisted', detail);
    }
    return;
  }
  const bare = name.startsWith('node:') ? name.slice(5) : name;
  const rule = own(BANNED_MODULES, bare);
  if (rule) a.report(node, rule, `${how} "${name}"`);
  else if (!ALLOWED_MODULES.has(name) || json) a.report(node, 'import-not-allowlisted', `${how} "${name}"`);
}

/** `import.meta`: only the allowlisted members. */
export function checkImportMeta(a: Analysis, node: ts.MetaProperty): void {
  const p = node.parent;
  const member = ts.isPropertyAccessExpression(p) && p.expression === node ? p.name.text : undefined;
  if (member === undefined || !IMPORT_META.has(member))
    a.report(node, 'no-import-meta', `uses import.meta${member ? `.${member}` : ''}`);
}
