import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { looksBinary, type SecretFinding, scanFile } from '@bmms/gitserver';
import { type Check, type CheckOutcome, type Finding, outcomeOf } from './types.ts';

/** How to fix any leaked credential. */
export const SECRET_FIX =
  "remove it, rotate the credential (treat it as leaked), store it as a named secret and read it with ctx.secret('NAME')";

function toFinding(f: SecretFinding, commit?: string): Finding {
  const history = commit
    ? ` — added in commit ${commit.slice(0, 7)} and gone from the final tree, but still in this change's history, which is pushed and kept`
    : '';
  return {
    file: f.path,
    line: f.line,
    rule: f.rule,
    message: `${f.kind} ${f.masked} committed in plain text: anyone who can read this repository can use it${history}`,
    fix: commit ? `${SECRET_FIX}; then rewrite the branch so no commit contains it` : SECRET_FIX,
  };
}

/** Every regular file below `dir`, repo-relative with `/`. */
async function treeFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)).split(path.sep).join('/'))
    .sort();
}

const digest = (file: string, bytes: Uint8Array) => `${file}\0${createHash('sha256').update(bytes).digest('hex')}`;

/**
 * `secrets`: leaked credentials in every file of the tree and in every commit of the change
 * (base..head) — a credential added and removed again is still in history. Values are masked.
 */
export const secretsCheck: Check = {
  name: 'secrets',
  timeoutMs: 60_000,
  async run({ dir, git, serverName, baseSha, commitSha, signal }): Promise<CheckOutcome> {
    const findings: Finding[] = [];
    const scanned = new Set<string>();
    const reported = new Set<string>();
    let files = 0;
    let binaries = 0;
    for (const file of await treeFiles(dir)) {
      if (signal.aborted) break;
      const bytes = await readFile(path.join(dir, file));
      files++;
      if (looksBinary(bytes)) binaries++;
      scanned.add(digest(file, bytes));
      for (const f of await scanFile(file, bytes)) {
        reported.add(`${f.path}\0${f.rule}\0${f.masked}`);
        findings.push(toFinding(f));
      }
    }
    let commits: string[] = [];
    if (baseSha) {
      // Oldest first, so a finding names the commit that introduced the value.
      commits = (await git.commitsBetween(serverName, baseSha, commitSha)).filter((c) => c !== commitSha).reverse();
      for (const commit of commits) {
        if (signal.aborted) break;
        for (const [file, bytes] of Object.entries(await git.readTree(serverName, commit))) {
          const key = digest(file, bytes);
          if (scanned.has(key)) continue;
          scanned.add(key);
          for (const f of await scanFile(file, bytes)) {
            const id = `${f.path}\0${f.rule}\0${f.masked}`;
            if (reported.has(id)) continue;
            reported.add(id);
            findings.push(toFinding(f, commit));
          }
        }
      }
    }
    const history = baseSha ? ` and ${commits.length} earlier commit(s) of this change` : '';
    const skipped = binaries > 0 ? ` (${binaries} binary file(s) skipped)` : '';
    return outcomeOf(findings, `no credentials in ${files} file(s)${skipped}${history}`);
  },
};
