import { Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { GatewayCallMetrics } from './gateway-calls.ts';

describe('GatewayCallMetrics', () => {
  it("exposes what prom-client's own counter and histogram would, for the same calls", async () => {
    const bounds = [0.001, 0.01, 0.1];
    const ours = new Registry();
    const metrics = new GatewayCallMetrics(['tools/call', 'initialize', 'other'], bounds);
    metrics.register(ours);
    const theirs = new Registry();
    const histogram = new Histogram({
      name: 'bmms_gateway_call_duration_seconds',
      help: 'MCP requests through the gateway by JSON-RPC method.',
      labelNames: ['method'],
      buckets: bounds,
      registers: [theirs],
    });
    const calls: [string, boolean, number][] = [
      ['tools/call', false, 0.0005],
      ['tools/call', false, 0.001],
      ['tools/call', true, 0.05],
      ['tools/call', false, 2],
      ['initialize', false, 0.002],
      ['not a known method', false, 0.002],
    ];
    for (const [method, failed, seconds] of calls) {
      metrics.observe(method, failed, seconds);
      if (method !== 'not a known method') histogram.observe({ method }, seconds);
    }
    const text = await ours.metrics();
    const histogramText = (t: string) =>
      t
        .split('\n')
        .filter((l) => l.startsWith('bmms_gateway_call_duration_seconds_'))
        .sort();
    expect(histogramText(text)).toEqual(histogramText(await theirs.metrics()));
    expect(text).toContain('bmms_gateway_calls_total{method="tools/call",outcome="ok"} 3');
    expect(text).toContain('bmms_gateway_calls_total{method="tools/call",outcome="error"} 1');
    expect(text).toContain('bmms_gateway_calls_total{method="initialize",outcome="ok"} 1');
    expect(text).not.toContain('method="other"');
    expect(text).toContain('# TYPE bmms_gateway_calls_total counter');
    expect(text).toContain('# TYPE bmms_gateway_call_duration_seconds histogram');
    ours.resetMetrics();
    expect(await ours.metrics()).not.toContain('tools/call');
  });
});
