import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { realpathSync, statSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type Docker from 'dockerode';
import { pack } from 'tar-fs';
import { INSTANCE_ENV, INSTANCE_NODE_FLAGS } from './health.ts';
import type { Limits, StartOptions } from './types.ts';

const run = promisify(execFile);

/** Where things live inside the base image (the same paths the process runtime's sandbox uses). */
export const IMAGE_PATHS = {
  node: '/opt/bmms/bin/node',
  app: '/app',
  socketDir: '/run/bmms',
  cacheDir: '/var/cache/node',
  dropPrivileges: '/opt/bmms/bin/drop-privileges.cjs',
} as const;

/** The preload that switches an instance to its uid (see the file): bound read-only into every container. */
export const DROP_PRIVILEGES = fileURLToPath(new URL('./drop-privileges.cjs', import.meta.url));

/** Capabilities a container keeps until its node switches to the instance's uid, and then loses. */
export const SWITCH_CAPS = ['SETUID', 'SETGID'] as const;

/** Shared libraries `ldd` lists for a binary, as absolute host paths (the loader included). */
async function sharedLibraries(binary: string): Promise<string[]> {
  const { stdout } = await run('ldd', [binary]);
  const libs = new Set<string>();
  for (const line of stdout.split('\n')) {
    const m = /(?:=>\s*)?(\/\S+)\s+\(0x/.exec(line);
    if (m?.[1]) libs.add(m[1]);
  }
  return [...libs];
}

/** The tag of the offline base image for one node binary: changes when the binary or its libraries change. */
export async function baseImageTag(nodePath: string): Promise<{ tag: string; libs: string[] }> {
  const node = realpathSync(nodePath);
  const libs = await sharedLibraries(node);
  const h = createHash('sha256');
  for (const file of [node, ...libs]) {
    const st = statSync(file);
    h.update(`${file}\0${realpathSync(file)}\0${st.size}\0${st.mtimeMs}\n`);
  }
  return { tag: `bmms-node:${h.digest('hex').slice(0, 16)}`, libs };
}

/**
 * Builds the instance base image without a registry: a root filesystem holding only the node binary, the shared
 * libraries it links and a passwd entry for `nobody`, imported with `docker import`. Hosts with a registry can
 * build `reconciler/docker/Dockerfile` instead and set the image by name.
 */
export async function ensureBaseImage(docker: Docker, nodePath: string): Promise<string> {
  const { tag, libs } = await baseImageTag(nodePath);
  try {
    await docker.getImage(tag).inspect();
    return tag;
  } catch {
    // not there yet: build it
  }
  const root = await mkdtemp(join(tmpdir(), 'bmms-rootfs-'));
  try {
    for (const dir of ['etc', 'tmp', 'opt/bmms/bin', 'app', 'run/bmms', 'var/cache/node']) {
      await mkdir(join(root, dir), { recursive: true });
    }
    await copyFile(realpathSync(nodePath), join(root, IMAGE_PATHS.node));
    for (const lib of libs) {
      await mkdir(join(root, dirname(lib)), { recursive: true });
      await copyFile(realpathSync(lib), join(root, lib));
    }
    await writeFile(
      join(root, 'etc/passwd'),
      'root:x:0:0:root:/root:/bin/false\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n',
    );
    await writeFile(join(root, 'etc/group'), 'root:x:0:\nnogroup:x:65534:\n');
    const [repo, version] = tag.split(':') as [string, string];
    const tar = pack(root, {
      map: (header) => {
        header.uid = 0;
        header.gid = 0;
        if (header.name === 'tmp') header.mode = 0o1777;
        return header;
      },
    }) as unknown as NodeJS.ReadableStream;
    const progress: NodeJS.ReadableStream = await docker.importImage(tar, { repo, tag: version });
    await new Promise<void>((resolve, reject) => {
      docker.modem.followProgress(progress, (err: Error | null, out: { error?: string }[]) => {
        const failed = out?.find((o) => o.error);
        if (err || failed) reject(err ?? new Error(failed?.error));
        else resolve();
      });
    });
    return tag;
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

/** Labels every container and service of ours carries, so a restarted platform finds (and collects) what it owns. */
export const LABELS = {
  owner: 'dev.bmms.owner',
  server: 'dev.bmms.server',
  revision: 'dev.bmms.revision',
  tree: 'dev.bmms.tree',
  instance: 'dev.bmms.instance',
} as const;

/** The container's memory limit in bytes (at least 32 MiB). */
export function memoryBytes(limits: Limits): number {
  return Math.max(32, Math.floor(limits.memoryMb)) * 1024 * 1024;
}

/**
 * The command a container runs: node with V8's heap under the container's memory limit, the preload that switches
 * it to the instance's uid (so it is non-dumpable, as in the process runtime), then the bundle.
 */
export function containerCommand(opts: StartOptions): string[] {
  // A heap bomb then ends as a V8 error, anything else as an OOM kill.
  const heapMb = Math.max(16, Math.floor(opts.limits.memoryMb * 0.75));
  return [
    IMAGE_PATHS.node,
    `--max-old-space-size=${heapMb}`,
    ...INSTANCE_NODE_FLAGS,
    '--require',
    IMAGE_PATHS.dropPrivileges,
    `${IMAGE_PATHS.app}/${basename(opts.bundlePath)}`,
  ];
}

/**
 * The container's environment (`NAME=value`): the instance's own plus the socket, revision, timeout, the uid the
 * preload switches to, and the compile cache it enables after the switch.
 */
export function containerEnv(opts: StartOptions, uid: number): string[] {
  return Object.entries({
    ...opts.env,
    ...INSTANCE_ENV,
    BMMS_SOCKET: `${IMAGE_PATHS.socketDir}/mcp.sock`,
    BMMS_REVISION: opts.revision,
    BMMS_TIMEOUT_MS: String(opts.limits.timeoutMs),
    BMMS_COMPILE_CACHE: IMAGE_PATHS.cacheDir,
    BMMS_RUN_AS: `${uid}:${uid}`,
  }).map(([k, v]) => `${k}=${v}`);
}

/** The labels of one instance's container or service. */
export function containerLabels(owner: string, id: string, opts: StartOptions): Record<string, string> {
  return {
    [LABELS.owner]: owner,
    [LABELS.server]: opts.serverName,
    [LABELS.revision]: opts.revision,
    [LABELS.tree]: opts.treeSha,
    [LABELS.instance]: id,
  };
}
