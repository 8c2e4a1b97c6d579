// Propagation: the W3C and B3 formats weft reads and writes, and Envoy's x-request-id.
import { randomUUID } from 'node:crypto';
import type { TextMapPropagator } from '@opentelemetry/api';
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { B3InjectEncoding, B3Propagator } from '@opentelemetry/propagator-b3';
import type { PropagatorName } from './options.js';

/** Envoy's request id: made at the edge when a request has none, then carried unchanged by every hop. */
export const REQUEST_ID_HEADER = 'x-request-id';

/** A new request id, as Envoy makes them (a random UUID). */
export const newRequestId = (): string => randomUUID();

function propagatorOf(name: PropagatorName): TextMapPropagator {
  switch (name) {
    case 'tracecontext':
      return new W3CTraceContextPropagator();
    case 'baggage':
      return new W3CBaggagePropagator();
    case 'b3':
      return new B3Propagator({ injectEncoding: B3InjectEncoding.SINGLE_HEADER });
    case 'b3multi':
      return new B3Propagator({ injectEncoding: B3InjectEncoding.MULTI_HEADER });
  }
}

/** What outbound calls carry: the configured formats, in their order. */
export function injector(names: readonly PropagatorName[]): TextMapPropagator {
  return new CompositePropagator({ propagators: names.map(propagatorOf) });
}

/**
 * What inbound calls are read with: every format, whichever the caller used. A composite lets
 * the last format found win, so W3C traceparent comes last and wins over B3 when both came.
 * (The B3 propagator reads the single and the multi-header forms alike.)
 */
export function extractor(): TextMapPropagator {
  return new CompositePropagator({
    propagators: [new B3Propagator(), new W3CTraceContextPropagator(), new W3CBaggagePropagator()],
  });
}
