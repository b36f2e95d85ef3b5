import { existsSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Plugin } from 'esbuild';

/**
 * The modules every server shares (the base runtime and zod), bundled once into `vendor/` beside
 * each server bundle: a tree's own code then bundles in milliseconds, and both sides use one zod.
 */
export const VENDOR_MODULES: Record<string, string> = {
  '@bmms/runner-template/runtime': 'runtime.mjs',
  zod: 'zod.mjs',
};

/** node_modules folders from this package's location upward, as Node would search them (workspace root included). */
function fallbackNodePaths(): string[] {
  const paths: string[] = [];
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, 'node_modules');
    if (existsSync(candidate)) paths.push(candidate);
    const parent = dirname(dir);
    if (parent === dir) return paths;
    dir = parent;
  }
}

export const NODE_PATHS = fallbackNodePaths();
/** Where packages a server imports are resolved from: the platform's vetted node_modules, never the repo's. */
export const PLATFORM_RESOLVE_DIR = dirname(fileURLToPath(import.meta.url));
const SKIP = Symbol('resolved by bmms');

/**
 * Resolves the bare imports of the repo's own files from the platform's node_modules (a committed
 * `node_modules/` in a repo is never bundled: the checks do not read it), and the vendor modules to
 * `./vendor/*.mjs`.
 */
export function platformResolution(sourceDir: string, vendored: boolean): Plugin {
  return {
    name: 'bmms-resolution',
    setup(b) {
      b.onResolve({ filter: /^[^./]/ }, async (args) => {
        if (args.pluginData === SKIP || !args.importer.startsWith(`${sourceDir}/`)) return undefined;
        if (args.path.startsWith('node:') || builtinModules.includes(args.path)) return undefined;
        const vendor = vendored ? VENDOR_MODULES[args.path] : undefined;
        if (vendor) return { path: `./vendor/${vendor}`, external: true };
        const resolved = await b.resolve(args.path, {
          kind: args.kind,
          resolveDir: PLATFORM_RESOLVE_DIR,
          pluginData: SKIP,
        });
        return resolved.errors.length > 0 ? { errors: resolved.errors } : resolved;
      });
    },
  };
}
