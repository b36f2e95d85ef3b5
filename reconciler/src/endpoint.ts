/**
 * Where an instance serves HTTP (`/healthz`, `/mcp`). Every runtime but one hands out a unix socket path on the
 * platform's host; the swarm runtime on an overlay network hands out `tcp://<task address>:<port>`, which any
 * platform replica attached to that network reaches, on whichever node the task runs. The field that carries it
 * is still called `socketPath` (in routes and in `instance_routes`): one string, either form.
 */
export type Endpoint = string;

const TCP = /^tcp:\/\/(\[[0-9a-f:]+\]|[0-9.]+|[a-z0-9.-]+):(\d{1,5})$/i;

/** `tcp://host:port` for an instance reached over the network. */
export function tcpEndpoint(host: string, port: number): Endpoint {
  return `tcp://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** The host and port of a `tcp://` endpoint; undefined for a unix socket path. */
export function tcpAddress(endpoint: Endpoint): { host: string; port: number } | undefined {
  const m = TCP.exec(endpoint);
  if (!m) return undefined;
  return { host: (m[1] as string).replace(/^\[|\]$/g, ''), port: Number(m[2]) };
}

/** What `http.request` needs to reach the endpoint: `{socketPath}` or `{host, port}`. */
export function connectOptions(endpoint: Endpoint): { socketPath: string } | { host: string; port: number } {
  return tcpAddress(endpoint) ?? { socketPath: endpoint };
}
