import { timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Reconciler, RouteTable, Runtime } from '@bmms/reconciler';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { PrometheusConfig } from '../config.ts';
import { type CallRecord, OBSERVED_CALL } from '../gateway/calls.ts';
import { GatewayCallMetrics } from './gateway-calls.ts';

/** MCP methods named in labels; any other method counts as `other` (labels stay few whatever clients send). */
const MCP_METHODS = new Set([
  'initialize',
  'notifications/initialized',
  'ping',
  'tools/list',
  'tools/call',
  'resources/list',
  'resources/read',
  'prompts/list',
  'prompts/get',
]);
/** Where the HTTP middleware keeps a request's start (`res.locals`). */
const STARTED = 'bmmsPrometheusStarted';
/** Path prefixes a request without a matched route is labelled with; anything else is `site`. */
const PREFIXES = ['/api/v1', '/api', '/auth', '/oauth', '/git', '/s', '/.well-known'];
const SECONDS_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

/** What the collectors read when scraped. */
export interface PlatformMetricsDeps {
  reconciler: Reconciler;
  routes: RouteTable;
  runtime: Runtime;
  /** The server log writer: how many records it dropped because its queue was full. */
  logs?: { readonly dropped: number };
}

/**
 * The platform's own Prometheus metrics (not a customer's): HTTP requests by route template and status, check
 * durations, the reconcile queue, instances by state, gateway calls, and Node's defaults (event-loop lag, heap, GC).
 * Labels hold route templates, check names and fixed words only: never a server name, a path, a token or a secret.
 */
export class PlatformMetrics {
  readonly registry = new Registry();
  readonly #http: Histogram<'method' | 'route' | 'status'>;
  readonly #checks: Histogram<'check' | 'conclusion'>;
  readonly #calls = new GatewayCallMetrics([...MCP_METHODS, 'other'], SECONDS_BUCKETS);

  constructor(deps: PlatformMetricsDeps) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'bmms_' });
    this.#http = new Histogram({
      name: 'bmms_http_request_duration_seconds',
      help: 'HTTP requests to the platform by method, route template and status.',
      labelNames: ['method', 'route', 'status'],
      buckets: SECONDS_BUCKETS,
      registers,
    });
    this.#checks = new Histogram({
      name: 'bmms_check_duration_seconds',
      help: 'Checks of pull requests by check and conclusion.',
      labelNames: ['check', 'conclusion'],
      buckets: [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600],
      registers,
    });
    this.#calls.register(this.registry);
    let droppedSeen = 0;
    new Counter({
      name: 'bmms_server_log_records_dropped_total',
      help: "Server log records dropped because the log writer's queue was full (each server's log says how many).",
      registers,
      collect() {
        const dropped = deps.logs?.dropped ?? 0;
        if (dropped > droppedSeen) this.inc(dropped - droppedSeen);
        droppedSeen = dropped;
      },
    });
    new Gauge({
      name: 'bmms_reconcile_queue',
      help: 'Servers waiting to be reconciled (state=waiting) and being reconciled (state=running).',
      labelNames: ['state'],
      registers,
      collect() {
        const { waiting, running } = deps.reconciler.queue;
        this.set({ state: 'waiting' }, waiting);
        this.set({ state: 'running' }, running);
      },
    });
    new Gauge({
      name: 'bmms_reconciler_leading',
      help: 'Whether this process runs the reconciler (1): with several processes on one database, the one that leads.',
      registers,
      collect() {
        this.set(deps.reconciler.running ? 1 : 0);
      },
    });
    new Gauge({
      name: 'bmms_instances',
      help: "Instances this process's runtime runs: serving (routed) or standby (warm, draining or starting).",
      labelNames: ['state'],
      registers,
      collect() {
        const instances = deps.runtime.list();
        const serving = instances.filter((i) => deps.routes.get(i.serverName)?.instanceId === i.id).length;
        this.set({ state: 'serving' }, serving);
        this.set({ state: 'standby' }, instances.length - serving);
      },
    });
  }

  /**
   * Times every HTTP request, labelled with its route template once it has been answered; except the MCP calls the
   * gateway told its observers about, which bmms_gateway_call_duration_seconds measures (once is enough per call).
   */
  middleware(): RequestHandler {
    const histogram = this.#http;
    // One listener for every response, `this` being the response: nothing is allocated per request for it.
    function finished(this: Response): void {
      if (this.locals[OBSERVED_CALL] === true) return;
      const req = this.req;
      const labels = { method: methodLabel(req.method), route: routeLabel(req), status: this.statusCode };
      histogram.observe(labels, (performance.now() - (this.locals[STARTED] as number)) / 1000);
    }
    return (_req: Request, res: Response, next: NextFunction) => {
      res.locals[STARTED] = performance.now();
      res.on('finish', finished);
      next();
    };
  }

  /** The call observer counting gateway calls. */
  readonly observeCall = (call: CallRecord): void => {
    const method = call.method && MCP_METHODS.has(call.method) ? call.method : 'other';
    this.#calls.observe(method, call.failed, call.latencyMs / 1000);
  };

  /** Times one completed check. */
  readonly observeCheck = (check: string, conclusion: string, durationMs: number): void => {
    this.#checks.observe({ check, conclusion }, durationMs / 1000);
  };

  /** Answers a scrape with the exposition text. */
  async scrape(res: Response | http.ServerResponse): Promise<void> {
    const text = await this.registry.metrics();
    res.writeHead(200, { 'content-type': this.registry.contentType, 'cache-control': 'no-store' });
    res.end(text);
  }
}

function methodLabel(method: string): string {
  return ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'].includes(method) ? method : 'other';
}

/** The route template that answered (`/api/v1/servers/:name`), else a fixed prefix (never the raw path). */
function routeLabel(req: Request): string {
  const route = (req.route as { path?: unknown } | undefined)?.path;
  if (typeof route === 'string') return `${req.baseUrl}${route}`;
  const path = req.originalUrl.split('?')[0] ?? '';
  const prefix = PREFIXES.find((p) => path === p || path.startsWith(`${p}/`));
  return prefix ? `${prefix}/*` : 'site';
}

/** The /metrics handler of the main port for `token` mode: 401 without the Bearer token. */
export function tokenGuardedScrape(metrics: PlatformMetrics, token: string): RequestHandler {
  const expected = Buffer.from(`Bearer ${token}`);
  return (req, res, next) => {
    const given = Buffer.from(req.get('authorization') ?? '');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      res.status(401).set('www-authenticate', 'Bearer realm="metrics"').type('text/plain').send('unauthorized\n');
      return;
    }
    metrics.scrape(res).catch(next);
  };
}

/** The separate port of `open` mode: /metrics for anyone who reaches it, 404 for every other path. */
export async function serveOpenMetrics(
  metrics: PlatformMetrics,
  config: Extract<PrometheusConfig, { mode: 'open' }>,
): Promise<{ host: string; port: number; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    if (req.method === 'GET' && (req.url ?? '').split('?')[0] === '/metrics') {
      metrics.scrape(res).catch(() => res.destroy());
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, resolve);
  });
  return {
    host: config.host,
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
