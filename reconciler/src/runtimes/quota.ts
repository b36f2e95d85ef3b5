import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { chown, cp, lchown, mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** What one writable folder of an instance may hold. */
export type DiskQuota = { bytes: number; inodes: number };

/** Default size of every writable path of an instance (/tmp, the compile cache); `BMMS_INSTANCE_DISK_MB`. */
export const DEFAULT_DISK_MB = 64;

/** The writable folders under an instance's folder (the socket's first), each a quota mount when the platform is root. */
export const WRITABLE_DIRS = ['sock', 'cache', 'tmp'] as const;

/** The socket folder holds one socket: a tiny quota leaves the instance no room for anything else there. */
export const SOCKET_DIR_QUOTA: DiskQuota = { bytes: 256 * 1024, inodes: 16 };

/** The quota of a writable folder of `mb` MiB: files of at least 4 KiB each, so inodes bound it too. */
export function diskQuota(mb: number): DiskQuota {
  const bytes = Math.max(1, Math.floor(mb)) * 1024 * 1024;
  return { bytes, inodes: Math.max(64, Math.floor(bytes / 4096)) };
}

/** True when `dir` is a mount point (listed in /proc/self/mountinfo). */
export function isMountPoint(dir: string): boolean {
  return mountPointsAmong([dir]).length > 0;
}

/** Those of `dirs` that are mount points, read from /proc/self/mountinfo once. */
function mountPointsAmong(dirs: string[]): string[] {
  const mounted = new Set(
    readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .map((line) => line.split(' ')[4]),
  );
  // mountinfo writes a space, tab, newline or backslash in a path as an octal escape.
  const escaped = (dir: string) =>
    dir.replace(/[ \t\n\\]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`);
  return dirs.filter((dir) => mounted.has(escaped(dir)));
}

/** One quota tmpfs to mount: the folder, its quota, and its mode (0700 unless told). */
export type QuotaMount = { dir: string; quota: DiskQuota; mode?: string };

/**
 * Mounts a size- and inode-limited tmpfs at each folder on the host, owned by `owner`: whatever the instance writes
 * there, the host's disk never sees it and the kernel refuses it past the quota (ENOSPC). One shell mounts them all,
 * one after the other: every process the platform forks copies its page tables first, which blocks its event loop for
 * tens of milliseconds once it holds hundreds of MiB. When it fails, the ones mounted before stay: unmount them all.
 * Needs root.
 */
export async function mountQuotas(mounts: QuotaMount[], owner: { uid: number; gid: number }): Promise<void> {
  const script = 'while [ "$#" -gt 0 ]; do mount -t tmpfs -o "$1" bmms-instance "$2" || exit 1; shift 2; done';
  const args = mounts.flatMap(({ dir, quota, mode = '0700' }) => [
    [
      `size=${quota.bytes}`,
      `nr_inodes=${quota.inodes}`,
      `mode=${mode}`,
      `uid=${owner.uid}`,
      `gid=${owner.gid}`,
      'nosuid',
      'nodev',
      'noexec',
    ].join(','),
    dir,
  ]);
  await run('/bin/sh', ['-c', script, 'bmms-mount', ...args]);
}

/**
 * Unmounts quota mounts (lazily: a process still inside cannot keep one) with one `umount`, not one per folder;
 * folders that are no mount point are ignored.
 */
export async function unmountQuotas(dirs: string[]): Promise<void> {
  const mounted = mountPointsAmong(dirs);
  if (mounted.length === 0) return;
  await run('umount', ['-l', ...mounted]).catch(() => {});
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
  const tmpDir = join(dirs.instanceDir, 'tmp');
  const own = shared ? join(dirs.instanceDir, 'cache') : null;
  const wanted: QuotaMount[] = [
    { dir: dirs.sockDir, quota: SOCKET_DIR_QUOTA },
    // The sandbox's /tmp: a host mount bounds its files too (bubblewrap's own tmpfs takes a size, not a count).
    // 1777 like any /tmp: node starts as uid 0 without CAP_DAC_OVERRIDE and reads its cwd (/tmp) before switching.
    { dir: tmpDir, quota: diskQuota(opts.diskMb), mode: '1777' },
    ...(own ? [{ dir: own, quota: diskQuota(opts.diskMb) }] : []),
  ];
  const mounts = wanted.map((m) => m.dir);
  try {
    await Promise.all([mkdir(tmpDir, { mode: 0o700 }), own ? mkdir(own, { mode: 0o700 }) : undefined]);
    await mountQuotas(wanted, owner);
    if (!shared || !own) return { cacheDir: null, tmpDir, mounts, ownCache: null };
    await copyTree(shared, own, owner);
    return { cacheDir: own, tmpDir, mounts, ownCache: { dir: own, shared } };
  } catch (err) {
    await unmountQuotas(mounts);
    opts.onUnbounded(err instanceof Error ? err : new Error(String(err)));
    for (const dir of shared ? [dirs.sockDir, shared] : [dirs.sockDir]) await chown(dir, owner.uid, owner.gid);
    return { cacheDir: shared, tmpDir: null, mounts: [], ownCache: null };
  }
}

/** After the instance is gone: shares its compile cache when its tree has none yet, then unmounts its quotas. */
export async function releaseWritable(w: Writable): Promise<void> {
  if (w.ownCache) await shareCache(w.ownCache.dir, w.ownCache.shared);
  await unmountQuotas(w.mounts);
}

/** After the instance is gone: releases its writable folders, then removes them (the socket's first). */
export async function removeWritable(w: Writable, instanceDir: string): Promise<void> {
  await releaseWritable(w);
  for (const dir of WRITABLE_DIRS) await rm(join(instanceDir, dir), { recursive: true, force: true }).catch(() => {});
}

/** Where quota mounts cannot be made: one warning per runtime object, not one per instance. */
export function warnUnboundedOnce(log: (record: Record<string, unknown>) => void): (err: Error) => void {
  let warned = false;
  return (err) => {
    if (warned) return;
    warned = true;
    log({
      level: 'warn',
      msg: 'cannot mount quota tmpfs: the socket folder and compile cache of instances have no size bound',
      error: err.message,
    });
  };
}

/**
 * A container's server uid and its writable folders (docker and swarm alike): quota mounts owned by that uid when
 * the platform is root, the shared compile cache of its tree otherwise.
 */
export async function confineContainer(
  uid: number,
  dirs: { instanceDir: string; sockDir: string; cacheDir: string },
  opts: { diskMb: number; onUnbounded: (err: Error) => void },
): Promise<{ uid: number; tmpDir: string | null } & Writable & { cacheDir: string }> {
  const owner = process.getuid?.() === 0 ? { uid, gid: uid } : null;
  const writable = await prepareWritable(dirs, owner, { ...opts, compileCache: true });
  return { uid, ...writable, cacheDir: writable.cacheDir ?? dirs.cacheDir };
}

/** Copies an instance's compile cache to its tree's shared one when that is still empty (first writer wins). */
async function shareCache(own: string, shared: string): Promise<void> {
  try {
    if ((await readdir(shared)).length > 0 || (await readdir(own)).length === 0) return;
    await copyTree(own, shared, { uid: 0, gid: 0 });
  } catch {
    // a cache is an optimisation: a failed copy costs the next start a few milliseconds
  }
}

/**
 * Copies what `from` holds into `to` (as much as fits: a copy that fails part way is kept) and hands every entry of
 * `to` to `owner`, in process (no `cp` or `chown` to fork). Symbolic links are copied as links, verbatim, and never
 * followed — neither by the copy nor by the ownership change (lchown) — so a link an instance left in its cache
 * cannot make root touch a file elsewhere.
 */
export async function copyTree(from: string, to: string, owner: { uid: number; gid: number }): Promise<void> {
  await cp(from, to, { recursive: true, verbatimSymlinks: true, dereference: false, force: true }).catch(() => {});
  const entries = await readdir(to, { recursive: true });
  await Promise.all(entries.map((entry) => lchown(join(to, entry), owner.uid, owner.gid)));
}
