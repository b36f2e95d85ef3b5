import { randomUUID } from 'node:crypto';
import { chmodSync, lstatSync, unlinkSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import { ManifestError, ToolMismatchError } from '../errors.ts';
import { type Manifest, validateManifest } from '../spec.ts';
import { createSecretReader } from './context.ts';
import { type Caller, CredentialError, createCredentialVerifier } from './credential.ts';
import { createChannelFetch, createNetworkFetch } from './egress-socket.ts';
import { batchedWriter, captureConsole, createLogger, type Logger } from './log.ts';
import { handleMcpRequest, type McpDeps } from './mcp.ts';
import type { ToolDefinition } from './tool.ts';
import { traceOf } from './trace.ts';
import { injectedViews, viewsOf } from './views.ts';

const DRAIN_MS = 10_000;

/** What `src/server.ts` passes in; `env`, `write` and `exit` exist so tests can run it in-process. */
export interface StartServerOptions {
  /** The imported `mcp.json`; validated at start. */
  manifest: unknown;
  /** One default export per `src/tools/<tool>.ts`. */
  tools: readonly ToolDefinition[];
  env?: Record<string, string | undefined>;
  write?: (line: string) => void;
  /** Install SIGTERM/SIGINT and unhandled-rejection handlers and exit the process (default true). */
  ownProcess?: boolean;
  /** False: every MCP request through the SDK's Server, none on the direct path (see mcp.ts; for tests). */
  direct?: boolean;
  /** The built HTML of each `ui://` view by URI; default: what the platform's bundler injected (views.ts). */
  views?: Record<string, string>;
}

/** A listening server: its address (socket path or host:port) and a graceful close. */
export interface RunningServer {
  address: string;
  /** Stops accepting, lets in-flight requests finish (at most 10 s), then resolves. */
  close(): Promise<void>;
}

/** Throws ToolMismatchError unless the implementations match the manifest's tools one to one. */
export function checkTools(manifest: Manifest, tools: readonly ToolDefinition[]): Map<string, ToolDefinition> {
  const problems: string[] = [];
  const byName = new Map<string, ToolDefinition>();
  for (const tool of tools) {
    if (byName.has(tool.name)) problems.push(`tool "${tool.name}" is implemented more than once`);
    byName.set(tool.name, tool);
  }
  const declared = new Set(manifest.tools.map((t) => t.name));
  for (const name of declared) {
    if (!byName.has(name)) problems.push(`tool "${name}" is declared in mcp.json but has no implementation`);
  }
  for (const name of byName.keys()) {
    if (!declared.has(name)) problems.push(`tool "${name}" is implemented but not declared in mcp.json`);
  }
  if (problems.length > 0) throw new ToolMismatchError(problems);
  return byName;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

function requestIdOf(req: IncomingMessage): string {
  const given = req.headers['x-request-id'];
  return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
}

/** The request's path; the gateway's own (`/mcp`) without parsing a URL. */
function pathOf(url: string | undefined): string {
  return url === '/mcp' || url === '/healthz' ? url : new URL(url ?? '/', 'http://instance').pathname;
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

/** The socket pairs a server serves (confined runtime), each with its number of requests in flight. */
const channels = new WeakMap<Server, Map<Socket, number>>();

/**
 * The socket pairs of the `confined` runtime (`BMMS_CHANNEL_FDS`): the instance may open no listener, so the
 * platform hands it connected pairs at spawn and relays requests over them. A pair is never replaced: idle ones
 * stay open (no keep-alive timeout) and are closed only on shutdown.
 */
function serveChannels(server: Server, fds: string): void {
  const open = new Map<Socket, number>();
  server.keepAliveTimeout = 0;
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const socket = req.socket as Socket;
    open.set(socket, (open.get(socket) ?? 0) + 1);
    res.once('close', () => {
      if (open.has(socket)) open.set(socket, Math.max(0, (open.get(socket) ?? 1) - 1));
    });
  });
  for (const fd of fds.split(',')) {
    if (!/^\d+$/.test(fd)) throw new Error(`BMMS_CHANNEL_FDS: not a file descriptor: ${fd}`);
    const socket = new Socket({ fd: Number(fd), readable: true, writable: true });
    open.set(socket, 0);
    socket.once('close', () => open.delete(socket));
    server.emit('connection', socket);
  }
  channels.set(server, open);
}

function listen(server: Server, env: Record<string, string | undefined>): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    const socket = env.BMMS_SOCKET;
    if (env.BMMS_CHANNEL_FDS) {
      try {
        serveChannels(server, env.BMMS_CHANNEL_FDS);
        resolve(`channels:${env.BMMS_CHANNEL_FDS}`);
      } catch (error) {
        reject(error);
      }
    } else if (socket) {
      try {
        if (lstatSync(socket, { throwIfNoEntry: false })?.isSocket()) unlinkSync(socket);
      } catch (error) {
        reject(error);
        return;
      }
      server.listen(socket, () => {
        chmodSync(socket, 0o666);
        resolve(socket);
      });
    } else if (env.BMMS_LISTEN) {
      // host:port on a network the platform reaches (the swarm runtime's overlay network).
      const m = /^(.+):(\d{1,5})$/.exec(env.BMMS_LISTEN);
      if (!m) {
        reject(new Error(`BMMS_LISTEN: not host:port: ${env.BMMS_LISTEN}`));
        return;
      }
      server.listen(Number(m[2]), m[1], () => resolve(env.BMMS_LISTEN as string));
    } else {
      const port = Number(env.PORT ?? 3000);
      server.listen(port, '127.0.0.1', () => {
        const address = server.address();
        resolve(typeof address === 'object' && address !== null ? `127.0.0.1:${address.port}` : String(address));
      });
    }
  });
}

function createHttpServer(deps: McpDeps, logger: Logger, revision: string | undefined): Server {
  const health = { status: 'ok', name: deps.manifest.name, version: deps.manifest.version, revision: revision ?? null };
  return createServer((req, res) => {
    const requestId = requestIdOf(req);
    const log = logger.child({ requestId });
    const started = performance.now();
    const path = pathOf(req.url);
    res.setHeader('x-request-id', requestId);
    res.on('finish', () => {
      if (deps.gatewayRecordsCalls && res.statusCode < 500) return;
      log.log(path === '/healthz' ? 'debug' : 'info', 'request', {
        method: req.method,
        path,
        status: res.statusCode,
        durationMs: Math.round(performance.now() - started),
      });
    });
    if (path === '/healthz') {
      if (req.method === 'GET' || req.method === 'HEAD') sendJson(res, 200, health);
      else sendJson(res, 405, { error: 'method_not_allowed' }, { allow: 'GET' });
    } else if (path === '/mcp') {
      if (req.method !== 'POST') {
        sendJson(
          res,
          405,
          { error: 'method_not_allowed', message: 'This server is stateless: use POST.' },
          { allow: 'POST' },
        );
        return;
      }
      let caller: Caller | undefined;
      if (deps.verifyCaller) {
        try {
          caller = deps.verifyCaller(req.headers.authorization);
        } catch (error) {
          if (!(error instanceof CredentialError)) throw error;
          sendJson(res, 401, { error: 'unauthorized', message: error.message });
          return;
        }
      }
      handleMcpRequest(deps, log, req, res, caller, traceOf(req.headers.traceparent)).catch((error: unknown) => {
        log.log('error', 'mcp request failed', { error });
        if (!res.headersSent)
          sendJson(res, 500, { jsonrpc: '2.0', error: { code: -32603, message: 'Internal error' }, id: null });
        else res.end();
      });
    } else {
      sendJson(res, 404, { error: 'not_found' });
    }
  });
}

/** Shutdown on socket pairs: idle pairs close now, busy ones after their response (at most DRAIN_MS). */
function drainChannels(server: Server, open: Map<Socket, number>): Promise<void> {
  server.on('request', (_req: IncomingMessage, res: ServerResponse) => res.setHeader('connection', 'close'));
  return new Promise((resolve) => {
    const endIdle = () => {
      for (const [socket, inFlight] of open) if (inFlight === 0) socket.end();
    };
    const done = () => {
      clearInterval(sweep);
      clearTimeout(force);
      resolve();
    };
    const force = setTimeout(() => {
      for (const socket of open.keys()) socket.destroy();
      done();
    }, DRAIN_MS);
    const sweep = setInterval(() => {
      endIdle();
      if (open.size === 0) done();
    }, 50);
    endIdle();
  });
}

function drain(server: Server): Promise<void> {
  const open = channels.get(server);
  if (open) return drainChannels(server, open);
  return new Promise((resolve) => {
    const force = setTimeout(() => server.closeAllConnections(), DRAIN_MS);
    server.close(() => {
      clearTimeout(force);
      resolve();
    });
    server.closeIdleConnections();
    // Keep-alive sockets become idle once their in-flight response ends; close them then.
    server.on('request', (_req: IncomingMessage, res: ServerResponse) => res.setHeader('connection', 'close'));
    const sweep = setInterval(() => server.closeIdleConnections(), 50);
    server.once('close', () => clearInterval(sweep));
  });
}

/**
 * Validates manifest and tools, then serves MCP on `BMMS_CHANNEL_FDS`, `BMMS_SOCKET`, `BMMS_LISTEN` (host:port) or
 * 127.0.0.1:`PORT`; exits 1 on a bad start.
 */
export async function startServer(options: StartServerOptions): Promise<RunningServer> {
  const env = options.env ?? process.env;
  const ownProcess = options.ownProcess ?? true;
  const secrets = new Set<string>();
  const logger = createLogger({
    write: options.write ?? batchedWriter((chunk) => process.stdout.write(chunk)),
    secrets,
  });
  const redact = (text: string): string => {
    let out = text;
    for (const secret of secrets) if (secret.length >= 4) out = out.split(secret).join('[REDACTED]');
    return out;
  };
  // Handlers may log with console too: it goes through the same redacting logger (own process only).
  if (ownProcess) captureConsole(logger);
  let server: Server;
  let address: string;
  try {
    const manifest = validateManifest(options.manifest);
    const tools = checkTools(manifest, options.tools);
    const deps: McpDeps = { manifest, tools, secret: createSecretReader(manifest, env, secrets), redact };
    if (manifest.resources.length > 0) deps.views = viewsOf(manifest, options.views ?? injectedViews());
    if (env.BMMS_EGRESS_SOCKET) deps.egressSocket = env.BMMS_EGRESS_SOCKET;
    if (env.BMMS_EGRESS_URL && env.BMMS_EGRESS_TOKEN)
      deps.egressHop = createNetworkFetch(env.BMMS_EGRESS_URL, env.BMMS_EGRESS_TOKEN);
    if (env.BMMS_EGRESS_FD && /^\d+$/.test(env.BMMS_EGRESS_FD))
      deps.egressHop = createChannelFetch(Number(env.BMMS_EGRESS_FD));
    if (options.direct === false) deps.direct = false;
    // Behind the platform's gateway every call carries its internal credential, verified here too.
    if (env.BMMS_GATEWAY_KEY) {
      deps.verifyCaller = createCredentialVerifier(env.BMMS_GATEWAY_KEY, manifest.name);
      deps.gatewayRecordsCalls = true;
    }
    server = createHttpServer(deps, logger, env.BMMS_REVISION);
    address = await listen(server, env);
    logger.log('info', 'listening', {
      address,
      name: manifest.name,
      version: manifest.version,
      revision: env.BMMS_REVISION,
    });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    logger.log('fatal', 'cannot start', { error: message, code: (error as { code?: unknown }).code });
    if (!ownProcess) throw error;
    process.stderr.write(
      `${error instanceof ManifestError || error instanceof ToolMismatchError ? '' : 'Cannot start: '}${message}\n`,
    );
    process.exit(1);
  }
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= drain(server);
    return closing;
  };
  if (ownProcess) {
    const onSignal = (signal: string) => {
      logger.log('info', 'shutting down', { signal });
      void close().then(() => {
        logger.log('info', 'stopped');
        process.exit(0);
      });
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
    process.on('unhandledRejection', (reason) => logger.log('error', 'unhandled rejection', { error: reason }));
  }
  return { address, close };
}
