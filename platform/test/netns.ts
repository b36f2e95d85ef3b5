// A test host of our own: a network namespace joined to this one by a veth pair, on a /30 of the documentation
// range 198.51.100.0/24. Nothing else is reached: the kernel routes the host's address through the pair only.

import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const ROOT = process.getuid?.() === 0;
const HAS_IP = (() => {
  try {
    execFileSync('ip', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

/**
 * Why a namespace cannot be made here ('' when it can). As root in CI it must work (a missing `ip` fails there);
 * elsewhere a test says why it skips.
 */
export const NETNS_UNAVAILABLE =
  ROOT && process.env.CI
    ? ''
    : !ROOT
      ? 'needs root to create a network namespace (ip netns)'
      : !HAS_IP
        ? 'needs iproute2 (ip)'
        : '';

export const ip = (...args: string[]): string =>
  execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();

/** The 62 /30 blocks of 198.51.100.0/24 (4, 8, … 248): one per namespace at a time, held by a lock file. */
const BLOCKS = Array.from({ length: 62 }, (_, i) => 4 * (i + 1));
const lockOf = (block: number) => path.join(os.tmpdir(), `bmms-netns-198.51.100.${block}.lock`);

/** Takes the lock file (holding this process's pid), or one a process that died left; false when another holds it. */
function takeLock(file: string): boolean {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, String(process.pid), { flag: 'wx' });
      return true;
    } catch {
      const holder = Number(readFileSync(file, 'utf8').trim() || 0);
      try {
        if (holder > 0) process.kill(holder, 0);
        return false; // alive
      } catch {
        rmSync(file, { force: true }); // its process is gone: the block is free
      }
    }
  }
  return false;
}

export class TestNamespace {
  /** The namespace's name: `ip netns exec <name> …` runs there. */
  readonly name: string;
  /** This side's address on the pair. */
  readonly hostSide: string;
  /** The test host's address, in the namespace. */
  readonly address: string;
  readonly #vethHost: string;
  readonly #vethNs: string;
  readonly #block: number;

  private constructor(tag: string, block: number) {
    const id = `${process.pid % 100_000}`;
    this.name = `bmms-${tag}-${id}`;
    this.#vethHost = `bm${tag}${id}h`;
    this.#vethNs = `bm${tag}${id}n`;
    this.#block = block;
    this.hostSide = `198.51.100.${block + 1}`;
    this.address = `198.51.100.${block + 2}`;
  }

  /**
   * Creates a namespace (`tag`: two or three letters, unique per test file) on a /30 no other namespace of a test
   * holds (test files run side by side), and checks the kernel routes its address through the pair, nowhere else.
   */
  static create(tag: string): TestNamespace {
    const start = process.pid % BLOCKS.length;
    for (let i = 0; i < BLOCKS.length; i++) {
      const block = BLOCKS[(start + i) % BLOCKS.length] as number;
      if (!takeLock(lockOf(block))) continue; // another test holds it
      const ns = new TestNamespace(tag, block);
      try {
        ns.#up();
        return ns;
      } catch (err) {
        ns.remove();
        throw err;
      }
    }
    throw new Error(`no free /30 in 198.51.100.0/24: remove ${lockOf(4).replace('.4.lock', '.*.lock')} of dead runs`);
  }

  /** `ip …` in the namespace. */
  ip(...args: string[]): string {
    return ip('netns', 'exec', this.name, 'ip', ...args);
  }

  #up(): void {
    this.#down();
    ip('netns', 'add', this.name);
    ip('link', 'add', this.#vethHost, 'type', 'veth', 'peer', 'name', this.#vethNs);
    ip('link', 'set', this.#vethNs, 'netns', this.name);
    ip('addr', 'add', `${this.hostSide}/30`, 'dev', this.#vethHost);
    ip('link', 'set', this.#vethHost, 'up');
    this.ip('addr', 'add', `${this.address}/30`, 'dev', this.#vethNs);
    this.ip('link', 'set', this.#vethNs, 'up');
    this.ip('link', 'set', 'lo', 'up');
    const route = ip('route', 'get', this.address);
    if (!route.includes(`dev ${this.#vethHost}`)) {
      throw new Error(`${this.address} is not routed through ${this.#vethHost}: ${route}`);
    }
  }

  /** Takes the namespace's end of the pair down: packets to the host go nowhere, as to a lost machine. */
  cut(): void {
    this.ip('link', 'set', this.#vethNs, 'down');
  }

  #down(): void {
    for (const args of [
      ['netns', 'del', this.name],
      ['link', 'del', this.#vethHost],
    ]) {
      try {
        ip(...args);
      } catch {
        // already gone (deleting the namespace removes both ends of the pair)
      }
    }
  }

  /** Removes the namespace and the pair, and gives the block back. */
  remove(): void {
    this.#down();
    rmSync(lockOf(this.#block), { force: true });
  }
}
