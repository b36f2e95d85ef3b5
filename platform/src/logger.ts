/** Structured JSON-line logs. Never pass secrets, tokens or API keys in fields. */
export interface Logger {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

/** Where lines go; a batching sink also has `flush`, which writes what is pending at once. */
type Sink = ((line: string) => void) & { flush?: () => void };

/**
 * A sink that hands `write` what was logged during one turn of the event loop at once (and what is pending when the
 * process exits, or when a warning or an error is logged): stdout is a file or a pipe, written synchronously, and one system call per line (an access line
 * per MCP call) is a measurable share of a call's CPU.
 */
export function batchedSink(write: (chunk: string) => void): Sink {
  let pending = '';
  let registered = false;
  const flush = () => {
    if (pending === '') return;
    const chunk = pending;
    pending = '';
    write(chunk);
  };
  const sink: Sink = (line) => {
    if (pending === '') {
      if (!registered) {
        registered = true;
        process.once('exit', flush);
      }
      setImmediate(flush);
    }
    pending += line;
  };
  sink.flush = flush;
  return sink;
}

const stdoutSink = batchedSink((chunk) => process.stdout.write(chunk));

/** A logger writing one JSON object per line to `sink` (stdout by default). */
export function createLogger(base: Record<string, unknown> = {}, sink: Sink = stdoutSink): Logger {
  const write = (level: string, msg: string, fields?: Record<string, unknown>) => {
    const entry: Record<string, unknown> = { ts: new Date().toISOString(), level, msg, ...base, ...fields };
    const err = entry.err;
    if (err instanceof Error)
      entry.err = { name: err.name, message: err.message, code: (err as { code?: unknown }).code };
    sink(`${JSON.stringify(entry)}\n`);
    // Warnings and errors are written at once (with what came before them): they are what a crash must not lose.
    if (level !== 'info') sink.flush?.();
  };
  return {
    info: (m, f) => write('info', m, f),
    warn: (m, f) => write('warn', m, f),
    error: (m, f) => write('error', m, f),
    child: (f) => createLogger({ ...base, ...f }, sink),
  };
}

/** A logger that drops everything (tests that assert on other output). */
export const silentLogger: Logger = createLogger({}, () => {});
