// The context of an outbound call: the core call context plus what routing decided for it.
import { CallContext } from '@weft/core';
import type { PolicySnapshot } from '@weft/policy';
import type { CompiledRoute } from '../routing/model.js';

/** Per-call settings given in code, which win over the route's, the destination's and the mesh's. */
export interface CallOverrides {
  /** Overall time limit of the call, retries included: `'200ms'` or a number of ms. */
  timeout?: string | number;
  /**
   * Send a backup attempt to another endpoint if no answer came within `delay` (`'50ms'`, a
   * number of ms, or `'p95'`/`'p99'` of the destination's observed latency); idempotent
   * methods only, drawing on the retry budget. `false` turns a route's hedging off for the call.
   */
  hedge?: { delay: string | number } | false;
  /** Istio's HTTPRetry fields; `{ attempts: 0 }` turns retries off for this call. */
  retries?: {
    attempts?: number;
    perTryTimeout?: string | number;
    retryOn?: string;
    /** Retry POST, PATCH and other non-idempotent calls after a failure that may have reached the server. */
    retryNonIdempotent?: boolean;
  };
}

export class ClientCallContext extends CallContext {
  /** The policy snapshot the call read when it entered routing; the call keeps it to the end. */
  policy: PolicySnapshot | undefined = undefined;
  /** The VirtualService route the call matched; `undefined` when its host has no VirtualService. */
  route: CompiledRoute | undefined = undefined;
  /** The subset of the destination the route chose (`v1`), if any. */
  subset: string | undefined = undefined;
  /** `host:port` of every endpoint an attempt of this call went to, in order; made on the first retry. */
  triedEndpoints: string[] | undefined = undefined;
  /** The consistent-hash key of the call (a header, cookie or query value), when its destination hashes. */
  hashKey: string | undefined = undefined;
  /** A `Set-Cookie` value the balancer adds to the response: the `httpCookie` it made up for a call that had none. */
  setCookie: string | undefined = undefined;
  /** What the caller asked for in code for this one call. */
  overrides: CallOverrides | undefined = undefined;
  /** The caller's own time limit as given (ms), which set the deadline: what a timeout error states. */
  ownLimitMs: number | undefined = undefined;
  /**
   * The deadline of the inbound call this call is made while handling (from its
   * `x-envoy-expected-rq-timeout-ms`), found through AsyncLocalStorage; the call cannot outlive it.
   */
  inheritedDeadline: number | undefined = undefined;
  /** Whether the request body may be sent again (buffered, or none); set by the adapter or the retry layer. */
  replayable = true;
  /** The call's span (an OpenTelemetry Span), set by the tracing layer for its attempts when there is a trace to carry. */
  traceSpan: unknown = undefined;
  /** The Context the call's span was started in (its parent, baggage, suppression), set with `traceSpan`. */
  traceParent: unknown = undefined;
  /** The endpoint the last attempt's outcome ejected (outlier detection), for the attempt's span; cleared once read. */
  ejected: string | undefined = undefined;
}
