import http from 'node:http';

/**
 * Keep-alive connections to every instance's socket (pooled per socket path): a call does not pay for a new
 * connection. An instance that stops closes its idle connections; a call that finds one closed under it is
 * retried once on a new connection (see `proxy` in mcp.ts). Over the network (a swarm task on another node) the
 * agent's keep-alive also probes each idle connection, a call waiting for its answer included: TCP keep-alive after
 * `keepAliveMsecs` (1 s), then Node's 10 probes a second apart. A call in flight to an instance whose node was lost
 * fails in about 11 s (502 bad_gateway), not after the kernel's quarter of an hour of retries; a live instance's
 * kernel answers the probes however long its tool runs.
 */
export const upstreamAgent = new http.Agent({ keepAlive: true, maxFreeSockets: 32, scheduling: 'lifo' });

/**
 * An instance reached over the network that does not accept a connection this soon is taken as gone: its node was
 * lost, and the kernel would otherwise retry the connection for two minutes.
 */
const CONNECT_TIMEOUT_MS = 3000;
export const CONNECT_TIMED_OUT = 'BMMS_CONNECT_TIMEOUT';

/** Fails `upstream` when its new TCP connection is not made within CONNECT_TIMEOUT_MS. */
export function boundConnect(upstream: http.ClientRequest): void {
  upstream.once('socket', (socket) => {
    if (!socket.connecting) return;
    const timer = setTimeout(() => {
      const err: NodeJS.ErrnoException = new Error('the instance did not accept a connection in time');
      err.code = CONNECT_TIMED_OUT;
      upstream.destroy(err);
    }, CONNECT_TIMEOUT_MS);
    socket.once('connect', () => clearTimeout(timer));
    socket.once('close', () => clearTimeout(timer));
  });
}
