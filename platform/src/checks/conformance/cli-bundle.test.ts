import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ownerRecords } from '@bmms/reconciler/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUNDLE_DIR_PREFIX, cliBundle } from './cli-bundle.ts';

/** Start time of `pid` as /proc/<pid>/stat gives it (field 22), as the folders' owner files record it. */
const startOf = (pid: number) => readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ')[19];

describe('the conformance CLI bundle folder', () => {
  let root: string;
  const tmpBefore = process.env.TMPDIR;
  beforeAll(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'bmms-cli-bundle-test-'));
    // os.tmpdir() reads TMPDIR on each call: the bundle and the sweep go to this test's own folder.
    process.env.TMPDIR = root;
  });
  afterAll(async () => {
    if (tmpBefore === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = tmpBefore;
    await rm(root, { recursive: true, force: true });
  });

  it.skipIf(!existsSync('/proc/self/stat'))(
    "removes the folders of killed platform processes, keeps live processes' folders, and records its own owner",
    async () => {
      const folder = async (name: string, owner: object) => {
        const dir = path.join(root, name);
        await mkdir(dir);
        await writeFile(path.join(dir, 'cli.mjs'), '// a bundle\n');
        await writeFile(path.join(dir, 'owner.json'), JSON.stringify(owner));
        return dir;
      };
      // A process that ran and is gone (killed: its exit handler never removed its folder), and one that runs.
      const owners = await ownerRecords();
      try {
        const dead = await folder(`${BUNDLE_DIR_PREFIX}dead`, owners.gone);
        const live = await folder(`${BUNDLE_DIR_PREFIX}live`, owners.alive);
        const other = await folder('bmms-confined-dead', owners.gone);

        const bundle = await cliBundle();

        expect(existsSync(dead)).toBe(false);
        expect(existsSync(path.join(live, 'cli.mjs'))).toBe(true);
        expect(existsSync(path.join(other, 'cli.mjs'))).toBe(true); // another prefix is another sweeper's
        expect(path.dirname(path.dirname(bundle.file))).toBe(root);
        expect(path.basename(path.dirname(bundle.file)).startsWith(BUNDLE_DIR_PREFIX)).toBe(true);
        expect(existsSync(bundle.file)).toBe(true);
        const owner = JSON.parse(readFileSync(path.join(path.dirname(bundle.file), 'owner.json'), 'utf8'));
        expect(owner).toEqual({ pid: process.pid, start: startOf(process.pid) });
        expect((await readdir(root)).filter((n) => n.startsWith(BUNDLE_DIR_PREFIX)).sort()).toEqual(
          [path.basename(path.dirname(bundle.file)), path.basename(live)].sort(),
        );
      } finally {
        owners.stop();
      }
    },
  );
});
