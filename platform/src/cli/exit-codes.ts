import { RemoteError } from './client.ts';

/** The CLI's exit codes; documented in site/src/content/docs/cli.md. */
export const EXIT = {
  ok: 0,
  failure: 1,
  usage: 2,
  notFound: 3,
  conflict: 4,
  unauthorized: 5,
} as const;

/** A wrong invocation: unknown command or option, missing argument. Exits 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** The exit code for an error: from the HTTP status of an API error, 2 for usage, else 1. */
export function exitCodeOf(err: unknown): number {
  if (err instanceof UsageError) return EXIT.usage;
  if (!(err instanceof RemoteError)) return EXIT.failure;
  if (err.status === 401 || err.status === 403) return EXIT.unauthorized;
  if (err.status === 404) return EXIT.notFound;
  if (err.status === 409) return EXIT.conflict;
  if (err.status === 400) return EXIT.usage;
  return EXIT.failure;
}
