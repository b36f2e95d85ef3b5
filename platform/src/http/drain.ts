import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';

type Listener = RequestListener<typeof IncomingMessage, typeof ServerResponse>;

/**
 * An HTTP server that can drain: once `drain` starts it takes no new connections, answers a new request on a kept
 * connection with 503 (`Retry-After`, `Connection: close`), and lets the requests in flight finish within a bound.
 */
export class DrainingServer {
  readonly server: Server;
  #draining = false;
  #inFlight = 0;
  #idle: (() => void) | undefined;

  /** `handler` answers requests; `refuse` answers the ones that arrive while draining (503 shutting_down). */
  constructor(handler: Listener, refuse: Listener) {
    this.server = createServer((req, res) => this.#serve(handler, refuse, req, res));
  }

  /** Requests being answered now. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /**
   * Stops taking calls and waits up to `graceMs` for the ones in flight (long MCP tool calls, SSE streams), then
   * cuts what is left. Resolves with how many were cut once the server is closed.
   */
  async drain(graceMs: number): Promise<{ cut: number }> {
    this.#draining = true;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    if (this.#inFlight > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((resolve) => {
          this.#idle = resolve;
        }),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, graceMs);
        }),
      ]);
      clearTimeout(timer);
    }
    // A request pipelined behind the last one arrives a tick later: it is refused, not dropped.
    await new Promise((resolve) => setImmediate(resolve));
    const cut = this.#inFlight;
    this.server.closeIdleConnections();
    this.server.closeAllConnections();
    await closed;
    return { cut };
  }

  #serve(handler: Listener, refuse: Listener, req: IncomingMessage, res: ServerResponse): void {
    this.#inFlight++;
    res.once('close', () => {
      this.#inFlight--;
      if (!this.#draining) return;
      // A kept connection is not reused once draining; one with a request queued behind is answered (refused) first.
      setImmediate(() => this.server.closeIdleConnections());
      if (this.#inFlight === 0) this.#idle?.();
    });
    if (this.#draining) refuse(req, res);
    else handler(req, res);
  }
}
