/**
 * Push protection, run by hooks/pre-receive with the platform's Node: reads the hook's
 * "<old> <new> <ref>" lines on stdin, inspects every object the push adds (every new commit,
 * not only the tips) and exits 1 with a `bmms:` message per problem when one adds a file over
 * 1 MiB, a binary file, or a leaked credential. Credentials are masked in every line it prints.
 */
import { spawn } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { isBinaryPath, looksBinary, scanBytes, scanText } from './secrets.ts';

/** Largest file a push may add. */
export const MAX_FILE_BYTES = 1024 * 1024;
const ZERO = '0'.repeat(40);
const MAX_LINES = 20;

/** One reason to refuse a push. */
export interface PushViolation {
  path: string;
  line?: number;
  rule: string;
  message: string;
}

/** The objects a push adds (reachable from the new tips, from no existing ref), checked. */
export async function inspectPush(
  updates: { oldSha: string; newSha: string; ref: string }[],
): Promise<PushViolation[]> {
  const tips = [...new Set(updates.map((u) => u.newSha).filter((sha) => sha !== ZERO))];
  if (tips.length === 0) return [];
  const listed = await git(['rev-list', '--objects', ...tips, '--not', '--all']);
  const paths = new Map<string, string>();
  for (const line of listed.toString('utf8').split('\n')) {
    if (!line) continue;
    const space = line.indexOf(' ');
    paths.set(space === -1 ? line : line.slice(0, space), space === -1 ? '' : line.slice(space + 1));
  }
  if (paths.size === 0) return [];
  const checked = await git(
    ['cat-file', '--batch-check=%(objectname) %(objecttype) %(objectsize)'],
    `${[...paths.keys()].join('\n')}\n`,
  );
  const violations: PushViolation[] = [];
  const toRead: string[] = [];
  for (const line of checked.toString('utf8').split('\n')) {
    const [sha, type, size] = line.split(' ');
    if (!sha || (type !== 'blob' && type !== 'commit')) continue;
    const where = paths.get(sha) ?? '';
    if (type === 'blob' && Number(size) > MAX_FILE_BYTES) {
      const mib = (Number(size) / MAX_FILE_BYTES).toFixed(1);
      violations.push({ path: where, rule: 'push-file-too-large', message: `${mib} MiB, over the 1 MiB limit` });
    } else if (type === 'blob' && isBinaryPath(where)) {
      violations.push({ path: where, rule: 'push-binary', message: 'binary file type' });
    } else {
      toRead.push(sha);
    }
  }
  if (toRead.length > 0) {
    const batch = await git(['cat-file', '--batch'], `${toRead.join('\n')}\n`);
    for (const object of parseBatch(batch)) {
      if (object.type === 'commit') {
        const text = object.content.toString('utf8');
        const body = text.indexOf('\n\n');
        const label = `commit ${object.sha.slice(0, 7)} message`;
        for (const f of scanText(label, body === -1 ? '' : text.slice(body + 2))) {
          violations.push({ path: label, line: f.line, rule: f.rule, message: `${f.kind} ${f.masked}` });
        }
        continue;
      }
      const where = paths.get(object.sha) ?? object.sha;
      if (looksBinary(object.content)) {
        violations.push({ path: where, rule: 'push-binary', message: 'binary content (NUL bytes)' });
        continue;
      }
      for (const f of scanBytes(where, object.content)) {
        violations.push({ path: where, line: f.line, rule: f.rule, message: `${f.kind} ${f.masked}` });
      }
    }
  }
  return violations.sort((a, b) => a.path.localeCompare(b.path) || (a.line ?? 0) - (b.line ?? 0));
}

/** The lines the git client shows (as `remote: bmms: …`) for a refused push. */
export function refusal(violations: PushViolation[]): string[] {
  const lines = ['bmms: push refused: it adds files this server does not accept.'];
  for (const v of violations.slice(0, MAX_LINES)) {
    lines.push(`bmms:   ${v.path}${v.line ? `:${v.line}` : ''}: ${v.message} [${v.rule}]`);
  }
  if (violations.length > MAX_LINES) lines.push(`bmms:   … and ${violations.length - MAX_LINES} more`);
  if (violations.some((v) => v.rule.startsWith('secret-'))) {
    lines.push(
      'bmms: a credential in any commit stays in history: remove it from every commit of the push (git rebase -i, git commit --amend),',
      "bmms: rotate it (it must be treated as leaked), store it as a named secret and read it with ctx.secret('NAME').",
    );
  }
  if (violations.some((v) => v.rule === 'push-binary' || v.rule === 'push-file-too-large')) {
    lines.push(
      'bmms: binaries and files over 1 MiB do not belong in a server repo: remove them from every commit of the push.',
    );
  }
  return lines;
}

interface BatchObject {
  sha: string;
  type: string;
  content: Buffer;
}

/** Parses `git cat-file --batch` output: "<sha> <type> <size>\n<content>\n" per object. */
function parseBatch(out: Buffer): BatchObject[] {
  const objects: BatchObject[] = [];
  let at = 0;
  while (at < out.length) {
    const eol = out.indexOf(10, at);
    if (eol === -1) break;
    const [sha, type, size] = out.subarray(at, eol).toString('utf8').split(' ');
    if (!sha || !type || size === undefined || type === 'missing') {
      at = eol + 1;
      continue;
    }
    const end = eol + 1 + Number(size);
    objects.push({ sha, type, content: out.subarray(eol + 1, end) });
    at = end + 1;
  }
  return objects;
}

/** Runs git in the hook's repository (GIT_DIR and the quarantine come from receive-pack's env). */
function git(args: string[], input = ''): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => chunks.push(d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve(Buffer.concat(chunks));
      else reject(new Error(`git ${args[0]} exited ${code}: ${stderr.trim().split('\n')[0] ?? ''}`));
    });
    child.stdin.on('error', () => {});
    child.stdin.end(input);
  });
}

async function main(): Promise<void> {
  let input = '';
  for await (const chunk of process.stdin) input += chunk;
  const updates = input
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((p) => p.length === 3)
    .map(([oldSha, newSha, ref]) => ({ oldSha: oldSha as string, newSha: newSha as string, ref: ref as string }));
  const violations = await inspectPush(updates);
  if (violations.length === 0) return;
  process.stderr.write(`${refusal(violations).join('\n')}\n`);
  process.exitCode = 1;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((err: unknown) => {
    // Fail closed, and say nothing about object contents.
    process.stderr.write(
      `bmms: push protection failed (${err instanceof Error ? err.message : 'error'}); push refused.\n`,
    );
    process.exitCode = 1;
  });
}
