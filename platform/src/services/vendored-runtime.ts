import { VENDORED_RUNTIME_PATH, VENDORED_RUNTIME_SPEC } from '@bmms/runner-template';
import { type PackedRuntime, packRuntime } from '@bmms/runner-template/pack';

/**
 * The vendored runtime tarball to commit with rendered `files`: present when their package.json names it
 * (`file:vendor/…tgz`) and the tree (`current`, when given) lacks it or holds another one; empty otherwise.
 */
export async function vendoredRuntimeFiles(
  files: Record<string, string>,
  current: Record<string, Uint8Array> = {},
  pack: () => Promise<PackedRuntime> = packRuntime,
): Promise<Record<string, Uint8Array>> {
  const pkg = files['package.json'] ?? decode(current['package.json']);
  if (!pkg?.includes(VENDORED_RUNTIME_SPEC)) return {};
  const packed = await pack();
  const old = current[VENDORED_RUNTIME_PATH];
  if (old && Buffer.from(old).equals(packed.bytes)) return {};
  return { [VENDORED_RUNTIME_PATH]: packed.bytes };
}

function decode(bytes: Uint8Array | undefined): string | undefined {
  return bytes ? Buffer.from(bytes).toString('utf8') : undefined;
}
