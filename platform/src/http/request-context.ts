import { AsyncLocalStorage } from 'node:async_hooks';

/** What is known of the request a piece of work serves: its id and the caller's address. */
export interface RequestContext {
  requestId: string;
  /** The caller's address as express sees it (X-Forwarded-For only from the trusted proxies). */
  ip: string | null;
}

const storage = new AsyncLocalStorage<RequestContext>();

/** Runs `fn` (and everything it starts) as part of the request `context`. */
export function withRequestContext<T>(context: RequestContext, fn: () => T): T {
  return storage.run(context, fn);
}

/** The request the current work serves, or undefined outside a request (the reconciler, start-up). */
export function currentRequest(): RequestContext | undefined {
  return storage.getStore();
}
