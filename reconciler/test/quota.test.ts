import { lstat, mkdir, mkdtemp, readFile, readlink, rm, stat, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  copyTree,
  diskQuota,
  isMountPoint,
  mountQuotas,
  SOCKET_DIR_QUOTA,
  unmountQuotas,
} from '../src/runtimes/quota.ts';

const isRoot = process.getuid?.() === 0;

describe('copyTree (seeding an instance compile cache)', () => {
  let dir: string;
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it.skipIf(!isRoot)(
    'copies files and folders and hands them to the owner; links stay links, never followed',
    async () => {
      dir = await mkdtemp(path.join(os.tmpdir(), 'bmms-quota-'));
      const from = path.join(dir, 'from');
      const to = path.join(dir, 'to');
      const outside = path.join(dir, 'secret');
      await mkdir(path.join(from, 'v8'), { recursive: true });
      await mkdir(to);
      await writeFile(path.join(from, 'v8', 'entry.bin'), 'code cache');
      await writeFile(outside, 'root only');
      // A link a hostile instance could have left in the shared cache, absolute and relative.
      await symlink(outside, path.join(from, 'abs-link'));
      await symlink('../secret', path.join(from, 'rel-link'));

      await copyTree(from, to, { uid: 200123, gid: 200123 });

      expect(await readFile(path.join(to, 'v8', 'entry.bin'), 'utf8')).toBe('code cache');
      for (const entry of ['v8', 'v8/entry.bin', 'abs-link', 'rel-link']) {
        const st = await lstat(path.join(to, entry));
        expect({ entry, uid: st.uid, gid: st.gid }).toEqual({ entry, uid: 200123, gid: 200123 });
      }
      expect((await lstat(path.join(to, 'abs-link'))).isSymbolicLink()).toBe(true);
      expect(await readlink(path.join(to, 'abs-link'))).toBe(outside);
      expect(await readlink(path.join(to, 'rel-link'))).toBe('../secret');
      // The file a link points at was neither copied over nor handed to the owner.
      const target = await stat(outside);
      expect(target.uid).toBe(0);
      expect(await readFile(outside, 'utf8')).toBe('root only');
    },
  );

  it.skipIf(!isRoot)('keeps what fits when the copy fails part way, and still hands it over', async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'bmms-quota-'));
    const to = path.join(dir, 'to');
    await mkdir(to);
    await writeFile(path.join(to, 'kept'), 'x');
    await copyTree(path.join(dir, 'missing'), to, { uid: 200124, gid: 200124 });
    expect((await lstat(path.join(to, 'kept'))).uid).toBe(200124);
  });
});

describe('quota mounts (an instance writable folders)', () => {
  let dir: string;
  afterEach(async () => {
    if (!dir) return;
    await unmountQuotas(['a', 'b', 'c'].map((name) => path.join(dir, name)));
    await rm(dir, { recursive: true, force: true });
  });

  it.skipIf(!isRoot)('mounts each folder with its own quota, mode and owner, and unmounts them again', async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'bmms-quota-'));
    const [a, b] = ['a', 'b'].map((name) => path.join(dir, name)) as [string, string];
    await mkdir(a);
    await mkdir(b);
    const owner = { uid: 200125, gid: 200125 };

    await mountQuotas(
      [
        { dir: a, quota: SOCKET_DIR_QUOTA },
        { dir: b, quota: diskQuota(1), mode: '1777' },
      ],
      owner,
    );

    expect([isMountPoint(a), isMountPoint(b)]).toEqual([true, true]);
    const [sa, sb] = [await stat(a), await stat(b)];
    expect({ uid: sa.uid, mode: sa.mode & 0o7777 }).toEqual({ uid: 200125, mode: 0o700 });
    expect({ uid: sb.uid, mode: sb.mode & 0o7777 }).toEqual({ uid: 200125, mode: 0o1777 });
    // Past its quota a folder refuses writes (the kernel says ENOSPC), whatever room the other has.
    await expect(writeFile(path.join(a, 'big'), Buffer.alloc(512 * 1024))).rejects.toMatchObject({ code: 'ENOSPC' });
    await writeFile(path.join(b, 'fits'), Buffer.alloc(512 * 1024));

    await unmountQuotas([a, b, path.join(dir, 'never-mounted')]);
    expect([isMountPoint(a), isMountPoint(b)]).toEqual([false, false]);
  });

  it.skipIf(!isRoot)(
    'fails when one folder cannot be mounted; those before it stay mounted until unmounted',
    async () => {
      dir = await mkdtemp(path.join(os.tmpdir(), 'bmms-quota-'));
      const [a, b, c] = ['a', 'b', 'c'].map((name) => path.join(dir, name)) as [string, string, string];
      await mkdir(a);
      await mkdir(c);
      const quota = SOCKET_DIR_QUOTA;
      const owner = { uid: 200126, gid: 200126 };

      await expect(
        mountQuotas(
          [
            { dir: a, quota },
            { dir: b, quota },
            { dir: c, quota },
          ],
          owner,
        ),
      ).rejects.toThrow();

      expect([isMountPoint(a), isMountPoint(b), isMountPoint(c)]).toEqual([true, false, false]);
      await unmountQuotas([a, b, c]);
      expect(isMountPoint(a)).toBe(false);
    },
  );
});
