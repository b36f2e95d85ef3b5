import type { AddressInfo } from 'node:net';
import type { Reconciler, RouteTable, Runtime } from '@bmms/reconciler';
import express from 'express';
import { describe, expect, it } from 'vitest';
import { OBSERVED_CALL } from '../gateway/calls.ts';
import { PlatformMetrics } from './prometheus.ts';

const logs = { dropped: 0 };
const metrics = new PlatformMetrics({
  reconciler: { queue: { waiting: 0, running: 0 }, running: false } as unknown as Reconciler,
  routes: { get: () => undefined } as unknown as RouteTable,
  runtime: { list: () => [] } as unknown as Runtime,
  logs,
});

const exposition = () => metrics.registry.metrics();

describe('platform metrics', () => {
  it('times HTTP requests, except the MCP calls the gateway measures as calls', async () => {
    const app = express();
    app.use(metrics.middleware());
    app.post('/s/:name/mcp', (_req, res) => {
      res.locals[OBSERVED_CALL] = true;
      res.json({});
    });
    app.get('/api/v1/servers', (_req, res) => res.json([]));
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      await (await fetch(`${base}/s/x/mcp`, { method: 'POST' })).text();
      await (await fetch(`${base}/api/v1/servers`)).text();
    } finally {
      server.close();
    }
    const text = await exposition();
    expect(text).toContain(
      'bmms_http_request_duration_seconds_count{method="GET",route="/api/v1/servers",status="200"} 1',
    );
    expect(text).not.toContain('route="/s/:name/mcp"');
  });

  it('counts the server log records the writer dropped', async () => {
    expect(await exposition()).toContain('bmms_server_log_records_dropped_total 0');
    logs.dropped = 1234;
    expect(await exposition()).toContain('bmms_server_log_records_dropped_total 1234');
    logs.dropped = 1240;
    expect(await exposition()).toContain('bmms_server_log_records_dropped_total 1240');
  });
});
