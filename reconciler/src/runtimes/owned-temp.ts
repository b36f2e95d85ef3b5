import { readFileSync, rmSync } from 'node:fs';
import { lstat, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Folders under the system's temporary folder that belong to one platform process: the bundle copies confined
 * instances read (`bmms-confined-*`), the conformance runner's bundle (`bmms-conformance-*`). Each is removed when its
 * process exits; a killed process never runs its exit handler, so each records its maker and the next process that
 * makes one of the same prefix removes those whose maker is gone.
 */

/** In an owned folder: `{pid, start}` of the process that made it. */
const OWNER_FILE = 'owner.json';
/** A folder without an owner file is left alone this long: its maker may be writing that file right now. */
const UNOWNED_GRACE_MS = 60 * 60_000;

/** Start time of a live `pid` in clock ticks since boot (/proc/<pid>/stat field 22); null when gone or a zombie. */
export function procStartTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields[0] === 'Z' || fields[0] === 'X') return null;
    return fields[19] ?? null;
  } catch {
    return null;
  }
}

/** A new folder `<tmp>/<prefix>XXXXXX` (0700) of this process: its owner recorded, removed when the process exits. */
export async function ownedTempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  const owner = { pid: process.pid, start: procStartTime(process.pid) };
  await writeFile(join(dir, OWNER_FILE), JSON.stringify(owner), { mode: 0o600 });
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * Removes the folders `<prefix>*` in `root` whose maker is gone; returns how many. A folder is ours only when it is a
 * real folder (not a link) of our uid; its maker is gone when the recorded pid no longer runs with the recorded start
 * time (a recycled pid is someone else). Folders of live processes, of other users, and recent ones without an
 * owner file are left alone.
 */
export async function sweepOwnedTempDirs(
  root: string,
  prefix: string,
  removed: (dir: string) => void = () => {},
): Promise<number> {
  let count = 0;
  for (const name of await readdir(root).catch(() => [] as string[])) {
    if (!name.startsWith(prefix)) continue;
    const dir = join(root, name);
    const info = await lstat(dir).catch(() => null);
    if (!info?.isDirectory() || info.uid !== process.getuid?.()) continue;
    const owner = await readFile(join(dir, OWNER_FILE), 'utf8')
      .then((text) => JSON.parse(text) as { pid?: unknown; start?: unknown })
      .catch(() => null);
    if (owner) {
      if (typeof owner.pid === 'number' && ownerRuns(owner.pid, owner.start)) continue;
    } else if (Date.now() - info.mtimeMs < UNOWNED_GRACE_MS) {
      continue;
    }
    await rm(dir, { recursive: true, force: true });
    removed(dir);
    count++;
  }
  return count;
}

/** Whether `pid` still runs as the process that recorded `start` (without /proc to tell: whether it runs at all). */
function ownerRuns(pid: number, start: unknown): boolean {
  if (typeof start === 'string') return procStartTime(pid) === start;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
