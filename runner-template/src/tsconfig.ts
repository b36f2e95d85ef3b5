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
