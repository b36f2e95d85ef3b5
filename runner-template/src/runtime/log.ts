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
      for (const [key, value] of Object.entries({ ...base, ...fields })) {
        if (!(key in entry)) entry[key] = serialize(value);
      }
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
