/**
 * Where a rendered repo carries the base runtime until it is on a registry: a packed npm tarball under
 * `vendor/`, named in `package.json` as `file:vendor/…tgz`, so a clone installs with plain npm anywhere.
 */
import { createHash } from 'node:crypto';
import ownPackage from '../package.json' with { type: 'json' };

/** The runtime's npm name. */
export const RUNTIME_PACKAGE = ownPackage.name;
/** The runtime's version, as packed. */
export const RUNTIME_VERSION = ownPackage.version;
/** The tarball's path inside a rendered repo (npm pack's file name). */
export const VENDORED_RUNTIME_PATH = `vendor/${ownPackage.name.replace(/^@/, '').replace('/', '-')}-${ownPackage.version}.tgz`;
/** The dependency spec a rendered `package.json` gives the runtime. */
export const VENDORED_RUNTIME_SPEC = `file:${VENDORED_RUNTIME_PATH}`;

/** The Subresource Integrity string npm records for a tarball (`sha512-<base64>`). */
export function integrityOf(bytes: Uint8Array): string {
  return `sha512-${createHash('sha512').update(bytes).digest('base64')}`;
}
