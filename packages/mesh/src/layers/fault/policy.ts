// The fault layer's slice of policy: a route's Istio `fault` compiled once into a delay and an abort with their odds.
import { type HTTPFaultInjection, parseDurationMs } from '@weft/policy';
import type { CompiledRoute } from '../../routing/model.js';

/** What to inject into a share of a route's requests. `fraction` is in (0, 1]: 1 injects into every request. */
export interface FaultPolicy {
  /** Wait `ms` before sending the request on. */
  readonly delay?: { readonly ms: number; readonly fraction: number };
  /** Answer with `status` without sending the request at all. */
  readonly abort?: { readonly status: number; readonly fraction: number };
}

/** The policy of a route that injects nothing; compare by identity, it is the only one. */
export const NO_FAULT: FaultPolicy = Object.freeze({});

/**
 * The share applied when a fault gives no percentage at all: 100 %, as Istio's API documents
 * ("If left unspecified, all request will be delayed"; "If not specified, all requests are
 * aborted"). Beware: Istio's own translation sends Envoy 0 % in that case, so a real sidecar
 * injects nothing (istio/istio#36303, #39969; the maintainers chose to fix the docs).
 */
const ABSENT_PERCENT = 100;

/** Istio `Percent` `{ value }` or the deprecated integer, as a fraction; `{}` is protobuf's 0. */
function fractionOf(percentage: { value?: number | undefined } | undefined, deprecatedPercent?: number): number {
  // Precedence as Istio's TranslateFault: `percentage` when present, else the integer `percent`.
  const percent = percentage !== undefined ? (percentage.value ?? 0) : (deprecatedPercent ?? ABSENT_PERCENT);
  return Math.min(Math.max(percent, 0), 100) / 100;
}

/**
 * Compiles Istio's HTTPFaultInjection. Parts that cannot act are dropped, so the result is
 * {@link NO_FAULT} when nothing would ever be injected:
 * - `delay.exponentialDelay` is not supported (Istio itself only warns and drops it);
 * - `abort.grpcStatus` and `abort.http2Error` need gRPC framing or an HTTP/2 stream reset,
 *   which weft's HTTP/1 transport does not have;
 * - a percentage of 0 never fires.
 * The policy loader already warns about fields weft does not act on.
 */
export function compileFault(fault: HTTPFaultInjection | undefined): FaultPolicy {
  if (fault === undefined) return NO_FAULT;
  let delay: FaultPolicy['delay'];
  let abort: FaultPolicy['abort'];
  const d = fault.delay;
  if (d?.fixedDelay !== undefined) {
    const ms = parseDurationMs(d.fixedDelay);
    const fraction = fractionOf(d.percentage, d.percent);
    if (ms !== undefined && ms > 0 && fraction > 0) delay = Object.freeze({ ms, fraction });
  }
  const a = fault.abort;
  if (a?.httpStatus !== undefined) {
    const fraction = fractionOf(a.percentage);
    if (fraction > 0) abort = Object.freeze({ status: a.httpStatus, fraction });
  }
  if (delay === undefined && abort === undefined) return NO_FAULT;
  return Object.freeze({ ...(delay === undefined ? {} : { delay }), ...(abort === undefined ? {} : { abort }) });
}

const cache = new WeakMap<CompiledRoute, FaultPolicy>();

/** The compiled fault of a route, compiled on first use and kept for as long as the route lives. */
export function faultPolicyOf(route: CompiledRoute): FaultPolicy {
  let policy = cache.get(route);
  if (policy === undefined) {
    policy = compileFault(route.http.fault);
    cache.set(route, policy);
  }
  return policy;
}
