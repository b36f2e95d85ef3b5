import { type ChildProcess, execFileSync, type SpawnOptions, type StdioOptions } from 'node:child_process';
import { accessSync, constants, readdirSync, readFileSync, realpathSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import {
  Agent,
  type ClientRequestArgs,
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  request,
  type Server,
  type ServerResponse,
} from 'node:http';
import {
  createServer as createHttp2Server,
  type Http2Server,
  type Http2ServerRequest,
  type Http2ServerResponse,
} from 'node:http2';
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import { delimiter, dirname, join } from 'node:path';

/**
 * The `confined` layer of the process runtime, for hosts without bubblewrap: the instance is a plain host process
 * held by Node's permission model. Node ≥ 25 started with `--permission` denies every network operation (TCP, UDP,
 * DNS, unix sockets, listening included) unless `--allow-net` is given, so the instance cannot open a listener of
 * its own: the platform hands it socket pairs at spawn instead (inherited file descriptors), serves the instance's
 * unix socket path itself and relays each request over one of them; `ctx.fetch` goes out over another, to the
 * egress proxy. No path of the host is readable but the bundle's folder, none writable, and child processes,
 * workers, native addons, WASI and the inspector are refused.
 */

/** The first Node major whose permission model gates the network (`--allow-net`). */
export const CONFINED_NODE_MAJOR = 25;
/** Socket pairs an instance serves HTTP/1.1 on: as many requests can be in flight at once; more wait their turn. */
export const INBOUND_CHANNELS = 8;
/** The instance's end of the egress channel (HTTP/2, one stream per `ctx.fetch` hop). */
export const EGRESS_FD = 3;
const FIRST_INBOUND_FD = 4;
/** Largest request body relayed to an instance (the gateway's own bound is lower). */
const MAX_REQUEST_BYTES = 16 * 1024 * 1024;

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'te',
  'trailer',
  'http2-settings',
  'host',
]);

/** The `node` binary of the reconciler's own `node` dependency (a Node with network permissions), if installed. */
export function packagedNode(): string | undefined {
  try {
    const pkg = createRequire(import.meta.url).resolve('node/package.json');
    return realpathSync(join(dirname(pkg), 'bin', 'node'));
  } catch {
    return undefined;
  }
}

/** Major version of the Node binary at `path`, or null when it does not run. */
export function nodeMajor(path: string): number | null {
  try {
    const out = execFileSync(path, ['--version'], { encoding: 'utf8', timeout: 10_000, env: {} });
    const m = /^v(\d+)\./.exec(out.trim());
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/** The first of `candidates` that is a Node able to deny the network, with its major version. */
export function findConfinedNode(candidates: (string | undefined)[]): { path: string; major: number } | undefined {
  for (const path of candidates) {
    if (!path) continue;
    const major = nodeMajor(path);
    if (major !== null && major >= CONFINED_NODE_MAJOR) return { path: realpathSync(path), major };
  }
  return undefined;
}

/** An executable named `name` in the PATH (`env.PATH`), or undefined. */
export function whichSync(name: string, path = process.env.PATH ?? ''): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * Node's permission flags for a confined instance: read access to `readable` (the bundle's folder) only; nothing
 * writable; no network, child processes, workers, addons or WASI (none of their `--allow-*` flags is given).
 */
export function permissionArgs(readable: string[]): string[] {
  return ['--permission', ...readable.map((p) => `--allow-fs-read=${p}`)];
}

/** stdio of a confined instance: its output, then the egress channel (fd 3) and the inbound channels (fd 4…). */
export function channelStdio(egress: boolean): StdioOptions {
  return ['ignore', 'pipe', 'pipe', egress ? 'pipe' : 'ignore', ...Array(INBOUND_CHANNELS).fill('pipe')];
}

/** O_CLOEXEC in the octal `flags` of /proc/<pid>/fdinfo/<fd>. */
const O_CLOEXEC = 0o2000000;

/**
 * The descriptors from `from` on that this process holds without close-on-exec, so that every child inherits them:
 * only what the platform itself inherited from whatever started it (Node and libuv open everything close-on-exec).
 * A supervisor's pipe, a socket handed down by systemd or a file opened by a wrapper script would otherwise be
 * readable in a confined instance, since Node's permission model does not check operations on open descriptors.
 * Read right before a spawn, so that each number still names the inherited descriptor in the child, which closes
 * them first thing (confined-preload.cjs). Empty where there is no /proc.
 */
export function inheritedDescriptors(from: number): number[] {
  let names: string[];
  try {
    names = readdirSync('/proc/self/fd');
  } catch {
    return [];
  }
  const fds: number[] = [];
  for (const name of names) {
    const fd = Number(name);
    if (!(fd >= from)) continue;
    try {
      const flags = /^flags:\s*([0-7]+)/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'latin1'))?.[1];
      if (flags !== undefined && (Number.parseInt(flags, 8) & O_CLOEXEC) === 0) fds.push(fd);
    } catch {
      // closed meanwhile (the listing's own descriptor, for one)
    }
  }
  return fds;
}

/** `options` of a confined spawn, telling the child which inherited descriptors to close (BMMS_CLOSE_FDS). */
export function closingInherited(options: SpawnOptions): SpawnOptions {
  const fds = inheritedDescriptors(Array.isArray(options.stdio) ? options.stdio.length : 3);
  if (fds.length === 0) return options;
  return { ...options, env: { ...options.env, BMMS_CLOSE_FDS: fds.join(',') } };
}

/** The environment that tells the instance's runtime where its channels are (see runner-template server.ts). */
export function channelEnv(egress: boolean): Record<string, string> {
  const fds = Array.from({ length: INBOUND_CHANNELS }, (_, i) => FIRST_INBOUND_FD + i);
  return { BMMS_CHANNEL_FDS: fds.join(','), ...(egress ? { BMMS_EGRESS_FD: String(EGRESS_FD) } : {}) };
}

function forwardable(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || name.startsWith(':') || HOP_BY_HOP.has(name)) continue;
    out[name] = value;
  }
  return out;
}

/** An HTTP/1.1 keep-alive agent over a fixed set of socket pairs; a pair that closes is never replaced. */
class ChannelAgent extends Agent {
  readonly #spare: Socket[];
  readonly #onExhausted: () => void;
  #open: number;

  constructor(sockets: Socket[], onExhausted: () => void) {
    super({ keepAlive: true, maxSockets: sockets.length, maxFreeSockets: sockets.length, scheduling: 'lifo' });
    this.#spare = [...sockets];
    this.#open = sockets.length;
    this.#onExhausted = onExhausted;
    for (const s of sockets) {
      s.on('error', () => {}); // a broken pair fails its request; the agent drops it
      s.once('close', () => {
        if (--this.#open === 0) this.#onExhausted();
      });
    }
  }

  /** Whether a request now would go out at once (a pair never used, or one free in the pool). */
  hasFree(): boolean {
    if (this.#spare.length > 0) return true;
    return Object.values(this.freeSockets).some((sockets) => (sockets?.length ?? 0) > 0);
  }

  /** The agent asks for a connection when it has no free one: hand out a pair it has not had yet. */
  override createConnection(
    _options: ClientRequestArgs,
    callback?: (err: Error | null, socket: Socket) => void,
  ): Socket | undefined {
    const socket = this.#spare.pop();
    if (socket) return socket;
    callback?.(new Error('the instance closed every channel'), undefined as unknown as Socket);
    return undefined;
  }
}

/**
 * The platform's end of a confined instance's channels: a unix socket at the instance's `socketPath` (so the
 * gateway, probes and tools reach it as any other instance) relaying each request over an inbound pair, and the
 * egress channel's HTTP/2 server relaying each stream to the instance's egress proxy socket.
 */
export class ChannelBridge {
  readonly #server: Server;
  readonly #agent: ChannelAgent;
  readonly #egress: Http2Server | undefined;
  readonly #socketPath: string;

  constructor(
    child: ChildProcess,
    opts: { socketPath: string; egressSocket?: string | undefined; onExhausted: () => void },
  ) {
    this.#socketPath = opts.socketPath;
    const inbound = Array.from(
      { length: INBOUND_CHANNELS },
      (_, i) => child.stdio[FIRST_INBOUND_FD + i] as Socket | null,
    ).filter((s): s is Socket => s !== null);
    this.#agent = new ChannelAgent(inbound, opts.onExhausted);
    this.#server = createServer((req, res) => this.#relay(req, res));
    this.#server.keepAliveTimeout = 5_000;
    const egressSocket = opts.egressSocket;
    const egressChannel = child.stdio[EGRESS_FD] as Socket | null;
    if (egressSocket && egressChannel) {
      egressChannel.on('error', () => {});
      this.#egress = createHttp2Server({ maxSessionMemory: 8, settings: { maxConcurrentStreams: 32 } }, (req, res) =>
        relayEgress(egressSocket, req, res),
      );
      this.#egress.emit('connection', egressChannel);
    }
  }

  /** Whether a request would reach the instance at once (else it waits for one of the calls in flight to end). */
  hasFreeChannel(): boolean {
    return this.#agent.hasFree();
  }

  /** Starts serving the instance's socket path. */
  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.#socketPath, () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
  }

  /** Stops serving the socket path and drops the channels (the instance is gone or going). */
  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#agent.destroy();
    this.#egress?.close();
    await rm(this.#socketPath, { force: true }).catch(() => {});
  }

  /**
   * One request over a pair. The body is read whole first and the response is always read to its end, even when
   * the caller hung up: a pair left mid-message could never carry another request.
   */
  #relay(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    let size = 0;
    let refused = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_REQUEST_BYTES) {
        if (!refused) res.writeHead(413, { 'content-type': 'application/json', connection: 'close' });
        if (!refused) res.end(JSON.stringify({ error: 'payload_too_large' }));
        refused = true;
        return;
      }
      chunks.push(chunk);
    });
    req.once('error', () => {});
    req.once('end', () => {
      if (refused) return;
      const body = Buffer.concat(chunks);
      const upstream = request({
        agent: this.#agent,
        host: 'instance',
        method: req.method,
        path: req.url,
        headers: { ...forwardable(req.headers), 'content-length': String(body.length) },
      });
      upstream.once('response', (up) => {
        if (res.destroyed) {
          drainAbandoned(up);
          return;
        }
        res.writeHead(up.statusCode ?? 502, forwardable(up.headers));
        up.pipe(res);
        res.once('close', () => {
          if (!up.complete) drainAbandoned(up); // the caller left: read the rest so the pair stays usable
        });
      });
      // `on`, not `once`: a request queued for a pair can be failed more than once (each pair that closes while it
      // waits fails it again), and an 'error' without a listener would end the platform.
      upstream.on('error', (err) => {
        if (res.headersSent) res.destroy(err);
        else if (!res.writableEnded) {
          res.writeHead(502, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: 'instance_unreachable', message: err.message }));
        }
      });
      upstream.end(body);
    });
  }
}

/** What is read of an answer nobody waits for any more before its pair is given up (bytes, then time). */
const ABANDONED_DRAIN_BYTES = 8 * 1024 * 1024;
const ABANDONED_DRAIN_MS = 120_000;

/**
 * Reads the rest of an answer whose caller left, so that its pair can carry the next request; an instance that
 * keeps answering past the bounds loses the pair instead (it is never replaced: an instance that loses all of
 * them is stopped), so an endless answer costs the platform neither CPU nor memory for long.
 */
function drainAbandoned(up: IncomingMessage): void {
  let read = 0;
  const giveUp = () => up.socket?.destroy();
  const timer = setTimeout(giveUp, ABANDONED_DRAIN_MS);
  timer.unref();
  up.on('data', (chunk: Buffer) => {
    read += chunk.length;
    if (read > ABANDONED_DRAIN_BYTES) giveUp();
  });
  up.once('close', () => clearTimeout(timer));
  up.resume();
}

/** One `ctx.fetch` hop from the egress channel, sent to the instance's egress proxy in absolute form. */
function relayEgress(egressSocket: string, req: Http2ServerRequest, res: Http2ServerResponse): void {
  const fail = (status: number, message: string): void => {
    if (res.headersSent) {
      res.stream.close();
      return;
    }
    res.writeHead(status, { 'content-type': 'text/plain' });
    res.end(message);
  };
  let url: URL;
  try {
    const scheme = String(req.headers[':scheme'] ?? '');
    if (scheme !== 'http' && scheme !== 'https') throw new Error('scheme');
    url = new URL(`${scheme}://${String(req.headers[':authority'] ?? '')}${String(req.headers[':path'] ?? '/')}`);
  } catch {
    fail(400, 'not an absolute http(s) request');
    return;
  }
  const up = request({
    socketPath: egressSocket,
    method: req.method,
    path: url.href,
    headers: { ...forwardable(req.headers), host: url.host },
  });
  up.once('response', (upRes) => {
    if (res.stream.destroyed) {
      upRes.destroy();
      return;
    }
    res.writeHead(upRes.statusCode ?? 502, forwardable(upRes.headers));
    upRes.pipe(res);
  });
  up.once('error', (err) => fail(502, `egress proxy: ${err.message}`));
  res.once('close', () => {
    if (!res.writableFinished) up.destroy();
  });
  req.pipe(up);
}
