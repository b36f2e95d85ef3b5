/** Size limits on what a push may add, enforced by the pre-receive hook (and git's own pack limit). */
export interface PushLimits {
  /** Largest total size of the objects one push adds. */
  maxPushBytes: number;
  /** Largest size of a repository's object store, this push included. */
  maxRepoBytes: number;
}

const MIB = 1024 * 1024;

/** Defaults: a server repo is source code, a few hundred kB; these leave room for years of history. */
export const DEFAULT_PUSH_LIMITS: PushLimits = { maxPushBytes: 20 * MIB, maxRepoBytes: 100 * MIB };

/** `BMMS_MAX_PUSH_BYTES` and `BMMS_MAX_REPO_BYTES` (positive integers, bytes), else the defaults. */
export function pushLimitsFromEnv(env: Record<string, string | undefined>): PushLimits {
  return {
    maxPushBytes: bytes(env, 'BMMS_MAX_PUSH_BYTES', DEFAULT_PUSH_LIMITS.maxPushBytes),
    maxRepoBytes: bytes(env, 'BMMS_MAX_REPO_BYTES', DEFAULT_PUSH_LIMITS.maxRepoBytes),
  };
}

function bytes(env: Record<string, string | undefined>, name: string, fallback: number): number {
  const raw = env[name]?.trim();
  if (!raw) return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) <= 0) {
    throw new Error(`${name} must be a positive number of bytes, got "${raw}"`);
  }
  return Number(raw);
}

/** Bytes for people: `12.3 MiB`, `640 kB`. */
export function formatBytes(n: number): string {
  if (n >= MIB) return `${(n / MIB).toFixed(1)} MiB`;
  return `${Math.ceil(n / 1024)} kB`;
}
