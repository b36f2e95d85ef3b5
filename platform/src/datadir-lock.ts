import { readFileSync } from 'node:fs';
import { open, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

/** Another platform process runs on this data dir: sharing it would break both (instances, egress sockets). */
export class DataDirInUseError extends Error {
  readonly code = 'data_dir_in_use';
  constructor(dataDir: string, pid: number) {
    super(
      `${dataDir} is in use by another BuildMyMCPServer process (pid ${pid}): stop it, or start with another BMMS_DATA_DIR`,
    );
  }
}

const LOCK_FILE = 'platform.pid';

/** Whether `pid` is a live node process (a stale file from a crash does not count). */
function alive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return /node/.test(readFileSync(`/proc/${pid}/cmdline`, 'utf8'));
  } catch {
    return true;
  }
}

/**
 * Takes the data dir for this process before anything in it is touched, or throws DataDirInUseError.
 * Returns the release function.
 */
export async function lockDataDir(dataDir: string): Promise<() => Promise<void>> {
  const file = path.join(dataDir, LOCK_FILE);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(file, 'wx', 0o600);
      await handle.writeFile(`${process.pid}\n`);
      await handle.close();
      return async () => {
        const owner = Number((await readFile(file, 'utf8').catch(() => '')).trim());
        if (owner === process.pid) await rm(file, { force: true });
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = Number((await readFile(file, 'utf8').catch(() => '')).trim());
      if (alive(owner)) throw new DataDirInUseError(dataDir, owner);
      // Left by a process that is gone: take it over.
      await writeFile(file, '', { flag: 'w' }).catch(() => {});
      await rm(file, { force: true });
    }
  }
  throw new Error(`could not lock ${dataDir}`);
}
