import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What one instance may do through the proxy (its allowlist, whose it is, a replay source). */
export type Grant<T> = { key: string; grant: T };

/**
 * The egress proxy's listener on a network (the swarm runtime's overlay), for instances on other nodes that no
 * bound socket reaches: one TCP listener for all of them at the platform's address there, each instance telling
 * who it is with its own random token (`Proxy-Authorization: Bearer <token>`, given in BMMS_EGRESS_TOKEN). The
 * handler refuses a request without a known token (407 `egress_unauthorized`): it never goes out.
 */
export class NetworkListener<T> {
  readonly #address: () => Promise<string>;
  /** Handles a request with the grant of its token, or `undefined` when it has no known token (to refuse it). */
  readonly #handle: (grant: T | undefined, req: IncomingMessage, res: ServerResponse) => void;
  readonly #grants = new Map<string, Grant<T>>();
  readonly #tokens = new Map<string, string>();
  #server: Promise<{ server: Server; url: string }> | undefined;

  constructor(
    address: () => Promise<string>,
    handle: (grant: T | undefined, req: IncomingMessage, res: ServerResponse) => void,
  ) {
    this.#address = address;
    this.#handle = handle;
  }

  /** A token for `key` (replacing its earlier one) and the URL to reach the listener at. */
  async open(key: string, grant: T): Promise<{ url: string; token: string }> {
    this.close(key);
    const { url } = await this.#listening();
    const token = randomBytes(24).toString('base64url');
    this.#grants.set(token, { key, grant });
    this.#tokens.set(key, token);
    return { url, token };
  }

  /** Forgets `key`'s token: its next request is refused. True when it had one. */
  close(key: string): boolean {
    const token = this.#tokens.get(key);
    if (token === undefined) return false;
    this.#tokens.delete(key);
    this.#grants.delete(token);
    return true;
  }

  /** Stops listening (open requests are cut). */
  async closeAll(): Promise<void> {
    this.#grants.clear();
    this.#tokens.clear();
    const listening = await this.#server?.catch(() => undefined);
    this.#server = undefined;
    if (!listening) return;
    await new Promise<void>((resolve) => {
      listening.server.close(() => resolve());
      listening.server.closeAllConnections();
    });
  }

  #listening(): Promise<{ server: Server; url: string }> {
    this.#server ??= (async () => {
      const host = await this.#address();
      const server = createServer((req, res) => {
        const token = /^Bearer ([A-Za-z0-9_-]{16,64})$/.exec(String(req.headers['proxy-authorization'] ?? ''))?.[1];
        this.#handle(token === undefined ? undefined : this.#grants.get(token)?.grant, req, res);
      });
      server.on('connect', (_req, socket) => {
        socket.end('HTTP/1.1 405 Method Not Allowed\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
      });
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, host, () => {
          server.off('error', reject);
          resolve();
        });
      });
      const { port } = server.address() as AddressInfo;
      return { server, url: `http://${host.includes(':') ? `[${host}]` : host}:${port}` };
    })();
    this.#server.catch(() => {
      this.#server = undefined;
    });
    return this.#server;
  }
}
