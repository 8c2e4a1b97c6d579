// The `tracing` option of createMesh: its type, its defaults, and what it resolves to.
import type { TracerProvider } from '@opentelemetry/api';

/** A propagation format weft writes on outbound calls (it reads every one of them on inbound calls). */
export type PropagatorName = 'tracecontext' | 'baggage' | 'b3' | 'b3multi';

export const PROPAGATOR_NAMES: readonly PropagatorName[] = ['tracecontext', 'baggage', 'b3', 'b3multi'];

export interface TracingOptions {
  /**
   * The formats written on outbound calls: W3C `tracecontext` (traceparent, tracestate), W3C
   * `baggage`, `b3` (one `b3` header) and `b3multi` (`x-b3-traceid`, …). Every format is read on
   * inbound calls whatever this says. A list given is written exactly, on every call. Omitted:
   * `tracecontext` and `baggage` (OpenTelemetry's own defaults), and B3 as well for a trace that
   * came in as B3, in the form it came in (docs/tracing.md).
   */
  propagators?: PropagatorName[];
  /**
   * Where spans go: a TracerProvider, or by default the global one (`trace.getTracerProvider()`),
   * which is the API's no-op until an SDK registers itself (the application's, or `startTracing()`).
   */
  tracerProvider?: TracerProvider;
}

export interface ResolvedTracing {
  propagators: readonly PropagatorName[];
  /** Whether a trace that came in as B3 is continued in B3 too (the default formats only). */
  b3AsReceived: boolean;
  tracerProvider: TracerProvider | undefined;
}

export const TRACING_DEFAULTS = {
  propagators: ['tracecontext', 'baggage'] as const satisfies readonly PropagatorName[],
} as const;

/** `true`/`undefined`: on with the defaults; `false`: off (no spans, no propagation; x-request-id is the requestId option's). */
export function resolveTracing(option: boolean | TracingOptions | undefined): ResolvedTracing | undefined {
  if (option === false) return undefined;
  const o = option === true || option === undefined ? {} : option;
  return {
    propagators: [...new Set(o.propagators ?? TRACING_DEFAULTS.propagators)],
    b3AsReceived: o.propagators === undefined,
    tracerProvider: o.tracerProvider,
  };
}
