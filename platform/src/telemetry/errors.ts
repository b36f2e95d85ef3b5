import type { Logger } from '../logger.ts';

/** Where unexpected errors go besides the log: Sentry, when SENTRY_DSN is set. */
export interface ErrorTracker {
  /** Sends an unexpected error with a few safe fields (never headers, bodies, tokens or user data). */
  capture(err: Error, msg: string, fields: Record<string, unknown>): void;
  /** Sends what is queued (bounded), then stops. */
  close(): Promise<void>;
}

/** Log fields that may go to the error tracker: identifiers of our own, never a value a user sent. */
const SAFE_FIELDS = ['requestId', 'component', 'server', 'suite', 'check', 'step'] as const;

/**
 * A Sentry client of its own (no global `Sentry.init`: no auto-instrumentation, no OpenTelemetry setup, nothing
 * patched), loaded only when a DSN is configured. Events carry no request data, no user, no breadcrumbs; a
 * last scrub in beforeSend drops whatever request or user data an integration might have added.
 */
export async function startSentry(dsn: string, log: Logger): Promise<ErrorTracker> {
  const Sentry = await import('@sentry/node');
  const client = new Sentry.NodeClient({
    dsn,
    integrations: [],
    transport: Sentry.makeNodeTransport,
    stackParser: Sentry.defaultStackParser,
    sendDefaultPii: false,
    maxBreadcrumbs: 0,
    skipOpenTelemetrySetup: true,
    environment: process.env.SENTRY_ENVIRONMENT ?? 'production',
    ...(process.env.SENTRY_RELEASE ? { release: process.env.SENTRY_RELEASE } : {}),
    beforeSend: (event) => {
      delete event.request;
      delete event.user;
      delete event.breadcrumbs;
      delete event.server_name;
      return event;
    },
  });
  const scope = new Sentry.Scope();
  scope.setClient(client);
  client.init();
  log.info('error tracking: unexpected errors go to Sentry');
  return {
    capture(err, msg, fields) {
      const extra: Record<string, string> = {};
      for (const key of SAFE_FIELDS) if (typeof fields[key] === 'string') extra[key] = fields[key];
      scope.captureException(err, { captureContext: { extra: { msg, ...extra }, tags: { msg } } });
    },
    close: async () => {
      await client.close(2000);
    },
  };
}

/** A logger that also sends every error-level line carrying an Error (`err`) to `tracker`. */
export function trackingErrors(log: Logger, tracker: ErrorTracker, base: Record<string, unknown> = {}): Logger {
  return {
    info: (msg, fields) => log.info(msg, fields),
    warn: (msg, fields) => log.warn(msg, fields),
    error: (msg, fields) => {
      log.error(msg, fields);
      if (fields?.err instanceof Error) tracker.capture(fields.err, msg, { ...base, ...fields });
    },
    child: (fields) => trackingErrors(log.child(fields), tracker, { ...base, ...fields }),
  };
}
