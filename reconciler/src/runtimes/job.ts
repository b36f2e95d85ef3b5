import type { Readable } from 'node:stream';

/** A one-shot Node program run in an instance's sandbox (a server's own tests): no network, bounded in every way. */
export type JobOptions = {
  /** The server whose code runs; as root the job runs as the uid of its previews (never its production's). */
  serverName: string;
  /** Host folder bound read-only at `/app`, the job's working directory: the program and what it reads. */
  appDir: string;
  /** Node arguments after the sandbox's own flags; paths relative to `/app`. */
  args: string[];
  /** Environment besides the sandbox's (nothing of the platform's leaks in). */
  env?: Record<string, string>;
  limits: JobLimits;
  /** Aborting kills the job. */
  signal?: AbortSignal;
};

/** What a job may use. */
export type JobLimits = {
  /** Memory in MiB (the cgroup's limit where there is one, else the V8 heap's). */
  memoryMb: number;
  /** Wall-clock time; the job is killed past it. */
  timeoutMs: number;
  /** Output (stdout and stderr together) kept; the rest is dropped but for the last lines. */
  outputBytes: number;
  /** Processes and threads (default 64). */
  pids?: number;
  /** CPU share (default 1 core). */
  cpu?: number;
};

/** How a job ended. */
export type JobResult = {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** stdout and stderr interleaved, at most `outputBytes` plus the tail; see `truncated`. */
  output: string;
  /** True when output past the bound was dropped (the last 16 KiB are kept after a marker line). */
  truncated: boolean;
  timedOut: boolean;
  /** True when the kernel killed it for memory (only known under a memory cgroup). */
  oomKilled: boolean;
  /** How it was isolated. */
  sandbox: 'bubblewrap' | 'confined' | 'none';
};

const TAIL_BYTES = 16 * 1024;

/** Collects a job's output up to a bound, then only its last TAIL_BYTES. */
export class BoundedOutput {
  readonly #limit: number;
  #head = '';
  #tail = '';
  #dropped = 0;

  constructor(limit: number) {
    this.#limit = limit;
  }

  /** Reads `stream` into the buffer. */
  follow(stream: Readable | null): void {
    stream?.on('data', (chunk: Buffer) => this.add(chunk.toString('utf8')));
  }

  add(text: string): void {
    const room = this.#limit - this.#head.length;
    if (room > 0) {
      this.#head += text.slice(0, room);
      text = text.slice(room);
    }
    if (text.length === 0) return;
    this.#tail += text;
    if (this.#tail.length > TAIL_BYTES) {
      this.#dropped += this.#tail.length - TAIL_BYTES;
      this.#tail = this.#tail.slice(-TAIL_BYTES);
    }
  }

  get truncated(): boolean {
    return this.#dropped > 0;
  }

  text(): string {
    if (!this.truncated) return this.#head + this.#tail;
    return `${this.#head}\n[bmms] … ${this.#dropped} bytes of output dropped …\n${this.#tail}`;
  }
}
