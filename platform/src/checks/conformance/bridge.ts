import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, request, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connectOptions } from '@bmms/reconciler';
import type { PreviewEndpoint } from '../../previews.ts';

/** A loopback HTTP address that forwards to a preview's socket. */
export interface Bridge {
  /** `http://localhost:<port>/<secret>/mcp`. */
  url: string;
  close(): Promise<void>;
}

/**
 * Opens `http://localhost:<port>` on the loopback interface for a suite that speaks plain HTTP (the conformance
 * runner): each request goes to the preview's socket as it came (method, path, headers, body, streamed both ways)
 * with the platform's credential added, as the gateway would send it. Nothing outside this machine can reach it, a
 * request without the bridge's random path prefix is refused (another local process cannot borrow the credential),
 * and it closes with the check.
 */
export async function openBridge(endpoint: PreviewEndpoint): Promise<Bridge> {
  const prefix = `/${randomBytes(16).toString('hex')}`;
  const server = createServer((req, res) => {
    if (!req.url?.startsWith(`${prefix}/`)) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found');
      return;
    }
    forward(endpoint, req.url.slice(prefix.length), req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://localhost:${port}${prefix}/mcp`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function forward(endpoint: PreviewEndpoint, path: string, req: IncomingMessage, res: ServerResponse): void {
  const headers = { ...req.headers, ...endpoint.headers() };
  const upstream = request(
    { ...connectOptions(endpoint.socketPath), method: req.method, path, headers, agent: false },
    (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    },
  );
  upstream.on('error', (err) => {
    if (res.headersSent) res.destroy(err);
    else {
      res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`the preview did not answer: ${err.message}`);
    }
  });
  res.on('close', () => upstream.destroy());
  req.pipe(upstream);
}
