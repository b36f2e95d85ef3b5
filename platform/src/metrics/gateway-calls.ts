import type { Metric, MetricObjectWithValues, MetricValue, Registry } from 'prom-client';

/** One JSON-RPC method's counts: calls by outcome, and their latency in cumulative-to-be buckets. */
interface MethodCounts {
  ok: number;
  error: number;
  /** Calls per bucket (not cumulative): index i counts the calls ≤ bounds[i] and > bounds[i-1]; the last, the rest. */
  buckets: Float64Array;
  sum: number;
}

/**
 * `bmms_gateway_calls_total` (counter, by method and outcome) and `bmms_gateway_call_duration_seconds` (histogram,
 * by method), counted with no allocation per call: a fixed record per method (the label values are a fixed set), read
 * into Prometheus's exposition only when scraped. prom-client's own Counter and Histogram build a label object and
 * a hash string on every observation, which on the gateway's call path costs more than the rest of the bookkeeping.
 * Registered in a prom-client Registry as two metrics of their own.
 */
export class GatewayCallMetrics {
  readonly #bounds: readonly number[];
  readonly #methods = new Map<string, MethodCounts>();

  constructor(methods: Iterable<string>, bounds: readonly number[]) {
    this.#bounds = bounds;
    for (const method of methods) this.#methods.set(method, this.#empty());
  }

  /** Counts one call of `method` (one of the methods given at construction). */
  observe(method: string, failed: boolean, seconds: number): void {
    const m = this.#methods.get(method);
    if (!m) return;
    if (failed) m.error++;
    else m.ok++;
    m.sum += seconds;
    const bounds = this.#bounds;
    let i = 0;
    while (i < bounds.length && seconds > (bounds[i] as number)) i++;
    (m.buckets as Float64Array)[i] = ((m.buckets as Float64Array)[i] as number) + 1;
  }

  /** Registers both metrics in `registry`. */
  register(registry: Registry): void {
    registry.registerMetric(
      this.#metric(
        'bmms_gateway_calls_total',
        'MCP requests through the gateway by JSON-RPC method and outcome (ok or error).',
        'counter',
        () => this.#calls(),
      ),
    );
    registry.registerMetric(
      this.#metric(
        'bmms_gateway_call_duration_seconds',
        'MCP requests through the gateway by JSON-RPC method.',
        'histogram',
        () => this.#durations(),
      ),
    );
  }

  #empty(): MethodCounts {
    return { ok: 0, error: 0, buckets: new Float64Array(this.#bounds.length + 1), sum: 0 };
  }

  #metric(
    name: string,
    help: string,
    type: 'counter' | 'histogram',
    values: () => MetricValue<string>[],
  ): Metric<string> {
    const metric = {
      name,
      help,
      type,
      aggregator: 'sum',
      get: async (): Promise<MetricObjectWithValues<MetricValue<string>>> => ({
        name,
        help,
        type: type as never,
        aggregator: 'sum',
        collect: () => {},
        values: values(),
      }),
      reset: () => {
        for (const method of this.#methods.keys()) this.#methods.set(method, this.#empty());
      },
    };
    return metric as unknown as Metric<string>;
  }

  /** The counter's samples: methods that were called, by outcome. */
  #calls(): MetricValue<string>[] {
    const values: MetricValue<string>[] = [];
    for (const [method, m] of this.#methods) {
      if (m.ok > 0) values.push({ labels: { method, outcome: 'ok' }, value: m.ok });
      if (m.error > 0) values.push({ labels: { method, outcome: 'error' }, value: m.error });
    }
    return values;
  }

  /** The histogram's samples: cumulative buckets, `+Inf`, sum and count of every method that was called. */
  #durations(): MetricValue<string>[] {
    const values: (MetricValue<string> & { metricName: string })[] = [];
    const name = 'bmms_gateway_call_duration_seconds';
    for (const [method, m] of this.#methods) {
      const count = m.ok + m.error;
      if (count === 0) continue;
      let cumulative = 0;
      this.#bounds.forEach((le, i) => {
        cumulative += m.buckets[i] as number;
        values.push({ metricName: `${name}_bucket`, labels: { le, method }, value: cumulative });
      });
      values.push({ metricName: `${name}_bucket`, labels: { le: '+Inf', method }, value: count });
      values.push({ metricName: `${name}_sum`, labels: { method }, value: m.sum });
      values.push({ metricName: `${name}_count`, labels: { method }, value: count });
    }
    return values;
  }
}
