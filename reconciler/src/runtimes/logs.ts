import { closeSync, openSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import type { Readable } from 'node:stream';
import type { InstanceLine } from './types.ts';

/**
 * How much of an instance's stdout/stderr the platform keeps. Every bound holds whatever the instance writes and
 * for as long as it writes: lines over the rate are counted and summarized, long lines are cut, the on-host file
 * rotates, and memory is capped per instance and across all of them.
 */
export type LogBounds = {
  /** Longest line kept, in bytes; the rest of a longer line is cut (default 16 KiB). */
  lineBytes: number;
  /** Lines per second kept per instance, sustained (default 100). */
  linesPerSecond: number;
  /** Bytes per second kept per instance, sustained (default 64 KiB). */
  bytesPerSecond: number;
  /** Burst allowance of the two token buckets, in seconds of the sustained rate (default 10). */
  burstSeconds: number;
  /** The on-host log file rotates when it reaches this many bytes (default 4 MiB). */
  fileBytes: number;
  /** Rotated files kept besides the current one (`log.1` … `log.N`, default 2). */
  rotatedFiles: number;
  /** Last lines kept in memory per instance (default 200). */
  memoryLines: number;
  /** Bytes of lines kept in memory per instance (default 256 KiB). */
  memoryBytes: number;
  /** Bytes of lines kept in memory across every instance, running and recently exited (default 32 MiB). */
  totalMemoryBytes: number;
};

export const DEFAULT_LOG_BOUNDS: LogBounds = {
  lineBytes: 16 * 1024,
  linesPerSecond: 100,
  bytesPerSecond: 64 * 1024,
  burstSeconds: 10,
  fileBytes: 4 * 1024 * 1024,
  rotatedFiles: 2,
  memoryLines: 200,
  memoryBytes: 256 * 1024,
  totalMemoryBytes: 32 * 1024 * 1024,
};

/** The most disk one instance's log files can take: the current file plus the rotated ones (a line of slack each). */
export function logDiskBound(b: LogBounds): number {
  return (b.rotatedFiles + 1) * (b.fileBytes + b.lineBytes + 256);
}

/** Bytes of memory held by a line of text (V8 keeps one- or two-byte strings). */
function weight(line: string): number {
  return line.length * 2 + 32;
}

/** Shared account of the bytes every ring holds, so the total stays under `totalMemoryBytes`. */
export class LogBudget {
  used = 0;
  readonly limit: number;
  /** Frees memory held elsewhere (the logs of exited instances) when the total is over; returns bytes freed. */
  reclaim: () => number = () => 0;

  constructor(limit: number) {
    this.limit = limit;
  }
}

/** The last lines of one instance, bounded in count and bytes, and charged to a shared budget. */
export class LogRing {
  readonly #lines: string[] = [];
  #bytes = 0;
  readonly #maxLines: number;
  readonly #maxBytes: number;
  readonly #budget: LogBudget;

  constructor(opts: { maxLines: number; maxBytes: number; budget: LogBudget }) {
    this.#maxLines = opts.maxLines;
    this.#maxBytes = opts.maxBytes;
    this.#budget = opts.budget;
  }

  /** Appends a line, dropping the oldest ones while over any bound. */
  push(line: string): void {
    const w = weight(line);
    this.#lines.push(line);
    this.#bytes += w;
    this.#budget.used += w;
    while (this.#lines.length > 1 && (this.#lines.length > this.#maxLines || this.#bytes > this.#maxBytes)) {
      this.#dropOldest();
    }
    if (this.#budget.used > this.#budget.limit) this.#budget.reclaim();
    // Still over with every exited instance's lines gone: this ring gives up its own oldest lines.
    while (this.#lines.length > 1 && this.#budget.used > this.#budget.limit) this.#dropOldest();
  }

  #dropOldest(): void {
    const old = this.#lines.shift() as string;
    const w = weight(old);
    this.#bytes -= w;
    this.#budget.used -= w;
  }

  /** Gives every byte back to the budget (the ring is forgotten). */
  release(): void {
    this.#budget.used -= this.#bytes;
    this.#bytes = 0;
    this.#lines.length = 0;
  }

  /** A copy of the lines, oldest first; the last `n` when given. */
  tail(n?: number): string[] {
    return n === undefined ? [...this.#lines] : this.#lines.slice(-n);
  }

  get bytes(): number {
    return this.#bytes;
  }
}

/** The on-host log file: appended to, rotated to `log.1` … `log.N` at `fileBytes`, never larger. */
export class RotatingLogFile {
  readonly #path: string;
  readonly #fileBytes: number;
  readonly #rotated: number;
  #fd: number | null = null;
  #size = 0;
  #closed = false;

  constructor(path: string, opts: { fileBytes: number; rotatedFiles: number }) {
    this.#path = path;
    this.#fileBytes = opts.fileBytes;
    this.#rotated = opts.rotatedFiles;
  }

  /** Appends one line (with its newline); write errors (a full disk) are swallowed: logs never stop an instance. */
  write(line: string): void {
    if (this.#closed) return;
    try {
      const data = Buffer.from(`${line}\n`, 'utf8');
      if (this.#fd === null) this.#open();
      if (this.#size > 0 && this.#size + data.length > this.#fileBytes) this.#rotate();
      writeSync(this.#fd as number, data);
      this.#size += data.length;
    } catch {
      // the disk is full or the folder is gone: the in-memory lines still have it
    }
  }

  #open(): void {
    this.#fd = openSync(this.#path, 'a', 0o600);
    this.#size = statSync(this.#path).size;
  }

  #rotate(): void {
    if (this.#fd !== null) closeSync(this.#fd);
    this.#fd = null;
    if (this.#rotated === 0) rmSync(this.#path, { force: true });
    for (let i = this.#rotated; i >= 1; i--) {
      const from = i === 1 ? this.#path : `${this.#path}.${i - 1}`;
      try {
        renameSync(from, `${this.#path}.${i}`);
      } catch {
        // that generation does not exist yet
      }
    }
    this.#open();
  }

  /** Closes the file; later writes are ignored. */
  end(): void {
    this.#closed = true;
    if (this.#fd !== null) closeSync(this.#fd);
    this.#fd = null;
  }
}

/** A token bucket: `rate` tokens per second, at most `capacity` saved up. */
class Bucket {
  #tokens: number;
  #at = performance.now();
  readonly #rate: number;
  readonly #capacity: number;

  constructor(rate: number, capacity: number) {
    this.#rate = rate;
    this.#capacity = capacity;
    this.#tokens = capacity;
  }

  #refill(): void {
    const now = performance.now();
    this.#tokens = Math.min(this.#capacity, this.#tokens + ((now - this.#at) / 1000) * this.#rate);
    this.#at = now;
  }

  /** True when `n` tokens are there. */
  has(n: number): boolean {
    this.#refill();
    return this.#tokens >= n;
  }

  take(n: number): void {
    this.#tokens -= n;
  }
}

/**
 * Where accepted lines go: the instance's ring and its file, and — when the runtime has a line sink — the sink,
 * with what the line belongs to.
 */
export type LogTarget = {
  ring: LogRing;
  file: RotatingLogFile;
  sink?: ((line: Pick<InstanceLine, 'stream' | 'source' | 'text' | 'dropped'>) => void) | undefined;
};

/**
 * Reads one instance's output streams and keeps what the bounds allow: one rate limit for all of its streams,
 * lines cut at `lineBytes` without ever buffering more, and "N lines dropped" in place of what went over.
 */
export class LogCapture {
  readonly #bounds: LogBounds;
  readonly #target: LogTarget;
  readonly #lines: Bucket;
  readonly #bytes: Bucket;
  #dropped = 0;
  #droppedBytes = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(target: LogTarget, bounds: LogBounds) {
    this.#target = target;
    this.#bounds = bounds;
    this.#lines = new Bucket(bounds.linesPerSecond, bounds.linesPerSecond * bounds.burstSeconds);
    this.#bytes = new Bucket(bounds.bytesPerSecond, bounds.bytesPerSecond * bounds.burstSeconds);
  }

  /** Follows `stream` (the instance's `name` stream) until it ends. */
  follow(stream: Readable | NodeJS.ReadableStream | null, name: 'stdout' | 'stderr' | null = null): void {
    if (!stream) return;
    // Both stream kinds are event emitters; newer @types/node (26) types their `on` overloads apart.
    const source: NodeJS.EventEmitter = stream;
    const parts: Buffer[] = [];
    let kept = 0;
    let cut = 0;
    // Decided when a line starts: a line over the rate is only scanned for its end, never buffered or decoded,
    // so a flood costs the platform a memchr per chunk rather than a string per line.
    let state: 'start' | 'keep' | 'drop' = 'start';
    const lineEnd = () => {
      if (state === 'keep') {
        const text = Buffer.concat(parts, kept).toString('utf8').replace(/\r$/, '');
        this.#offer(cut > 0 ? `${text}… [${cut} bytes cut]` : text, kept + cut, name);
      } else {
        this.#drop(kept + cut);
      }
      parts.length = 0;
      kept = 0;
      cut = 0;
      state = 'start';
    };
    source.on('data', (chunk: Buffer | string) => {
      const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      let start = 0;
      while (start < buf.length) {
        if (state === 'start') state = this.#lines.has(1) ? 'keep' : 'drop';
        const nl = buf.indexOf(10, start);
        const end = nl === -1 ? buf.length : nl;
        const take = state === 'keep' ? Math.min(this.#bounds.lineBytes - kept, end - start) : 0;
        if (take > 0) {
          parts.push(buf.subarray(start, start + take));
          kept += take;
        }
        cut += end - start - take;
        if (nl === -1) break;
        lineEnd();
        start = nl + 1;
      }
    });
    source.on('end', () => {
      if (kept + cut > 0) lineEnd();
      clearTimeout(this.#timer);
      this.#timer = undefined;
      this.flush();
    });
  }

  /** Keeps a line the platform itself adds (an OOM kill, a spawn failure): never rate limited. */
  note(line: string): void {
    this.flush();
    this.#keep(line, { stream: null, source: 'note', text: line });
  }

  #keep(line: string, sunk: Parameters<NonNullable<LogTarget['sink']>>[0]): void {
    this.#target.ring.push(line);
    this.#target.file.write(line);
    this.#target.sink?.(sunk);
  }

  #offer(line: string, size: number, stream: 'stdout' | 'stderr' | null): void {
    const bytes = Math.min(size, this.#bounds.lineBytes);
    if (!this.#lines.has(1) || !this.#bytes.has(bytes)) {
      this.#drop(size);
      return;
    }
    this.#lines.take(1);
    this.#bytes.take(bytes);
    this.flush();
    this.#keep(line, { stream, source: 'output', text: line });
  }

  #drop(size: number): void {
    this.#dropped++;
    this.#droppedBytes += size;
    // A flood that stops still gets its summary, without waiting for the next line.
    this.#timer ??= setTimeout(() => {
      this.#timer = undefined;
      this.flush();
    }, 1000).unref();
  }

  /** Writes the "N lines dropped" summary of what went over the rate since the last one. */
  flush(): void {
    if (this.#dropped === 0) return;
    const dropped = this.#dropped;
    const line = `[bmms] ${dropped.toLocaleString('en-US')} lines (${this.#droppedBytes} bytes) dropped: over the log rate limit of ${this.#bounds.linesPerSecond} lines/s and ${this.#bounds.bytesPerSecond} bytes/s`;
    this.#dropped = 0;
    this.#droppedBytes = 0;
    this.#keep(line, { stream: null, source: 'dropped', text: line, dropped });
  }
}
