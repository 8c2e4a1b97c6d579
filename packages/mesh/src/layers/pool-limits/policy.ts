// Compiles a DestinationRule's connectionPool into the three admission limits the pool-limits layer enforces.
import type { TrafficPolicy } from '@weft/policy';

/** `connectionPool` of a DestinationRule's trafficPolicy (or of a subset's, or a port's). */
export type ConnectionPoolSettings = NonNullable<TrafficPolicy['connectionPool']>;

/** Envoy's per-cluster circuit-breaker thresholds, as Istio sets them from `connectionPool.http`. */
export interface PoolLimitsPolicy {
  /** `http.http2MaxRequests`: requests in flight at once to the destination (HTTP/1 included); beyond, fail fast. */
  readonly maxRequests: number;
  /** `tcp.maxConnections`: HTTP/1 connections, so requests in flight before a call must wait for one. */
  readonly maxConnections: number;
  /** `http.http1MaxPendingRequests`: calls allowed to wait for a free connection; beyond, fail fast. */
  readonly maxPending: number;
}

/** 2^32−1: Istio's "unlimited" for every threshold it does not set (Envoy's own defaults are 1024 / 3). */
export const UNLIMITED = 4_294_967_295;

/** The thresholds of a destination whose connectionPool leaves them unset. */
export const POOL_LIMITS_DEFAULTS: PoolLimitsPolicy = Object.freeze({
  maxRequests: UNLIMITED,
  maxConnections: UNLIMITED,
  maxPending: UNLIMITED,
});

const compiled = new WeakMap<ConnectionPoolSettings, PoolLimitsPolicy | undefined>();

/** Istio copies a threshold only when it is > 0 (proto3 cannot tell 0 from unset), so 0 means the default. */
function limit(value: number | undefined, fallback: number): number {
  return value === undefined || value <= 0 ? fallback : value;
}

/**
 * The admission limits of a connectionPool, compiled once per settings object. `undefined` when
 * it sets none of the three (no `http` block, or only fields others handle: `http.idleTimeout`
 * and `tcp.connectTimeout` the transport, `http.maxRetries` the retry layer): then the layer has
 * nothing to enforce and adds no work.
 */
export function compilePoolLimits(settings: ConnectionPoolSettings | undefined): PoolLimitsPolicy | undefined {
  if (settings === undefined) return undefined;
  if (compiled.has(settings)) return compiled.get(settings);
  const http = settings.http;
  const d = POOL_LIMITS_DEFAULTS;
  const policy: PoolLimitsPolicy = {
    maxRequests: limit(http?.http2MaxRequests, d.maxRequests),
    maxConnections: limit(settings.tcp?.maxConnections, d.maxConnections),
    maxPending: limit(http?.http1MaxPendingRequests, d.maxPending),
  };
  const result =
    policy.maxRequests === d.maxRequests &&
    policy.maxConnections === d.maxConnections &&
    policy.maxPending === d.maxPending
      ? undefined
      : Object.freeze(policy);
  compiled.set(settings, result);
  return result;
}
