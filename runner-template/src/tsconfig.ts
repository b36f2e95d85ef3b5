/**
 * The generated `tsconfig.json`: one definition, written into every rendered repo and used by the platform's
 * `typecheck` check, so what a user runs locally (`npm run typecheck`) and what the check enforces never drift.
 */

/** The compiler options of every generated server (strict, no emit, Node's type stripping rules). */
export const COMPILER_OPTIONS = {
  target: 'es2024',
  lib: ['es2024'],
  module: 'nodenext',
  moduleResolution: 'nodenext',
  strict: true,
  noEmit: true,
  resolveJsonModule: true,
  allowImportingTsExtensions: true,
  verbatimModuleSyntax: true,
  erasableSyntaxOnly: true,
  isolatedModules: true,
  skipLibCheck: true,
  noFallthroughCasesInSwitch: true,
  types: ['node'],
} as const;

/** The text of a rendered repo's `tsconfig.json`. */
export function tsconfigText(): string {
  return `${JSON.stringify({ compilerOptions: COMPILER_OPTIONS, include: ['src/**/*.ts'] }, null, 2)}\n`;
}

/**
 * The compiler options of a repo's views (`ui/**\/*.ts`, bundled for the browser): the server's strictness with the
 * DOM's types instead of Node's, so a view's script is type-checked like the server's code (`ui/tsconfig.json`, and
 * the platform's `typecheck` check with these very options).
 */
export const VIEW_COMPILER_OPTIONS = {
  ...COMPILER_OPTIONS,
  lib: ['es2024', 'DOM', 'DOM.Iterable'],
  types: [],
} as const;

/** Where a repo's views' compiler config lives. */
export const VIEW_TSCONFIG_PATH = 'ui/tsconfig.json';

/** The text of `ui/tsconfig.json` (its paths relative to `ui/`). */
export function viewTsconfigText(): string {
  return `${JSON.stringify({ compilerOptions: VIEW_COMPILER_OPTIONS, include: ['**/*.ts'] }, null, 2)}\n`;
}

/** The `typecheck` script of a repo with views: the server's code, then the views'. */
export const VIEW_TYPECHECK_SCRIPT = `tsc -p tsconfig.json && tsc -p ${VIEW_TSCONFIG_PATH}`;

/**
 * A repo's package.json text with its `typecheck` script covering the views too (unchanged when it already does, or
 * when it is not the generated `tsc -p tsconfig.json`: a script the user wrote is theirs).
 */
export function withViewTypecheck(packageJsonText: string): string {
  const pkg = JSON.parse(packageJsonText) as { scripts?: Record<string, string> };
  if (pkg.scripts?.typecheck !== 'tsc -p tsconfig.json') return packageJsonText;
  pkg.scripts.typecheck = VIEW_TYPECHECK_SCRIPT;
  return `${JSON.stringify(pkg, null, 2)}\n`;
}
