import { Console } from 'node:console';
import { Writable } from 'node:stream';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'fatal';
export type LogFields = Record<string, unknown>;

/** Writes structured log lines; `child` adds fields (request id, tool) to every line. */
export interface Logger {
  log(level: LogLevel, msg: string, fields?: LogFields): void;
  child(fields: LogFields): Logger;
}

/** Where log lines go and which strings must never appear in them. */
export interface LogSink {
  write(line: string): void;
  /** Secret values handed out so far; any occurrence in a line is replaced by `[REDACTED]`. */
  secrets: Set<string>;
}

function serialize(value: unknown): unknown {
  if (value instanceof Error) return { name: value.name, message: value.message };
  return value;
}

/** Creates a JSON-lines logger: `{"ts","level","msg",...fields}` one per line. */
export function createLogger(sink: LogSink, base: LogFields = {}): Logger {
  return {
    log(level, msg, fields = {}) {
      const entry: LogFields = { ts: new Date().toISOString(), level, msg };
      for (const key in base) if (!(key in entry) && !(key in fields)) entry[key] = serialize(base[key]);
      for (const key in fields) if (!(key in entry)) entry[key] = serialize(fields[key]);
      let line = JSON.stringify(entry);
      for (const secret of sink.secrets) {
        if (secret.length >= 4) line = line.split(JSON.stringify(secret).slice(1, -1)).join('[REDACTED]');
      }
      sink.write(`${line}\n`);
    },
    child(fields) {
      return createLogger(sink, { ...base, ...fields });
    },
  };
}

/**
 * Writes the lines logged during one turn of the event loop with one `write` (stdout is a pipe, written
 * synchronously: one system call per line was a tenth of a call's CPU), and whatever is pending when the process
 * exits.
 */
export function batchedWriter(write: (chunk: string) => void): (line: string) => void {
  let pending = '';
  const flush = () => {
    if (pending === '') return;
    const chunk = pending;
    pending = '';
    write(chunk);
  };
  process.once('exit', flush);
  return (line) => {
    if (pending === '') setImmediate(flush);
    pending += line;
  };
}

/** The longest console message kept in one log line; the rest is cut (the platform cuts longer lines anyway). */
const CONSOLE_MESSAGE_MAX = 8 * 1024;

/**
 * Makes the global `console` write through `logger`: every `console.log`, `info`, `debug`, `warn`, `error`, `table`,
 * `timeEnd`… becomes one JSON line at its level (`source: "console"`), with secret values redacted like `ctx.log`.
 */
export function captureConsole(logger: Logger): void {
  const child = logger.child({ source: 'console' });
  const stream = (level: LogLevel) =>
    new Writable({
      decodeStrings: false,
      write(chunk: string | Uint8Array, _encoding, done) {
        let msg = typeof chunk === 'string' ? chunk : new TextDecoder().decode(chunk);
        if (msg.endsWith('\n')) msg = msg.slice(0, -1);
        if (msg.length > CONSOLE_MESSAGE_MAX) msg = `${msg.slice(0, CONSOLE_MESSAGE_MAX)}… [cut]`;
        child.log(level, msg);
        done();
      },
    });
  const main = new Console({ stdout: stream('info'), stderr: stream('error') });
  const warn = new Console({ stdout: stream('warn'), stderr: stream('warn') });
  const debug = new Console({ stdout: stream('debug'), stderr: stream('debug') });
  main.warn = warn.warn;
  main.debug = debug.log;
  main.trace = debug.trace;
  globalThis.console = main;
}
