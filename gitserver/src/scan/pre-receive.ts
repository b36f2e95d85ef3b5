/**
 * Push protection, run by hooks/pre-receive with the platform's Node: reads the hook's
 * "<old> <new> <ref>" lines on stdin and refuses (exit 1, a `bmms:` message per problem) a push
 * that updates a ref other than a branch or a tag, is over the push or repository size limit, or
 * adds (in any new commit, not only the tips) a file over 1 MiB, a binary, a symlink, a submodule,
 * or a leaked credential in a file, a commit message or an annotated tag's message. Credentials
 * are masked in every line it prints. A refused push leaves nothing: git drops its quarantine.
 */
import { spawn } from 'node:child_process';
import type { Dirent } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { formatBytes, type PushLimits, pushLimitsFromEnv } from '../push-limits.ts';
import { scanFile, scanSource } from './preset.ts';
import { isBinaryPath, looksBinary } from './secrets.ts';

/** Largest file a push may add. */
export const MAX_FILE_BYTES = 1024 * 1024;
const ZERO = '0'.repeat(40);
const MAX_LINES = 20;
// Branches and tags only: other namespaces (refs/notes, refs/pull, refs/x) would hold objects no check sees.
const ACCEPTED_REF = /^refs\/(?:heads|tags)\/./;

/** One reason to refuse a push. */
export interface PushViolation {
  path: string;
  line?: number;
  rule: string;
  message: string;
}

type Update = { oldSha: string; newSha: string; ref: string };

/** Where the hook runs: the repository's object store and the push's quarantine (receive-pack's env). */
export interface PushStore {
  objectsDir: string;
  quarantineDir?: string;
}

/** Every reason to refuse the push: refs, sizes, then the objects it adds (skipped when it is too large). */
export async function inspectPush(updates: Update[], limits?: PushLimits, store?: PushStore): Promise<PushViolation[]> {
  const violations = refViolations(updates);
  if (limits && store) {
    const over = await sizeViolations(limits, store);
    // Reading an oversized push's objects would only spend memory on a push that is refused anyway.
    if (over.length > 0) return [...violations, ...over];
  }
  violations.push(...(await objectViolations(updates)));
  return violations.sort((a, b) => a.path.localeCompare(b.path) || (a.line ?? 0) - (b.line ?? 0));
}

function refViolations(updates: Update[]): PushViolation[] {
  return updates
    .filter((u) => !ACCEPTED_REF.test(u.ref))
    .map((u) => ({
      path: u.ref,
      rule: 'push-ref-refused',
      message: 'only branches (refs/heads/*) and tags (refs/tags/*) may be pushed',
    }));
}

async function sizeViolations(limits: PushLimits, store: PushStore): Promise<PushViolation[]> {
  const quarantine = store.quarantineDir ? path.resolve(store.quarantineDir) : undefined;
  const pushBytes = quarantine ? await dirBytes(quarantine) : 0;
  const repoBytes = (await dirBytes(path.resolve(store.objectsDir), quarantine)) + pushBytes;
  const out: PushViolation[] = [];
  if (pushBytes > limits.maxPushBytes) {
    out.push({
      path: '(push)',
      rule: 'push-too-large',
      message: `the push adds ${formatBytes(pushBytes)}, over the ${formatBytes(limits.maxPushBytes)} limit of one push`,
    });
  }
  if (repoBytes > limits.maxRepoBytes) {
    out.push({
      path: '(repository)',
      rule: 'repo-too-large',
      message: `the repository would hold ${formatBytes(repoBytes)}, over its ${formatBytes(limits.maxRepoBytes)} limit`,
    });
  }
  return out;
}

/** Bytes of the files below `dir` (a missing dir is empty), leaving out `skip`. */
async function dirBytes(dir: string, skip?: string): Promise<number> {
  let total = 0;
  let entries: Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    const full = path.join(dir, e.name);
    if (full === skip) continue;
    if (e.isDirectory()) total += await dirBytes(full, skip);
    else if (e.isFile()) total += (await stat(full).catch(() => ({ size: 0 }))).size;
  }
  return total;
}

/** The objects a push adds (reachable from the new tips, from no existing ref), checked. */
async function objectViolations(updates: Update[]): Promise<PushViolation[]> {
  const tips = [...new Set(updates.map((u) => u.newSha).filter((sha) => sha !== ZERO))];
  if (tips.length === 0) return [];
  const listed = await git(['rev-list', '--objects', ...tips, '--not', '--all']);
  const paths = new Map<string, string>();
  for (const line of listed.toString('utf8').split('\n')) {
    if (!line) continue;
    const space = line.indexOf(' ');
    paths.set(space === -1 ? line : line.slice(0, space), space === -1 ? '' : line.slice(space + 1));
  }
  // An annotated tag of an existing commit adds only the tag object, which rev-list may not list.
  for (const tip of tips) if (!paths.has(tip)) paths.set(tip, '');
  const checked = await git(
    ['cat-file', '--batch-check=%(objectname) %(objecttype) %(objectsize)'],
    `${[...paths.keys()].join('\n')}\n`,
  );
  const violations: PushViolation[] = [];
  const toRead: string[] = [];
  for (const line of checked.toString('utf8').split('\n')) {
    const [sha, type, size] = line.split(' ');
    if (!sha || !type || !['blob', 'commit', 'tag', 'tree'].includes(type)) continue;
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
  if (toRead.length === 0) return violations;
  const batch = await git(['cat-file', '--batch'], `${toRead.join('\n')}\n`);
  for (const object of parseBatch(batch)) {
    const where = paths.get(object.sha) ?? object.sha;
    if (object.type === 'tree') {
      violations.push(...treeViolations(where, object.content));
      continue;
    }
    if (object.type === 'commit' || object.type === 'tag') {
      violations.push(...(await messageViolations(object)));
      continue;
    }
    if (looksBinary(object.content)) {
      violations.push({ path: where, rule: 'push-binary', message: 'binary content (NUL bytes)' });
      continue;
    }
    for (const f of await scanFile(where, object.content)) {
      violations.push({ path: where, line: f.line, rule: f.rule, message: `${f.kind} ${f.masked}` });
    }
  }
  return violations;
}

/** Credentials in a commit's or an annotated tag's message: both are served to every clone. */
async function messageViolations(object: BatchObject): Promise<PushViolation[]> {
  const text = object.content.toString('utf8');
  const body = text.indexOf('\n\n');
  const header = text.slice(0, body === -1 ? undefined : body);
  // The tag object's own name is free text: keep it printable in the pusher's terminal.
  const tagName =
    object.type === 'tag'
      ? /^tag (.+)$/m
          .exec(header)?.[1]
          ?.replace(/[^\x20-\x7e]/g, '?')
          .slice(0, 100)
      : null;
  const label = tagName ? `tag ${tagName} message` : `${object.type} ${object.sha.slice(0, 7)} message`;
  const out: PushViolation[] = [];
  for (const f of await scanSource(label, body === -1 ? '' : text.slice(body + 2))) {
    out.push({ path: label, line: f.line, rule: f.rule, message: `${f.kind} ${f.masked}` });
  }
  return out;
}

/** Symlinks (mode 120000) and submodules (160000) in a tree: neither is checked out, so neither is accepted. */
function treeViolations(dir: string, content: Buffer): PushViolation[] {
  const out: PushViolation[] = [];
  let at = 0;
  while (at < content.length) {
    const space = content.indexOf(32, at);
    const nul = content.indexOf(0, space);
    if (space === -1 || nul === -1) break;
    const mode = content.subarray(at, space).toString('latin1');
    const name = content.subarray(space + 1, nul).toString('utf8');
    const where = dir ? `${dir}/${name}` : name;
    if (mode === '120000') {
      out.push({ path: where, rule: 'push-symlink', message: 'symbolic link: commit the file itself instead' });
    } else if (mode === '160000') {
      out.push({
        path: where,
        rule: 'push-submodule',
        message: 'submodule: vendor the code or add it as a dependency',
      });
    }
    at = nul + 21; // 20-byte object id follows the name
  }
  return out;
}

/** The lines the git client shows (as `remote: bmms: …`) for a refused push. */
export function refusal(violations: PushViolation[]): string[] {
  const lines = ['bmms: push refused: it adds or updates what this server does not accept.'];
  for (const v of violations.slice(0, MAX_LINES)) {
    lines.push(`bmms:   ${v.path}${v.line ? `:${v.line}` : ''}: ${v.message} [${v.rule}]`);
  }
  if (violations.length > MAX_LINES) lines.push(`bmms:   … and ${violations.length - MAX_LINES} more`);
  const has = (...rules: string[]) => violations.some((v) => rules.includes(v.rule));
  if (violations.some((v) => v.rule.startsWith('secret-'))) {
    lines.push(
      'bmms: a credential in any commit or tag stays in history: remove it from every commit and tag of the push (git rebase -i, git commit --amend, git tag -f),',
      "bmms: rotate it (it must be treated as leaked), store it as a named secret and read it with ctx.secret('NAME').",
    );
  }
  if (has('push-binary', 'push-file-too-large')) {
    lines.push(
      'bmms: binaries and files over 1 MiB do not belong in a server repo: remove them from every commit of the push.',
    );
  }
  if (has('push-symlink', 'push-submodule')) {
    lines.push('bmms: symlinks and submodules are not checked out, built or checked: replace them with regular files.');
  }
  if (has('push-ref-refused')) {
    lines.push('bmms: push a branch (git push origin HEAD:my-branch) or a tag instead.');
  }
  if (has('push-too-large', 'repo-too-large')) {
    lines.push('bmms: a server repo holds source code: remove large or generated files from the history of the push.');
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
  const store = {
    objectsDir: path.join(process.env.GIT_DIR ?? '.', 'objects'),
    quarantineDir: process.env.GIT_QUARANTINE_PATH,
  };
  const violations = await inspectPush(updates, pushLimitsFromEnv(process.env), store);
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
