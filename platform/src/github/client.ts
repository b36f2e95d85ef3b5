import { Octokit } from '@octokit/rest';

/**
 * How a GitHub client authenticates: a token, or a function handing out one (an App installation's); `renew` asks
 * for a new one instead of the one kept (GitHub refused it before it expired: the app was reinstalled).
 */
export type GitHubAuth = string | ((renew?: boolean) => Promise<string>);

export interface GitHubClientOptions {
  /** The REST API's root: https://api.github.com, GitHub Enterprise Server's https://<host>/api/v3, or a stand-in. */
  baseUrl: string;
  auth: GitHubAuth;
  /** Tries of one request answered 5xx or rate-limited (default 4). */
  attempts?: number;
  /** The longest wait honoured (retry-after, x-ratelimit-reset); a longer one fails at once (default 60 s). */
  maxWaitMs?: number;
  /** How a wait is spent (tests count them). */
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
}

/** An error Octokit throws: its status and the answer's headers. */
interface Answered {
  status?: number;
  response?: { headers?: Record<string, string | number | undefined> };
}

const FIRST_BACKOFF_MS = 500;

/**
 * How long to wait before trying a failed request again, or null when trying again cannot help. A rate-limited
 * answer (403 or 429) waits as GitHub says: `retry-after` seconds, or until `x-ratelimit-reset` when no request is
 * left; a 5xx (or a 429 that says nothing) backs off exponentially.
 */
export function retryDelay(err: unknown, attempt: number, now = Date.now()): number | null {
  if (typeof err !== 'object' || err === null) return null;
  const { status, response } = err as Answered;
  if (status === undefined) return null;
  const header = (name: string) => {
    const value = response?.headers?.[name];
    return value === undefined ? undefined : String(value);
  };
  const limited = status === 429 || status === 403;
  const retryAfter = header('retry-after');
  if (retryAfter !== undefined && (limited || status >= 500)) {
    const seconds = Number(retryAfter);
    if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
    const at = Date.parse(retryAfter);
    return Number.isNaN(at) ? null : Math.max(0, at - now);
  }
  const reset = header('x-ratelimit-reset');
  if (limited && header('x-ratelimit-remaining') === '0' && reset !== undefined) {
    return Math.max(0, Number(reset) * 1000 - now);
  }
  if (status === 429 || status >= 500) return FIRST_BACKOFF_MS * 2 ** (attempt - 1);
  return null;
}

/**
 * An Octokit for one GitHub account, whose requests are tried again when GitHub answers 5xx or rate-limits them,
 * honouring `retry-after` and `x-ratelimit-reset`. A token from a function is fetched for every try (an App's
 * installation token is renewed before it expires).
 */
export function githubClient(options: GitHubClientOptions): Octokit {
  const attempts = options.attempts ?? 4;
  const maxWaitMs = options.maxWaitMs ?? 60_000;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const now = options.now ?? Date.now;
  const { auth } = options;
  const octokit = new Octokit({
    baseUrl: options.baseUrl.replace(/\/+$/, ''),
    userAgent: 'BuildMyMCPServer',
    ...(typeof auth === 'string' ? { auth } : {}),
    // Octokit's own console warnings would leak into the platform's output: failures surface as errors instead.
    log: { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} },
  });
  octokit.hook.wrap('request', async (request, requestOptions) => {
    let renew = false;
    let renewed = false;
    for (let attempt = 1; ; attempt++) {
      if (typeof auth === 'function') requestOptions.headers.authorization = `token ${await auth(renew)}`;
      renew = false;
      try {
        return await request(requestOptions);
      } catch (err) {
        // An installation token refused before it expired (revoked when the app was uninstalled): one new one.
        if (typeof auth === 'function' && statusOf(err) === 401 && !renewed) {
          renew = renewed = true;
          continue;
        }
        const wait = retryDelay(err, attempt, now());
        if (wait === null || attempt >= attempts || wait > maxWaitMs) throw err;
        await sleep(wait);
      }
    }
  });
  return octokit;
}

/** The HTTP status GitHub answered with, when an error is one. */
export const statusOf = (err: unknown): number | undefined =>
  typeof err === 'object' && err !== null ? (err as { status?: number }).status : undefined;

/** GitHub's own words for a failed request (its `message`), or the error's. */
export function githubMessage(err: unknown): string {
  const data = (err as { response?: { data?: { message?: unknown } } } | null)?.response?.data;
  if (typeof data?.message === 'string') return data.message;
  return err instanceof Error ? err.message : String(err);
}
