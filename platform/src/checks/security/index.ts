import type { Dirent } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { type Check, type CheckOutcome, type Finding, outcomeOf } from '../types.ts';
import { analyzeSource } from './analyze.ts';
import { SECURITY_RULES } from './rules.ts';
import { scanViews } from './views.ts';

export { SECURITY_ALLOWLIST } from './allowlist.ts';
export { analyzeSource } from './analyze.ts';
export { SECURITY_RULES, type SecurityRule } from './rules.ts';
export { analyzeViewHtml, analyzeViewScript, scanViews } from './views.ts';

const CHECKED = /\.(?:ts|mts|cts)$/;

/** Runs the security rules over every file under `<dir>/src`: findings sorted by file and line. */
export async function scanTree(dir: string, signal?: AbortSignal): Promise<{ files: number; findings: Finding[] }> {
  let entries: Dirent[];
  try {
    entries = await readdir(path.join(dir, 'src'), { recursive: true, withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { files: 0, findings: [] };
    throw err;
  }
  const findings: Finding[] = [];
  let files = 0;
  const unchecked = (file: string, what: string): void => {
    const { why, fix } = SECURITY_RULES['unchecked-file'];
    findings.push({ file, rule: 'unchecked-file', message: `${what}: ${why}`, fix });
  };
  const sources = entries.flatMap((e) => {
    const file = path.relative(dir, path.join(e.parentPath, e.name)).split(path.sep).join('/');
    if (e.isSymbolicLink()) unchecked(file, 'is a symbolic link');
    else if (e.isFile() && !CHECKED.test(e.name)) unchecked(file, 'is not a .ts file');
    else if (e.isFile()) return [file];
    return [];
  });
  await Promise.all(
    sources.map(async (file) => {
      const text = await readFile(path.join(dir, file), { encoding: 'utf8', signal });
      signal?.throwIfAborted();
      files++;
      findings.push(...analyzeSource(file, text));
    }),
  );
  findings.sort((a, b) => (a.file ?? '').localeCompare(b.file ?? '') || (a.line ?? 0) - (b.line ?? 0));
  return { files, findings };
}

/**
 * `security`: AST rules over `src/**` (allowlisted imports and globals, no code from strings, no prototype tricks),
 * and the view rules over `ui/**` (no inline code, no remote script, no HTML from strings).
 */
export const securityCheck: Check = {
  name: 'security',
  timeoutMs: 30_000,
  async run({ dir, signal }): Promise<CheckOutcome> {
    const started = performance.now();
    const { files, findings } = await scanTree(dir, signal);
    const views = await scanViews(dir, signal);
    findings.push(...views.findings);
    const ms = Math.round(performance.now() - started);
    const ui = views.files > 0 ? ` and ${views.files} view file(s) under ui/` : '';
    const outcome = outcomeOf(findings, `security: ${files} file(s) under src/${ui} follow the rules (${ms} ms)`);
    if (findings.length > 0) outcome.log += `${files} file(s) scanned in ${ms} ms\n`;
    return outcome;
  },
};
