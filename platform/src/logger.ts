/** Structured JSON-line logs. Never pass secrets, tokens or API keys in fields. */
export interface Logger {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

type Sink = (line: string) => void;

/** A logger writing one JSON object per line to `sink` (stdout by default). */
export function createLogger(base: Record<string, unknown> = {}, sink: Sink = (l) => process.stdout.write(l)): Logger {
  const write = (level: string, msg: string, fields?: Record<string, unknown>) => {
    const entry: Record<string, unknown> = { ts: new Date().toISOString(), level, msg, ...base, ...fields };
    const err = entry.err;
    if (err instanceof Error)
      entry.err = { name: err.name, message: err.message, code: (err as { code?: unknown }).code };
    sink(`${JSON.stringify(entry)}\n`);
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
