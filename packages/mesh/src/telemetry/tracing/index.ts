// Tracing: spans for every call through @opentelemetry/api, W3C and B3 propagation, carried across a hop.
import { type Context, ProxyTracerProvider, type Span, type TracerProvider, trace } from '@opentelemetry/api';
import type { Layer, ServerCallContext } from '@weft/core';
import type { ClientCallContext } from '../../client/context.js';
import { TRACER_NAME, type TracingParts, traceAttempts, traceCalls, traceInbound } from './layer.js';
import type { ResolvedTracing } from './options.js';
import { extractor, TraceHeaderWriter } from './propagation.js';
import { startedSampling } from './sampling.js';

export { TRACER_NAME, type TracedCall } from './layer.js';
export {
  PROPAGATOR_NAMES,
  type PropagatorName,
  type ResolvedTracing,
  resolveTracing,
  TRACING_DEFAULTS,
  type TracingOptions,
} from './options.js';
export { REQUEST_ID_HEADER } from './propagation.js';

/** The layers of one mesh's tracing, built once: the client's call and attempt layers, the server's. */
export interface Tracing {
  call: Layer<ClientCallContext>;
  attempt: Layer<ClientCallContext>;
  inbound: Layer<ServerCallContext>;
}

/** A span not to be recorded, made as the SDK startTracing started would make it, while it is the global one. */
const unrecordedByStartedSdk = (parent: Context): Span | undefined => startedSampling.current?.unrecorded(parent);

/** The API's no-op provider: what a ProxyTracerProvider delegates to until an SDK registers. */
const NOOP_PROVIDER = new ProxyTracerProvider().getDelegate();

/** Whether spans from `provider` are the API's no-op for now (a proxy with no SDK behind it yet). */
function noopWhile(provider: TracerProvider): () => boolean {
  return provider instanceof ProxyTracerProvider ? () => provider.getDelegate() === NOOP_PROVIDER : () => false;
}

/**
 * Builds the tracing layers. The tracer comes from the option's provider or the global one: the
 * global tracer is a proxy that follows an SDK registered later, and is the API's no-op until then.
 * With the global one, the spans startTracing's SDK would not record are made without it.
 */
export function tracing(options: ResolvedTracing): Tracing {
  const provider = options.tracerProvider ?? trace.getTracerProvider();
  const parts: TracingParts = {
    tracer: provider.getTracer(TRACER_NAME),
    unrecorded: options.tracerProvider === undefined ? unrecordedByStartedSdk : undefined,
    noop: noopWhile(provider),
    inject: new TraceHeaderWriter(options.propagators, options.b3AsReceived),
    extract: extractor(),
  };
  return { call: traceCalls(parts), attempt: traceAttempts(parts), inbound: traceInbound(parts) };
}
