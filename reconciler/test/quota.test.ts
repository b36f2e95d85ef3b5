import { lstat, mkdir, mkdtemp, readFile, readlink, rm, stat, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { copyTree } from '../src/runtimes/quota.ts';

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
