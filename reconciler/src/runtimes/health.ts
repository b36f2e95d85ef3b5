import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, realpathSync } from 'node:fs';
import { constants } from 'node:os';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { tcpAddress } from '../endpoint.ts';
import { unixRequest } from '../probe.ts';
import type { ExitInfo } from './types.ts';

/**
 * Polls GET /healthz over `socketPath` until it answers 200; throws when `exited()` reports an exit first or the
 * deadline passes, with the last thing that went wrong.
 */
export async function waitHealthy(
  socketPath: string,
  opts: { timeoutMs: number; exited: () => ExitInfo | null; pollMs?: number },
): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  let lastError = 'no answer yet';
  while (Date.now() < deadline) {
    const exit = opts.exited();
    if (exit !== null) throw new Error(`it exited (${exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`})`);
    if (tcpAddress(socketPath) || existsSync(socketPath)) {
      try {
        const res = await unixRequest(socketPath, {
          method: 'GET',
          path: '/healthz',
          timeoutMs: Math.max(50, Math.min(1000, deadline - Date.now())),
        });
        if (res.status === 200) return;
        lastError = `/healthz answered ${res.status}`;
      } catch (err) {
        lastError = err instanceof Error ? err.message : String(err);
      }
    }
    await sleep(opts.pollMs ?? 3);
  }
  throw new Error(`no healthy /healthz within ${opts.timeoutMs} ms (${lastError})`);
}

/** Instance ids are `<slug>-<8 hex>`: a lowercase slug of the server name plus randomness. */
export function instanceSlug(serverName: string): string {
  return (
    serverName
      .toLowerCase()
      .replace(/[^a-z0-9-]+/g, '-')
      .slice(0, 40) || 'server'
  );
}

/** Which platform owns an instance: one data dir, one owner, so two platforms can share a host or an engine. */
export function ownerOf(dataDir: string): string {
  mkdirSync(dataDir, { recursive: true });
  return createHash('sha256')
    .update(realpathSync(resolve(dataDir)))
    .digest('hex')
    .slice(0, 16);
}

/** A sandbox or engine reports "killed by signal n" as exit code 128+n: the signal's name, or null. */
export function signalFromExitCode(code: number | null): NodeJS.Signals | null {
  if (code === null || code <= 128) return null;
  const n = code - 128;
  const name = Object.entries(constants.signals).find(([, v]) => v === n)?.[0];
  return (name as NodeJS.Signals | undefined) ?? null;
}

/**
 * Node flags and environment every instance gets (process, docker and swarm runtimes, previews included).
 * No code generation from strings: `eval`, `new Function` and the AsyncFunction/GeneratorFunction constructors
 * throw EvalError, so code that slips past the security check still cannot compile a string into code.
 * A 1 MiB young generation keeps an idle instance small (it allocates little; measured ~6 MiB less per
 * instance), and two malloc arenas instead of one per thread.
 */
export const INSTANCE_NODE_FLAGS = ['--disallow-code-generation-from-strings', '--max-semi-space-size=1'] as const;
export const INSTANCE_ENV = { MALLOC_ARENA_MAX: '2' } as const;
