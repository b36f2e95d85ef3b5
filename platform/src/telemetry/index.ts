import type { Config } from '../config.ts';
import type { Logger } from '../logger.ts';
import { type ErrorTracker, startSentry, trackingErrors } from './errors.ts';
import { startTracing, type Tracing } from './tracing.ts';

/** The platform's telemetry: traces (OTLP) and error tracking (Sentry), each only when configured. */
export interface Telemetry {
  tracing: Tracing | undefined;
  errors: ErrorTracker | undefined;
  /** The platform's logger; with error tracking, its error lines carrying an Error also go to the tracker. */
  log: Logger;
  /** Exports the buffered spans and sends the queued errors (part of the platform's close). */
  close(): Promise<void>;
}

/** Starts what the configuration asks for; with nothing configured nothing is loaded and nothing is sent. */
export async function startTelemetry(config: Config, log: Logger): Promise<Telemetry> {
  const tracing = config.tracing ? await startTracing(config.tracing, log) : undefined;
  const errors = config.sentryDsn ? await startSentry(config.sentryDsn, log) : undefined;
  return {
    tracing,
    errors,
    log: errors ? trackingErrors(log, errors) : log,
    close: async () => {
      await Promise.all([tracing?.shutdown(), errors?.close()]);
    },
  };
}
