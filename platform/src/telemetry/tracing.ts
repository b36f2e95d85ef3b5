import { type Tracer, trace } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import type { Logger } from '../logger.ts';

/** Where traces go: OTLP over HTTP (JSON) to `url`, else to what the standard OTEL_EXPORTER_OTLP_* variables say. */
export interface TracingConfig {
  /** The traces URL (`…/v1/traces`); unset: the exporter reads OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT itself. */
  url?: string;
}

/** A running OpenTelemetry SDK: the platform's tracer and the exporter behind it. */
export interface Tracing {
  tracer: Tracer;
  /** The resource instance spans are exported under (service `bmms-instance`). */
  instanceResource: ReadableSpan['resource'];
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
  const tracing: Tracing = {
    tracer: provider.getTracer('@bmms/platform'),
    instanceResource: named('bmms-instance'),
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
