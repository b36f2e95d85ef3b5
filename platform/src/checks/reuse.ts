import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { CheckOutcome } from './types.ts';

/**
 * What a check that runs the code depends on: every file of the tree but Markdown, and `salt` (the check's own
 * version: what it sends, its baseline), less the files `ignored` says the check does not depend on. A change to
 * documentation only reuses the last passing run of the same files instead of running the code again.
 */
export async function inputsKey(
  serverName: string,
  dir: string,
  salt = '',
  ignored: (file: string) => boolean = () => false,
): Promise<string> {
  const hash = createHash('sha256').update(serverName).update(`\0${salt}`);
  for (const file of await treeFiles(dir)) {
    if (/\.(md|markdown)$/i.test(file) || ignored(file)) continue;
    hash.update(`\0${file}\0`).update(await readFile(path.join(dir, file)));
  }
  return hash.digest('hex');
}

/** Repo-relative paths of the tree's files, without node_modules and dot folders. */
export async function treeFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)).split(path.sep).join('/'))
    .filter((f) => !f.split('/').some((part) => part === 'node_modules' || part.startsWith('.')))
    .sort();
}

/** What a reused outcome's summary ends with. */
export const REUSED = ' (reused: no file but Markdown changed since a tree whose run passed)';

/** Outcomes that did not block a merge, by inputs key (the most recent few hundred); failures always run again. */
export class PassedRuns {
  readonly #byKey = new Map<string, CheckOutcome>();
  readonly #suffix: string;

  constructor(suffix = REUSED) {
    this.#suffix = suffix;
  }

  /** The passing outcome of the same inputs, its summary marked as reused. */
  get(key: string): CheckOutcome | undefined {
    const found = this.#byKey.get(key);
    if (!found) return undefined;
    const summary = found.summary.endsWith(this.#suffix) ? found.summary : `${found.summary}${this.#suffix}`;
    return { ...found, summary };
  }

  /** Remembers `outcome` when it passed; returns it. */
  keep(key: string, outcome: CheckOutcome): CheckOutcome {
    if (outcome.conclusion !== 'success' && outcome.conclusion !== 'neutral') return outcome;
    this.#byKey.delete(key);
    this.#byKey.set(key, outcome);
    for (const old of this.#byKey.keys()) {
      if (this.#byKey.size <= 500) break;
      this.#byKey.delete(old);
    }
    return outcome;
  }
}
