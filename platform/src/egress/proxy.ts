import { createHash } from 'node:crypto';
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { chmod, mkdir, rm } from 'node:fs/promises';
import {
  type ClientRequest,
  createServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type Server,
  type ServerResponse,
} from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { join } from 'node:path';
import { type AddressClass, addressClassifier, DEFAULT_PORTS, egressRefusal } from '@bmms/runner-template';
import {
  addressRefused,
  badProxyRequest,
  type EgressRefusedError,
  policyRefused,
  resolveFailed,
  unauthorized,
  unrecorded,
  upstreamFailed,
} from './errors.ts';
import { NetworkListener } from './network.ts';

/** Where an instance finds the proxy's folder inside its sandbox. */
export const EGRESS_SANDBOX_DIR = '/run/bmms-egress';
/** The socket path an instance is given in `BMMS_EGRESS_SOCKET` (sandbox path; the process runtime maps it in insecure mode). */
export const EGRESS_SANDBOX_SOCKET = `${EGRESS_SANDBOX_DIR}/egress.sock`;

/** Answers a refusal the proxy decided before knowing whose request it is (nothing metered, nothing sent out). */
function refuse(req: IncomingMessage, res: ServerResponse, error: EgressRefusedError): void {
  req.resume();
  res.writeHead(error.status, { 'content-type': 'application/json', connection: 'close' });
  res.end(JSON.stringify({ error: { code: error.code, message: error.message } }));
}

/** What an instance on a network may do through the proxy. */
type Grant = { allow: string[]; server: string; replay: ReplaySource | undefined };

/** Resolves a host name to every address it has (dns.lookup with `all: true` by default). */
export type ResolveAll = (hostname: string) => Promise<LookupAddress[]>;

export type EgressProxyOptions = {
  /** Folder under which each listener gets its own folder holding `egress.sock`. */
  root: string;
  /** Name resolution; tests inject a fake one. */
  lookup?: ResolveAll;
  /** Test-only escape hatch: addresses it returns true for are allowed although not public. Default: none. */
  allowPrivate?: (address: string) => boolean;
  /** Test-only: parts of documentation ranges that count as public (BMMS_TEST_PUBLIC_RANGES). Default: none. */
  testPublicRanges?: readonly string[];
  /** Test-only: the port actually dialled for `host:port` (a local fake listening on a random port). Default: `port`. */
  upstreamPort?: (host: string, port: number) => number;
  /** Extra CA certificates trusted for upstream TLS (tests with a self-signed upstream). */
  ca?: string | Buffer;
  /** Idle timeout of an upstream connection (default 30 s). */
  timeoutMs?: number;
  /** Structured log sink; gets one line per request (never headers, paths or bodies). */
  log?: (entry: Record<string, unknown>) => void;
  /** Hears upstream exchanges of the servers it wants (bounded bodies). */
  tap?: EgressTap;
};

/** The largest upstream body a tap gets (longer ones are cut and marked `truncated`). */
export const TAP_BODY_BYTES = 64 * 1024;

/** One upstream exchange, as a tap hears it once the answer ended. */
export type TappedExchange = {
  at: number;
  method: string;
  url: string;
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  truncated: boolean;
};

/** Who hears the upstream exchanges of some servers (the replay recorder, for servers whose owner consented). */
export type EgressTap = {
  wants(server: string): boolean;
  exchange(server: string, exchange: TappedExchange): void;
};

/** A recorded upstream answer a replaying listener serves instead of going out. */
export type RecordedAnswer = { status: number; headers: Record<string, string>; body: string };

/** Finds the recorded answer to a request (`url` absolute); undefined when there is none. */
export type ReplaySource = (method: string, url: string) => RecordedAnswer | undefined;

/** Per-server traffic counters since the proxy started. */
export type EgressStats = {
  requests: number;
  refused: number;
  failed: number;
  bytesIn: number;
  bytesOut: number;
};

type Listener = { server: Server; dir: string; socketPath: string };

const SOCKET_NAME = 'egress.sock';
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
]);

const defaultResolve: ResolveAll = (hostname) =>
  new Promise((resolve, reject) => {
    dnsLookup(hostname, { all: true, verbatim: true }, (err, addresses) => (err ? reject(err) : resolve(addresses)));
  });

/** Headers minus hop-by-hop ones (the fixed list plus whatever `Connection` names). */
function endToEnd(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const named = new Set(
    String(headers.connection ?? '')
      .split(',')
      .map((h) => h.trim().toLowerCase())
      .filter(Boolean),
  );
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || named.has(name)) continue;
    out[name] = value;
  }
  return out;
}

/** Which rule of the shared egress policy `url` breaks against `allow`, as the proxy's 403; null when allowed. */
export function checkAllowed(url: URL, allow: readonly string[]): EgressRefusedError | null {
  const refusal = egressRefusal(url, allow);
  return refusal ? policyRefused(refusal) : null;
}

/**
 * The platform's egress proxy: one unix-socket listener per instance, taking absolute-form HTTP requests
 * (`GET https://host/path`), allowing only the instance's allowlisted hosts and ports, resolving names itself
 * and connecting only to the public address it validated (DNS-rebinding safe). Logs and meters every request.
 */
export class EgressProxy {
  readonly #root: string;
  readonly #resolve: ResolveAll;
  readonly #allowPrivate: (address: string) => boolean;
  readonly #classify: (address: string) => AddressClass;
  readonly #upstreamPort: (host: string, port: number) => number;
  readonly #ca: string | Buffer | undefined;
  readonly #timeoutMs: number;
  readonly #log: (entry: Record<string, unknown>) => void;
  readonly #tap: EgressTap | undefined;
  readonly #listeners = new Map<string, Listener>();
  readonly #stats = new Map<string, EgressStats>();
  #network: NetworkListener<Grant> | undefined;

  constructor(opts: EgressProxyOptions) {
    this.#root = opts.root;
    this.#resolve = opts.lookup ?? defaultResolve;
    this.#allowPrivate = opts.allowPrivate ?? (() => false);
    this.#classify = addressClassifier(opts.testPublicRanges);
    this.#upstreamPort = opts.upstreamPort ?? ((_host, port) => port);
    this.#ca = opts.ca;
    this.#timeoutMs = opts.timeoutMs ?? 30_000;
    this.#log = opts.log ?? ((entry) => process.stdout.write(`${JSON.stringify(entry)}\n`));
    this.#tap = opts.tap;
  }

  /**
   * Opens a listener for `key` (an instance id) allowing `allow`; returns its folder (to bind) and socket path.
   * With `replay`, the listener never goes out: it answers allowed requests with what `replay` finds, or 502.
   */
  async open(
    key: string,
    opts: { allow: readonly string[]; server: string; replay?: ReplaySource },
  ): Promise<{ dir: string; socketPath: string }> {
    await this.close(key);
    // A short hashed folder name keeps the socket path under the 107-byte unix limit.
    const dir = join(this.#root, createHash('sha256').update(key).digest('hex').slice(0, 16));
    const socketPath = join(dir, SOCKET_NAME);
    await mkdir(this.#root, { recursive: true, mode: 0o711 });
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { mode: 0o711 });
    await chmod(dir, 0o711);
    const allow = [...opts.allow];
    const { replay } = opts;
    const server = createServer((req, res) => void this.#handle(opts.server, allow, req, res, replay));
    server.on('connect', (_req, socket) => {
      socket.end('HTTP/1.1 405 Method Not Allowed\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
    // The sandboxed server runs as another uid (65534): it must be able to connect.
    await chmod(socketPath, 0o666);
    this.#listeners.set(key, { server, dir, socketPath });
    return { dir, socketPath };
  }

  /**
   * From now on instances reach the proxy over a network (the swarm runtime's overlay) at `address`, not through a
   * bound socket: see `access`.
   */
  serveOnNetwork(address: () => Promise<string>): void {
    this.#network = new NetworkListener<Grant>(address, (grant, req, res) => {
      if (grant) void this.#handle(grant.server, grant.allow, req, res, grant.replay);
      else refuse(req, res, unauthorized());
    });
  }

  /**
   * What an instance needs to reach the proxy as `key`: its environment and binds. A listener of its own in a
   * folder bound into its sandbox (BMMS_EGRESS_SOCKET) or, on a network, the shared listener's URL and a token of
   * its own (BMMS_EGRESS_URL, BMMS_EGRESS_TOKEN).
   */
  async access(
    key: string,
    opts: { allow: readonly string[]; server: string; replay?: ReplaySource },
  ): Promise<{ env: Record<string, string>; binds: { host: string; sandbox: string }[] }> {
    if (this.#network) {
      const { url, token } = await this.#network.open(key, {
        allow: [...opts.allow],
        server: opts.server,
        replay: opts.replay,
      });
      return { env: { BMMS_EGRESS_URL: url, BMMS_EGRESS_TOKEN: token }, binds: [] };
    }
    const { dir } = await this.open(key, opts);
    return {
      env: { BMMS_EGRESS_SOCKET: EGRESS_SANDBOX_SOCKET },
      binds: [{ host: dir, sandbox: EGRESS_SANDBOX_DIR }],
    };
  }

  /** Closes the listener of `key` (open requests are cut) and removes its folder; a no-op when unknown. */
  async close(key: string): Promise<void> {
    if (this.#network?.close(key)) return;
    const listener = this.#listeners.get(key);
    if (!listener) return;
    this.#listeners.delete(key);
    await new Promise<void>((resolve) => {
      listener.server.close(() => resolve());
      listener.server.closeAllConnections();
    });
    await rm(listener.dir, { recursive: true, force: true });
  }

  /** Closes every listener. */
  async closeAll(): Promise<void> {
    await Promise.all([...this.#listeners.keys()].map((key) => this.close(key)));
    await this.#network?.closeAll();
  }

  /** Counters for one server (zeros when it never sent anything). */
  stats(server: string): EgressStats {
    return { ...(this.#stats.get(server) ?? { requests: 0, refused: 0, failed: 0, bytesIn: 0, bytesOut: 0 }) };
  }

  #meter(server: string): EgressStats {
    let s = this.#stats.get(server);
    if (!s) {
      s = { requests: 0, refused: 0, failed: 0, bytesIn: 0, bytesOut: 0 };
      this.#stats.set(server, s);
    }
    return s;
  }

  /** Hands a consenting server's upstream answer (bounded) to the tap once it ended. */
  #tapAnswer(server: string, method: string, url: URL, answer: IncomingMessage): void {
    const tap = this.#tap;
    if (!tap) return;
    const chunks: Buffer[] = [];
    let size = 0;
    answer.on('data', (chunk: Buffer) => {
      if (size < TAP_BODY_BYTES) chunks.push(chunk);
      size += chunk.length;
    });
    answer.on('end', () => {
      const body = Buffer.concat(chunks).subarray(0, TAP_BODY_BYTES);
      const exchange = { at: Date.now(), method, url: url.toString(), status: answer.statusCode ?? 502 };
      tap.exchange(server, { ...exchange, headers: answer.headers, body, truncated: size > TAP_BODY_BYTES });
    });
  }

  async #handle(
    server: string,
    allow: readonly string[],
    req: IncomingMessage,
    res: ServerResponse,
    replay?: ReplaySource,
  ): Promise<void> {
    const started = performance.now();
    const meter = this.#meter(server);
    meter.requests++;
    let host = '';
    let bytesOut = 0;
    let bytesIn = 0;
    let outcome: 'ok' | 'refused' | 'failed' = 'ok';
    let rule: string | undefined;
    res.once('close', () => {
      meter.bytesIn += bytesIn;
      meter.bytesOut += bytesOut;
      this.#log({
        level: outcome === 'ok' ? 'info' : 'warn',
        msg: 'egress',
        server,
        host,
        method: req.method,
        status: res.statusCode,
        bytesIn,
        bytesOut,
        ms: Math.round(performance.now() - started),
        ...(rule ? { rule } : {}),
      });
    });
    const fail = (error: EgressRefusedError): void => {
      outcome = error.status === 403 || error.status === 400 ? 'refused' : 'failed';
      if (outcome === 'refused') meter.refused++;
      else meter.failed++;
      rule = error.code;
      req.resume();
      if (res.headersSent) {
        res.destroy();
        return;
      }
      res.writeHead(error.status, { 'content-type': 'application/json', connection: 'close' });
      res.end(JSON.stringify({ error: { code: error.code, message: error.message } }));
    };

    let url: URL;
    try {
      url = new URL(req.url ?? '');
    } catch {
      fail(badProxyRequest('Send absolute-form requests: "GET https://host/path HTTP/1.1".'));
      return;
    }
    host = url.hostname;
    const refusal = checkAllowed(url, allow);
    if (refusal) {
      fail(refusal);
      return;
    }
    if (replay) {
      bytesIn = answerRecorded(replay, req, res, url, fail);
      return;
    }
    const bare = host.startsWith('[') ? host.slice(1, -1) : host;
    let address: LookupAddress;
    try {
      const all = isIP(bare) ? [{ address: bare, family: isIP(bare) }] : await this.#resolve(bare);
      if (all.length === 0) throw new Error('no address');
      // Every address must be acceptable: a mixed answer is how rebinding attacks start.
      if (all.some((a) => !this.#classify(a.address).public && !this.#allowPrivate(a.address))) {
        fail(addressRefused(host));
        return;
      }
      address = all[0] as LookupAddress;
    } catch {
      fail(resolveFailed(host));
      return;
    }

    // Connect to exactly the validated address: the name is never resolved again.
    const pinned: LookupFunction = (_hostname, options, callback) => {
      if (options.all) callback(null, [address]);
      else callback(null, address.address, address.family);
    };
    const isHttps = url.protocol === 'https:';
    const port = Number(url.port === '' ? DEFAULT_PORTS[url.protocol] : url.port);
    const headers = endToEnd(req.headers);
    headers.host = url.host;
    const options = {
      host: bare,
      port: this.#upstreamPort(bare, port),
      method: req.method,
      path: `${url.pathname}${url.search}`,
      headers,
      lookup: pinned,
      agent: false,
      timeout: this.#timeoutMs,
    };
    const upstream: ClientRequest = isHttps
      ? httpsRequest({ ...options, ...(isIP(bare) ? {} : { servername: bare }), ...(this.#ca ? { ca: this.#ca } : {}) })
      : httpRequest(options);
    upstream.on('timeout', () => upstream.destroy(new Error('upstream timeout')));
    upstream.on('error', () => fail(upstreamFailed(host)));
    upstream.on('response', (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.statusMessage, endToEnd(answer.headers));
      answer.on('data', (chunk: Buffer) => {
        bytesIn += chunk.length;
      });
      if (this.#tap?.wants(server)) this.#tapAnswer(server, req.method ?? 'GET', url, answer);
      answer.on('error', () => res.destroy());
      answer.pipe(res);
    });
    req.on('data', (chunk: Buffer) => {
      bytesOut += chunk.length;
    });
    req.on('aborted', () => upstream.destroy());
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
    req.pipe(upstream);
  }
}

/** A replaying listener's answer: the recorded one, or 502 when none matches. Returns the bytes sent. */
function answerRecorded(
  replay: ReplaySource,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  fail: (error: EgressRefusedError) => void,
): number {
  req.resume();
  const recorded = replay(req.method ?? 'GET', url.toString());
  if (!recorded) {
    fail(unrecorded(req.method ?? 'GET', url.hostname));
    return 0;
  }
  res.writeHead(recorded.status, recorded.headers);
  res.end(recorded.body);
  return Buffer.byteLength(recorded.body);
}
