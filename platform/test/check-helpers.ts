import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { InternalGitProvider } from '@bmms/gitserver';
import type { CheckInput } from '../src/checks/types.ts';
import { vendoredRuntimeFiles } from '../src/services/vendored-runtime.ts';

/** Temp folders made by a test file, removed by `cleanup()`. */
const made: string[] = [];

/** A fresh temp folder. */
export async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  made.push(dir);
  return dir;
}

/** Removes every temp folder made so far. */
export async function cleanup(): Promise<void> {
  await Promise.all(made.splice(0).map((d) => rm(d, { recursive: true, force: true })));
}

/**
 * Writes `files` into a new folder laid out like a checkout (`<workDir>/repo`), with the vendored runtime the
 * platform commits beside rendered files; returns the input of a check.
 */
export async function checkout(
  files: Record<string, string>,
  opts: { serverName?: string; git?: InternalGitProvider; baseSha?: string | null } = {},
): Promise<CheckInput> {
  const workDir = await tempDir('bmms-check-');
  const dir = path.join(workDir, 'repo');
  for (const [file, text] of Object.entries({ ...files, ...(await vendoredRuntimeFiles(files)) })) {
    await mkdir(path.dirname(path.join(dir, file)), { recursive: true });
    await writeFile(path.join(dir, file), text);
  }
  await mkdir(dir, { recursive: true });
  return {
    dir,
    workDir,
    serverName: opts.serverName ?? 'demo',
    commitSha: '0'.repeat(40),
    baseSha: opts.baseSha ?? null,
    git: opts.git ?? new InternalGitProvider({ root: path.join(workDir, 'git') }),
    signal: new AbortController().signal,
  };
}

type JsonObject = Record<string, unknown>;

/** The files with mcp.json edited by `edit` (which mutates the parsed manifest). */
export function editManifest(files: Record<string, string>, edit: (m: JsonObject) => void): Record<string, string> {
  const m = JSON.parse(files['mcp.json'] as string) as JsonObject;
  edit(m);
  return { ...files, 'mcp.json': `${JSON.stringify(m, null, 2)}\n` };
}

/** The `tools` array of a parsed manifest. */
export const toolsOf = (m: JsonObject): JsonObject[] => m.tools as JsonObject[];
