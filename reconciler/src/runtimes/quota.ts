import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { chown, mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** What one writable folder of an instance may hold. */
export type DiskQuota = { bytes: number; inodes: number };

/** Default size of every writable path of an instance (/tmp, the compile cache); `BMMS_INSTANCE_DISK_MB`. */
export const DEFAULT_DISK_MB = 64;

/** The socket folder holds one socket: a tiny quota leaves the instance no room for anything else there. */
export const SOCKET_DIR_QUOTA: DiskQuota = { bytes: 256 * 1024, inodes: 16 };

/** The quota of a writable folder of `mb` MiB: files of at least 4 KiB each, so inodes bound it too. */
export function diskQuota(mb: number): DiskQuota {
  const bytes = Math.max(1, Math.floor(mb)) * 1024 * 1024;
  return { bytes, inodes: Math.max(64, Math.floor(bytes / 4096)) };
}

/** True when `dir` is a mount point (listed in /proc/self/mountinfo). */
export function isMountPoint(dir: string): boolean {
  const escaped = dir.replace(/[ \t\n\\]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`);
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .some((line) => line.split(' ')[4] === escaped);
}

/**
 * Mounts a size- and inode-limited tmpfs at `dir` on the host, owned by `owner` (mode 0700 unless told): whatever the
 * instance writes there, the host's disk never sees it and the kernel refuses it past the quota (ENOSPC).
 * Needs root.
 */
export async function mountQuota(
  dir: string,
  quota: DiskQuota,
  owner: { uid: number; gid: number },
  mode = '0700',
): Promise<void> {
  const options = [
    `size=${quota.bytes}`,
    `nr_inodes=${quota.inodes}`,
    `mode=${mode}`,
    `uid=${owner.uid}`,
    `gid=${owner.gid}`,
    'nosuid',
    'nodev',
    'noexec',
  ].join(',');
  await run('mount', ['-t', 'tmpfs', '-o', options, 'bmms-instance', dir]);
}

/** Unmounts a quota mount (lazily: a process still inside cannot keep it); absent mounts are ignored. */
export async function unmountQuota(dir: string): Promise<void> {
  if (!isMountPoint(dir)) return;
  await run('umount', ['-l', dir]).catch(() => {});
}

/** The writable host folders of one instance that are quota mounts, and its own compile cache. */
export type Writable = {
  /** Host folders mounted as quota tmpfs for this instance, unmounted when it is gone. */
  mounts: string[];
  /** The instance's own compile cache (a quota mount), copied to the shared one of its tree when that is empty. */
  ownCache: { dir: string; shared: string } | null;
};

/**
 * The instance's writable host folders. With an owner (the platform runs as root) each is a quota tmpfs owned by
 * the server's uid: the socket folder, and its own compile cache seeded from the shared cache of its tree (which
 * it never writes itself). Where mounting fails, the folders are only handed to the owner, and `onUnbounded` says so.
 */
export async function prepareWritable(
  dirs: { instanceDir: string; sockDir: string; cacheDir: string },
  owner: { uid: number; gid: number } | null,
  opts: { diskMb: number; compileCache: boolean; onUnbounded: (err: Error) => void },
): Promise<Writable & { cacheDir: string | null; tmpDir: string | null }> {
  const shared = opts.compileCache ? dirs.cacheDir : null;
  if (!owner) return { cacheDir: shared, tmpDir: null, mounts: [], ownCache: null };
  const mounts: string[] = [];
  try {
    await mountQuota(dirs.sockDir, SOCKET_DIR_QUOTA, owner);
    mounts.push(dirs.sockDir);
    // The sandbox's /tmp: a host mount bounds its files too (bubblewrap's own tmpfs takes a size, not a count).
    const tmpDir = join(dirs.instanceDir, 'tmp');
    await mkdir(tmpDir, { mode: 0o700 });
    // 1777 like any /tmp: node starts as uid 0 without CAP_DAC_OVERRIDE and reads its cwd (/tmp) before switching.
    await mountQuota(tmpDir, diskQuota(opts.diskMb), owner, '1777');
    mounts.push(tmpDir);
    if (!shared) return { cacheDir: null, tmpDir, mounts, ownCache: null };
    const own = join(dirs.instanceDir, 'cache');
    await mkdir(own, { mode: 0o700 });
    await mountQuota(own, diskQuota(opts.diskMb), owner);
    mounts.push(own);
    // -P: links an earlier instance left are copied as links, never followed by root.
    await run('cp', ['-RP', `${shared}/.`, `${own}/`]).catch(() => {});
    await run('chown', ['-RP', `${owner.uid}:${owner.gid}`, own]);
    return { cacheDir: own, tmpDir, mounts, ownCache: { dir: own, shared } };
  } catch (err) {
    for (const dir of mounts) await unmountQuota(dir);
    opts.onUnbounded(err instanceof Error ? err : new Error(String(err)));
    for (const dir of shared ? [dirs.sockDir, shared] : [dirs.sockDir]) await chown(dir, owner.uid, owner.gid);
    return { cacheDir: shared, tmpDir: null, mounts: [], ownCache: null };
  }
}

/** After the instance is gone: shares its compile cache when its tree has none yet, then unmounts its quotas. */
export async function releaseWritable(w: Writable): Promise<void> {
  if (w.ownCache) await shareCache(w.ownCache.dir, w.ownCache.shared);
  for (const dir of w.mounts) await unmountQuota(dir);
}

/** Copies an instance's compile cache to its tree's shared one when that is still empty (first writer wins). */
async function shareCache(own: string, shared: string): Promise<void> {
  try {
    if ((await readdir(shared)).length > 0 || (await readdir(own)).length === 0) return;
    await run('cp', ['-RP', `${own}/.`, `${shared}/`]);
    await run('chown', ['-RP', '0:0', shared]);
  } catch {
    // a cache is an optimisation: a failed copy costs the next start a few milliseconds
  }
}
