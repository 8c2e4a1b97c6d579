// The retry layer's inputs: Istio's HTTPRetry compiled once per route, merged with the call's overrides, and every default.
import { WeftError } from '@weft/core';
import { type HTTPRetry, parseDurationMs, RETRY_ON_CONDITIONS } from '@weft/policy';
import type { ClientCallContext } from '../../client/context.js';
import type { CompiledRoute } from '../../routing/model.js';

/**
 * Every default of the retry layer, with its unit. The policy ones are Istio's and Envoy's:
 * Istio's default route policy (pilot `retry.DefaultPolicy`, with
 * `EXCLUDE_UNSAFE_503_FROM_DEFAULT_RETRY` on, so 503 is not retried by default) and Envoy's
 * backoff (25 ms base, max 10 × base). The body caps are Linkerd's.
 */
export const RETRY_DEFAULTS = {
  /** Retries after the first attempt when the route says nothing (Istio: 2). */
  attempts: 2,
  /** Istio's default `retryOn`. */
  retryOn: 'connect-failure,refused-stream,unavailable,cancelled',
  /** No per-try limit: the call's overall deadline bounds every attempt. */
  perTryTimeoutMs: undefined,
  /** Envoy's base backoff interval when the route gives no `backoff`. */
  backoffBaseMs: 25,
  /** Envoy's max backoff interval is this many times the base (250 ms by default). */
  backoffMaxFactor: 10,
  /** Istio adds Envoy's previous-hosts predicate: a retry prefers endpoints not yet tried. */
  ignorePreviousHosts: true,
  /** A streamed request body up to this size is held to be replayed; a longer one is sent once (Linkerd: 64 KiB). */
  maxBufferedBodyBytes: 64 * 1024,
  /** A retried response body with a Content-Length up to this is read to its end, so its keep-alive connection is kept. */
  maxDrainedBodyBytes: 64 * 1024,
} as const;

/** What the retry layer decides with, compiled once; the hot path only reads it. */
export interface RetryPolicy {
  /** Retries after the first attempt; `0` means one attempt and no retry. */
  readonly attempts: number;
  /** Limit of each attempt, the first included, in ms; `undefined` for none. */
  readonly perTryTimeoutMs: number | undefined;
  /** Envoy and gRPC retry conditions (`5xx`, `reset`, `unavailable`, …), without the bare status codes. */
  readonly conditions: ReadonlySet<string>;
  /** The bare status codes of `retryOn` (`"503"`); they match only a real upstream response. */
  readonly retriableStatusCodes: ReadonlySet<number>;
  /** Base interval of the jittered exponential backoff, in ms. */
  readonly backoffBaseMs: number;
  /** Largest backoff interval, in ms. */
  readonly backoffMaxMs: number;
  /** Whether a retry should avoid the endpoints already tried (recorded in `ctx.triedEndpoints`). */
  readonly ignorePreviousHosts: boolean;
  /** Whether a retry may go to another locality (Envoy's previous_priorities); for the balancer. */
  readonly retryRemoteLocalities: boolean;
  /** Whether a request that may have reached the server is retried even when its method is not idempotent. */
  readonly retryNonIdempotent: boolean;
  /** gRPC status codes that are retried (derived from `conditions`). */
  readonly grpcStatusCodes: ReadonlySet<number>;
  /** Whether some condition retries a failed connection (nothing was sent, so any method may be retried). */
  readonly retriesConnectFailure: boolean;
}

/**
 * The per-call retry override, as given in code: Istio's HTTPRetry fields plus `retryNonIdempotent`.
 * `ClientCallContext.overrides.retries` is read as this type.
 */
export interface RetryCallOverrides {
  /** Retries after the first attempt; `0` turns retries off for this call. */
  attempts?: number;
  /** Limit of each attempt: `'200ms'` or a number of ms. */
  perTryTimeout?: string | number;
  /** Comma list of conditions and bare status codes, as Istio's `retryOn`. */
  retryOn?: string;
  /** Retry a POST, PATCH, … even after its request may have reached the server. Off by default. */
  retryNonIdempotent?: boolean;
}

/** gRPC conditions and the `grpc-status` each one retries (Envoy's x-envoy-retry-grpc-on). */
export const GRPC_CONDITIONS: Readonly<Record<string, number>> = {
  cancelled: 1,
  'deadline-exceeded': 4,
  'resource-exhausted': 8,
  internal: 13,
  unavailable: 14,
};

/** Conditions that retry a connection that could not be made (Envoy's `wouldRetryFromReset`). */
const CONNECT_FAILURE_CONDITIONS = ['connect-failure', 'reset-before-request', 'reset', '5xx', 'gateway-error'];

/**
 * Every condition Istio accepts. `retriable-headers` matches the headers the caller names in
 * `x-envoy-retriable-header-names` (Istio has no field for the policy's own list);
 * `http3-post-connect-failure` never matches: weft's transport has no HTTP/3.
 */
export const RETRY_CONDITIONS: ReadonlySet<string> = new Set(RETRY_ON_CONDITIONS);

const STATUS_CODE = /^[1-5]\d\d$/;

interface ParsedRetryOn {
  conditions: Set<string>;
  codes: Set<number>;
  unknown: string[];
}

/** Splits `retryOn` as Istio does: bare HTTP codes become retriable status codes and imply `retriable-status-codes`. */
export function parseRetryOn(retryOn: string): ParsedRetryOn {
  const conditions = new Set<string>();
  const codes = new Set<number>();
  const unknown: string[] = [];
  for (const raw of retryOn.split(',')) {
    const item = raw.trim();
    if (item === '') continue;
    if (STATUS_CODE.test(item)) codes.add(Number(item));
    else if (RETRY_CONDITIONS.has(item)) conditions.add(item);
    else unknown.push(item);
  }
  if (codes.size > 0) conditions.add('retriable-status-codes');
  return { conditions, codes, unknown };
}

function makePolicy(fields: Omit<RetryPolicy, 'grpcStatusCodes' | 'retriesConnectFailure'>): RetryPolicy {
  const grpcStatusCodes = new Set<number>();
  for (const condition of fields.conditions) {
    const status = GRPC_CONDITIONS[condition];
    if (status !== undefined) grpcStatusCodes.add(status);
  }
  return Object.freeze({
    ...fields,
    grpcStatusCodes,
    retriesConnectFailure: CONNECT_FAILURE_CONDITIONS.some((c) => fields.conditions.has(c)),
  });
}

/** Istio's built-in default: what a route without `retries` gets (pilot `retry.DefaultPolicy`). */
export const ISTIO_DEFAULT_RETRY_POLICY: RetryPolicy = makePolicy({
  attempts: RETRY_DEFAULTS.attempts,
  perTryTimeoutMs: RETRY_DEFAULTS.perTryTimeoutMs,
  conditions: parseRetryOn(RETRY_DEFAULTS.retryOn).conditions,
  retriableStatusCodes: new Set(),
  backoffBaseMs: RETRY_DEFAULTS.backoffBaseMs,
  backoffMaxMs: RETRY_DEFAULTS.backoffBaseMs * RETRY_DEFAULTS.backoffMaxFactor,
  ignorePreviousHosts: RETRY_DEFAULTS.ignorePreviousHosts,
  retryRemoteLocalities: false,
  retryNonIdempotent: false,
});

/** Retries off, the default's conditions kept so that a call override of `attempts` alone still means something. */
export const NO_RETRY_POLICY: RetryPolicy = makePolicy({ ...ISTIO_DEFAULT_RETRY_POLICY, attempts: 0 });

/**
 * Compiles Istio's HTTPRetry as pilot's `ConvertPolicy` does: start from the built-in default, then
 * `attempts` (unset or 0 disables retries), `retryOn` (when not empty), `perTryTimeout`,
 * `retryIgnorePreviousHosts`, `retryRemoteLocalities` and `backoff` (the base; max = 10 × base).
 * Input is assumed validated by the policy schema; an unknown condition is dropped, as gRPC's xDS
 * client drops the conditions it does not support.
 */
export function compileHttpRetry(retries: HTTPRetry): RetryPolicy {
  const base = ISTIO_DEFAULT_RETRY_POLICY;
  const parsed = retries.retryOn === undefined || retries.retryOn === '' ? undefined : parseRetryOn(retries.retryOn);
  const perTry = retries.perTryTimeout === undefined ? undefined : parseDurationMs(retries.perTryTimeout);
  const backoff = retries.backoff === undefined ? undefined : parseDurationMs(retries.backoff);
  const backoffBaseMs = backoff === undefined || backoff <= 0 ? base.backoffBaseMs : backoff;
  return makePolicy({
    attempts: retries.attempts === undefined || retries.attempts <= 0 ? 0 : retries.attempts,
    perTryTimeoutMs: perTry === undefined || perTry <= 0 ? undefined : perTry,
    conditions: parsed?.conditions ?? base.conditions,
    retriableStatusCodes: parsed?.codes ?? base.retriableStatusCodes,
    backoffBaseMs,
    backoffMaxMs: backoffBaseMs * RETRY_DEFAULTS.backoffMaxFactor,
    ignorePreviousHosts: retries.retryIgnorePreviousHosts ?? base.ignorePreviousHosts,
    retryRemoteLocalities: retries.retryRemoteLocalities ?? base.retryRemoteLocalities,
    retryNonIdempotent: false,
  });
}

const byRoute = new WeakMap<CompiledRoute, RetryPolicy>();

/** VirtualService annotation: `"true"` lets its routes retry non-idempotent calls (POST, PATCH) after a failure that may have reached the server. */
export const RETRY_NON_IDEMPOTENT_ANNOTATION = 'weft.io/retry-non-idempotent';

/**
 * The route's own policy, compiled on first use and cached on the route object. A route with a
 * client-side `fault` gets no retries (Istio's API: "timeouts or retries will not be enabled when
 * faults are enabled on the client side"); one without `retries` gets `fallback`.
 */
export function routeRetryPolicy(
  route: CompiledRoute,
  fallback: RetryPolicy = ISTIO_DEFAULT_RETRY_POLICY,
): RetryPolicy {
  const http = route.http;
  if (http.fault === undefined && http.retries === undefined) return fallback;
  let policy = byRoute.get(route);
  if (policy === undefined) {
    policy = http.fault !== undefined ? NO_RETRY_POLICY : compileHttpRetry(http.retries as HTTPRetry);
    // The route says explicitly that its calls may be sent again whatever their method.
    if (route.annotations[RETRY_NON_IDEMPOTENT_ANNOTATION] === 'true' && policy.attempts > 0) {
      policy = { ...policy, retryNonIdempotent: true };
    }
    byRoute.set(route, policy);
  }
  return policy;
}

function invalidOverride(what: string, found: unknown, expected: string): WeftError {
  return new WeftError(
    'WEFT_ERR_REQUEST_INVALID',
    `the call's retries override has an invalid ${what}: found ${JSON.stringify(found)}, expected ${expected}`,
  );
}

/** `base` with the call's override applied field by field; throws WEFT_ERR_REQUEST_INVALID on a bad value. */
export function applyOverrides(base: RetryPolicy, o: RetryCallOverrides): RetryPolicy {
  let attempts = base.attempts;
  if (o.attempts !== undefined) {
    if (!Number.isInteger(o.attempts) || o.attempts < 0) {
      throw invalidOverride('attempts', o.attempts, 'a whole number ≥ 0');
    }
    attempts = o.attempts;
  }
  let perTryTimeoutMs = base.perTryTimeoutMs;
  if (o.perTryTimeout !== undefined) {
    const ms = typeof o.perTryTimeout === 'number' ? o.perTryTimeout : parseDurationMs(o.perTryTimeout);
    if (ms === undefined || !Number.isFinite(ms) || ms <= 0) {
      throw invalidOverride('perTryTimeout', o.perTryTimeout, 'a duration such as "200ms" or a number of ms > 0');
    }
    perTryTimeoutMs = ms;
  }
  let conditions = base.conditions;
  let retriableStatusCodes = base.retriableStatusCodes;
  if (o.retryOn !== undefined && o.retryOn !== '') {
    const parsed = parseRetryOn(o.retryOn);
    if (parsed.unknown.length > 0) {
      throw invalidOverride(
        'retryOn',
        o.retryOn,
        `a comma list of ${[...RETRY_CONDITIONS].join(', ')} or HTTP status codes such as 503`,
      );
    }
    conditions = parsed.conditions;
    retriableStatusCodes = parsed.codes;
  }
  if (o.retryNonIdempotent !== undefined && typeof o.retryNonIdempotent !== 'boolean') {
    throw invalidOverride('retryNonIdempotent', o.retryNonIdempotent, 'true or false');
  }
  return makePolicy({
    ...base,
    attempts,
    perTryTimeoutMs,
    conditions,
    retriableStatusCodes,
    retryNonIdempotent: o.retryNonIdempotent ?? base.retryNonIdempotent,
  });
}

// Callers usually pass the same override object on many calls: keep the last merge for each,
// with the values it was made from, so an object changed in place is merged again.
interface MergedOverride {
  base: RetryPolicy;
  attempts: RetryCallOverrides['attempts'];
  perTryTimeout: RetryCallOverrides['perTryTimeout'];
  retryOn: RetryCallOverrides['retryOn'];
  retryNonIdempotent: RetryCallOverrides['retryNonIdempotent'];
  policy: RetryPolicy;
}
const byOverride = new WeakMap<RetryCallOverrides, MergedOverride>();

/**
 * The policy of one call: the call's overrides (`ctx.overrides.retries`) over the route's
 * `retries` over `fallback` (Istio's default unless the mesh sets another). An override given in
 * code wins even on a route with a `fault`. Pass-through calls (no service, no route) are not
 * retried, as Istio's PassthroughCluster route has no retry policy. Throws
 * WEFT_ERR_REQUEST_INVALID when the override is malformed.
 */
export function retryPolicyFor(
  ctx: ClientCallContext,
  fallback: RetryPolicy = ISTIO_DEFAULT_RETRY_POLICY,
): RetryPolicy {
  const route = ctx.route;
  const base =
    route !== undefined ? routeRetryPolicy(route, fallback) : ctx.service === undefined ? NO_RETRY_POLICY : fallback;
  const o = ctx.overrides?.retries as RetryCallOverrides | undefined;
  if (o === undefined) return base;
  const m = byOverride.get(o);
  if (
    m !== undefined &&
    m.base === base &&
    m.attempts === o.attempts &&
    m.perTryTimeout === o.perTryTimeout &&
    m.retryOn === o.retryOn &&
    m.retryNonIdempotent === o.retryNonIdempotent
  ) {
    return m.policy;
  }
  const policy = applyOverrides(base, o);
  byOverride.set(o, {
    base,
    attempts: o.attempts,
    perTryTimeout: o.perTryTimeout,
    retryOn: o.retryOn,
    retryNonIdempotent: o.retryNonIdempotent,
    policy,
  });
  return policy;
}
