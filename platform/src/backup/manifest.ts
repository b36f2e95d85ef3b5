import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { BackupChecksumError, BackupIncompleteError, BackupManifestError } from './errors.ts';

/** The file that describes a backup; written last, so a backup without it is incomplete. */
export const MANIFEST_FILE = 'manifest.json';
/** The layout version of a backup directory. */
export const FORMAT_VERSION = 1;

const FileEntry = z.object({
  path: z.string().min(1),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  bytes: z.number().int(),
});
const SafeName = z.string().regex(/^[A-Za-z0-9_.-]+$/);

/** What manifest.json holds: everything restore needs besides the files, and their checksums. */
export const Manifest = z.object({
  format: z.literal('bmms-backup'),
  formatVersion: z.literal(FORMAT_VERSION),
  createdAt: z.string(),
  platformVersion: z.string(),
  database: z.object({
    kind: z.enum(['pglite', 'postgres']),
    /** Applied migrations, in order: the schema version of the dumped rows. */
    migrations: z.array(z.string()),
    tables: z.array(z.object({ name: SafeName, file: z.string(), rows: z.number().int() })),
  }),
  repos: z.array(
    z.object({
      name: SafeName,
      head: z.string().startsWith('refs/'),
      file: z.string().optional(),
      refs: z.number().int(),
    }),
  ),
  keys: z.object({
    /** Key versions sealed values are encrypted under, with how many values each. */
    sealed: z.record(z.string(), z.number().int()),
    /** Per key version of the backed-up platform, a one-way fingerprint (never the key). */
    fingerprints: z.record(z.string(), z.string()),
    /** Whether the data dir's master-key file is in the backup. */
    keyFileIncluded: z.boolean(),
  }),
  files: z.array(FileEntry),
});
export type Manifest = z.infer<typeof Manifest>;
export type FileEntry = z.infer<typeof FileEntry>;

/** SHA-256 of a file, streamed. */
export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** The checksum entry of `rel` (relative to `dir`). */
export async function entryOf(dir: string, rel: string): Promise<FileEntry> {
  const file = path.join(dir, rel);
  return { path: rel, sha256: await sha256File(file), bytes: (await stat(file)).size };
}

/** Reads manifest.json and checks every file it names exists with its size and SHA-256; throws naming the first bad one. */
export async function verifyBackup(dir: string): Promise<Manifest> {
  let text: string;
  try {
    text = await readFile(path.join(dir, MANIFEST_FILE), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new BackupIncompleteError(dir, MANIFEST_FILE);
    throw err;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new BackupManifestError(dir, `${MANIFEST_FILE} is not JSON`);
  }
  const result = Manifest.safeParse(parsed);
  if (!result.success) throw new BackupManifestError(dir, `${MANIFEST_FILE} is not a BuildMyMCPServer backup manifest`);
  const manifest = result.data;
  const listed = new Set(manifest.files.map((f) => f.path));
  const needed = [
    ...manifest.database.tables.map((t) => t.file),
    ...manifest.repos.flatMap((r) => (r.file ? [r.file] : [])),
  ];
  for (const rel of needed) {
    if (!listed.has(rel)) throw new BackupManifestError(dir, `${rel} has no checksum in ${MANIFEST_FILE}`);
  }
  for (const entry of manifest.files) {
    const file = path.resolve(dir, entry.path);
    if (!file.startsWith(path.resolve(dir) + path.sep))
      throw new BackupManifestError(dir, `${entry.path} is outside the backup`);
    let bytes: number;
    try {
      bytes = (await stat(file)).size;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new BackupIncompleteError(dir, entry.path);
      throw err;
    }
    if (bytes !== entry.bytes || (await sha256File(file)) !== entry.sha256)
      throw new BackupChecksumError(dir, entry.path);
  }
  return manifest;
}
