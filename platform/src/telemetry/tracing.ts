import { type Tracer, trace } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import type { Logger } from '../logger.ts';

/** Where traces go: OTLP over HTTP (JSON) to `url`, else to what the standard OTEL_EXPORTER_OTLP_* variables say. */
export interface TracingConfig {
  /** The traces URL (`…/v1/traces`); unset: the exporter reads OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT itself. */
  url?: string;
  /**
   * Calls through the gateway traced per second (BMMS_TRACE_CALLS_PER_SECOND, default 10; 0: only calls that carry a
   * `traceparent`, which are always traced).
   */
  callsPerSecond?: number;
}

/** The default of BMMS_TRACE_CALLS_PER_SECOND. */
export const DEFAULT_TRACED_CALLS_PER_SECOND = 10;

/** A running OpenTelemetry SDK: the platform's tracer and the exporter behind it. */
export interface Tracing {
  tracer: Tracer;
  /** The resource instance spans are exported under (service `bmms-instance`). */
  instanceResource: ReadableSpan['resource'];
  /** Whether a gateway call without a `traceparent` of its own is traced: true at most `callsPerSecond` times a second. */
  sampleCall(): boolean;
  /** Exports spans that ended elsewhere (an instance's, reported to the gateway) with the platform's own. */
  exportSpans(spans: readonly ReadableSpan[]): void;
  /** Exports what is buffered, then stops (part of the platform's close). */
  shutdown(): Promise<void>;
}

let active: Tracing | undefined;

/** The running tracing, or undefined when no OTLP endpoint is configured (then nothing traces, nothing is sent). */
export function activeTracing(): Tracing | undefined {
  return active;
}

/** Whether OTLP export is configured by the environment (OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT, not OTEL_SDK_DISABLED). */
export function tracingFromEnv(env: NodeJS.ProcessEnv): TracingConfig | undefined {
  if (env.OTEL_SDK_DISABLED === 'true') return undefined;
  if (!env.OTEL_EXPORTER_OTLP_ENDPOINT && !env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) return undefined;
  if (env.OTEL_TRACES_EXPORTER !== undefined && !env.OTEL_TRACES_EXPORTER.split(',').includes('otlp')) return undefined;
  return {};
}

/**
 * Starts the OpenTelemetry SDK (loaded only now: a platform without an endpoint never loads it) with a batching
 * OTLP/HTTP exporter, and registers it as the process's tracer provider (one traced platform per process).
 * Service name `bmms-platform` unless OTEL_SERVICE_NAME or OTEL_RESOURCE_ATTRIBUTES say otherwise.
 */
export async function startTracing(config: TracingConfig, log: Logger): Promise<Tracing> {
  const [{ BasicTracerProvider, BatchSpanProcessor }, { OTLPTraceExporter }, resources] = await Promise.all([
    import('@opentelemetry/sdk-trace-base'),
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/resources'),
  ]);
  const fromEnv = resources.detectResources({ detectors: [resources.envDetector] });
  const named = (service: string) =>
    resources.defaultResource().merge(resources.resourceFromAttributes({ 'service.name': service }));
  const resource = named('bmms-platform').merge(fromEnv);
  const exporter = new OTLPTraceExporter(config.url ? { url: config.url } : {});
  const processor = new BatchSpanProcessor(exporter);
  const provider = new BasicTracerProvider({ resource, spanProcessors: [processor] });
  if (active || !trace.setGlobalTracerProvider(provider)) {
    log.warn('another platform in this process already traces: this one exports its own spans only');
  }
  const budget = new CallBudget(config.callsPerSecond ?? DEFAULT_TRACED_CALLS_PER_SECOND);
  const tracing: Tracing = {
    tracer: provider.getTracer('@bmms/platform'),
    instanceResource: named('bmms-instance'),
    sampleCall: () => budget.take(),
    exportSpans: (spans) => {
      for (const span of spans) processor.onEnd(span);
    },
    shutdown: async () => {
      if (active === tracing) {
        active = undefined;
        trace.disable();
      }
      await provider.shutdown().catch((err: unknown) => log.warn('could not export the last spans', { err }));
    },
  };
  active ??= tracing;
  log.info('tracing: exporting spans over OTLP/HTTP', { url: config.url ?? 'from OTEL_EXPORTER_OTLP_* variables' });
  return tracing;
}

/**
 * At most `perSecond` calls a second, evenly (a token bucket holding one second's worth): what a busy gateway traces of
 * the calls that did not ask for it. A span per call costs the platform more CPU than the rest of the call's
 * bookkeeping; a few traced calls a second still show what calls look like.
 */
export class CallBudget {
  readonly #perSecond: number;
  readonly #now: () => number;
  #tokens: number;
  #last: number;

  constructor(perSecond: number, now: () => number = Date.now) {
    this.#perSecond = perSecond;
    this.#now = now;
    this.#tokens = perSecond;
    this.#last = now();
  }

  /** True when one more call fits this second's budget (and counts it). */
  take(): boolean {
    if (this.#perSecond <= 0) return false;
    const now = this.#now();
    this.#tokens = Math.min(this.#perSecond, this.#tokens + ((now - this.#last) * this.#perSecond) / 1000);
    this.#last = now;
    if (this.#tokens < 1) return false;
    this.#tokens--;
    return true;
  }
}
