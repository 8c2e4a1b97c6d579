// startTracing: an OpenTelemetry SDK for a weft service (OTLP, its resource, Istio-like sampling), unless the application runs its own.
import { ProxyTracerProvider, trace } from '@opentelemetry/api';
import type { NodeSDKConfiguration } from '@opentelemetry/sdk-node';
import { LazyContextManager } from './context-manager.js';
import { TRACER_NAME } from './layer.js';
import { OwnSampling, PooledIdGenerator, startedSampling, TraceIdRatioSampler } from './sampling.js';

export { LazyContextManager } from './context-manager.js';

type SpanExporter = NodeSDKConfiguration['traceExporter'];

export interface StartTracingOptions {
  /** `service.name` of the resource: the workload's service, as given to createMesh. */
  service: string;
  /** `service.namespace`; default `default`. */
  namespace?: string;
  /** `service.version`, when the workload has one. */
  version?: string;
  /** More resource attributes (`deployment.environment.name`, `k8s.pod.name`, …). */
  resourceAttributes?: Record<string, string>;
  /**
   * Share of new traces recorded, 0…1; a call that arrives with a trace keeps its caller's decision
   * (parent-based sampling). Default 0.01, Istio's 1 %.
   */
  samplingRatio?: number;
  /**
   * OTLP/HTTP (protobuf) traces URL; default `$OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, else
   * `$OTEL_EXPORTER_OTLP_ENDPOINT/v1/traces`, else `http://localhost:4318/v1/traces`.
   */
  endpoint?: string;
  /** Where spans go instead of OTLP (a console or in-memory exporter). */
  exporter?: SpanExporter;
}

export interface TracingHandle {
  /** False when the application had registered its own tracer provider: weft started nothing. */
  readonly started: boolean;
  /** Flushes the spans not yet sent and stops the SDK (a no-op when nothing was started). */
  shutdown(): Promise<void>;
}

export const START_TRACING_DEFAULTS = { samplingRatio: 0.01, namespace: 'default' } as const;

/** Whether something (an SDK) has registered a global tracer provider. Never throws. */
export function hasGlobalTracerProvider(): boolean {
  const provider = trace.getTracerProvider();
  return !(provider instanceof ProxyTracerProvider) || provider.getDelegateTracer(TRACER_NAME) !== undefined;
}

/**
 * Starts @opentelemetry/sdk-node for this process: OTLP over HTTP, a resource naming the service,
 * parent-based sampling at `samplingRatio` for new traces, and weft's LazyContextManager, which
 * enters AsyncLocalStorage only once a context with a span or baggage is entered (a process that
 * only calls out never pays its per-promise cost). weft's meshes use the global tracer, so their
 * spans go there. When the application already registered a tracer provider (its own
 * SDK), nothing is started and weft's spans go to the application's provider.
 *
 * Needs `@opentelemetry/sdk-node` and `@opentelemetry/exporter-trace-otlp-proto` (0.208) installed.
 */
export async function startTracing(options: StartTracingOptions): Promise<TracingHandle> {
  const ratio = options.samplingRatio ?? START_TRACING_DEFAULTS.samplingRatio;
  if (!(ratio >= 0 && ratio <= 1)) throw new RangeError(`samplingRatio: found ${ratio}, expected a number in 0…1`);
  if (hasGlobalTracerProvider()) return { started: false, shutdown: async () => {} };
  const { NodeSDK, resources, tracing } = await import('@opentelemetry/sdk-node');
  const exporter = options.exporter ?? (await otlpExporter(options.endpoint));
  const attributes: Record<string, string> = {
    'service.name': options.service,
    'service.namespace': options.namespace ?? START_TRACING_DEFAULTS.namespace,
    ...options.resourceAttributes,
  };
  if (options.version !== undefined) attributes['service.version'] = options.version;
  const sampling = new OwnSampling(new PooledIdGenerator(), new TraceIdRatioSampler(ratio, tracing.SamplingDecision));
  const sdk = new NodeSDK({
    resource: resources.resourceFromAttributes(attributes),
    // Parent-based: a call that comes with a trace keeps its caller's decision; a new trace is sampled
    // at `ratio`. The root sampler and the ids are weft's, cheaper on the path every call takes.
    // weft's layers make the spans it would not record themselves (OwnSampling), so the sampler
    // must stay parent-based with its defaults: a child of an unsampled parent is never recorded.
    sampler: new tracing.ParentBasedSampler({ root: sampling.root }),
    idGenerator: sampling.ids,
    spanProcessors: [new tracing.BatchSpanProcessor(exporter)],
    // sdk-node's default context manager, but without AsyncLocalStorage for the exports alone: at 1 %
    // the batch processor's first export would otherwise enter it and tax every later promise.
    contextManager: new LazyContextManager(),
    // weft writes and reads trace headers itself (the mesh's `tracing.propagators`); no HTTP instrumentation,
    // which would trace every call a second time.
    instrumentations: [],
    // Traces only: sdk-node would otherwise start an OTLP log exporter by default. `$OTEL_LOGS_EXPORTER`
    // (and `$OTEL_METRICS_EXPORTER`, off unless set) still turn them on.
    ...(process.env.OTEL_LOGS_EXPORTER === undefined ? { logRecordProcessors: [] } : {}),
  });
  // Checked again after the imports: the application may have registered a provider meanwhile.
  if (hasGlobalTracerProvider()) return { started: false, shutdown: async () => {} };
  sdk.start();
  // (OTEL_SDK_DISABLED=true starts nothing.)
  if (hasGlobalTracerProvider()) startedSampling.current = sampling;
  return {
    started: true,
    shutdown: () => {
      if (startedSampling.current === sampling) startedSampling.current = undefined;
      return sdk.shutdown();
    },
  };
}

async function otlpExporter(endpoint: string | undefined): Promise<SpanExporter> {
  const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-proto');
  return new OTLPTraceExporter(endpoint === undefined ? {} : { url: endpoint });
}
