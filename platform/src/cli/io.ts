import { createInterface } from 'node:readline/promises';
import { Writable } from 'node:stream';

/** Where a command writes and reads: passed in so that output stays in one place. */
export interface Io {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  stdin: NodeJS.ReadStream;
  env: NodeJS.ProcessEnv;
}

/** Prints one line to stdout. */
export function out(io: Io, line = ''): void {
  io.stdout.write(`${line}\n`);
}

/** Prints one line to stderr (progress, warnings, errors). */
export function note(io: Io, line: string): void {
  io.stderr.write(`${line}\n`);
}

/** Prints a value as JSON, the stable output of `--json`. */
export function json(io: Io, value: unknown): void {
  io.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Left-aligned columns, for human output. */
export function table(io: Io, header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  out(io, line(header));
  for (const row of rows) out(io, line(row));
}

/** Reads all of stdin (a piped value), without its final newline. */
export async function readStdin(io: Io): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of io.stdin) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

/** Asks a question on the terminal; with `hidden`, what is typed is not echoed (secrets, keys). */
export async function ask(io: Io, question: string, hidden = false): Promise<string> {
  let muted = false;
  const output = new Writable({
    write(chunk, _encoding, done) {
      if (!muted) io.stderr.write(chunk);
      done();
    },
  });
  const rl = createInterface({ input: io.stdin, output, terminal: true });
  try {
    const answer = rl.question(question);
    muted = hidden;
    const value = await answer;
    if (hidden) io.stderr.write('\n');
    return value;
  } finally {
    rl.close();
  }
}

/** A value the user types or pipes: from stdin when it is not a terminal, else asked for (hidden). */
export async function readValue(io: Io, question: string): Promise<string> {
  return io.stdin.isTTY ? ask(io, question, true) : readStdin(io);
}
