// weft's concise form: one object per destination service, compiled to the DestinationRule and VirtualService it stands for.
import type { ConfigProblem } from '@weft/core';
import { z } from 'zod';
import { BREAKER_ANNOTATION, breakerAnnotation } from './schema/breaker.js';
import { weight } from './schema/common.js';
import { connectionPool, loadBalancer, outlierDetection } from './schema/destination-rule.js';
import { duration, host, labels, uint32 } from './schema/kit.js';
import { OUTLIER_ANNOTATION, outlierEjection } from './schema/outlier-ejection.js';
import { httpRetry } from './schema/virtual-service.js';

const SIMPLE_BALANCERS = ['ROUND_ROBIN', 'LEAST_REQUEST', 'RANDOM', 'PASSTHROUGH'] as const;

/**
 * Istio's circuit-breaking knobs under the names a Node user knows them by; each maps to
 * one field of DestinationRule `trafficPolicy.connectionPool` (see docs/policy.md).
 */
export const circuitBreaker = z.strictObject({
  /** → `tcp.maxConnections` */
  maxConnections: uint32.optional(),
  /** → `tcp.connectTimeout` */
  connectTimeout: duration(1).optional(),
  /** → `http.http1MaxPendingRequests` */
  maxPendingRequests: uint32.optional(),
  /** → `http.http2MaxRequests` (concurrent requests, HTTP/1 included) */
  maxRequests: uint32.optional(),
  /** → `http.maxRequestsPerConnection` */
  maxRequestsPerConnection: uint32.optional(),
  /** → `http.maxRetries` */
  maxRetries: uint32.optional(),
});

/** The concise form's schema; its type is `ServicePolicy`. */
export const servicePolicy = z.strictObject({
  /** The destination host, as in a DestinationRule's `host`: `reviews` or a full name. */
  service: host,
  /** Namespace of the generated resources; default the workload's. */
  namespace: z.string().optional(),
  /** Subsets by name, each the labels its endpoints carry: `{ v1: { version: 'v1' } }`. */
  subsets: z.record(z.string(), labels).optional(),
  /** Traffic split across subsets by relative weight: `{ v1: 90, v2: 10 }`. */
  split: z.record(z.string(), weight).optional(),
  /** Time limit of a call: `2s`. */
  timeout: duration(1).optional(),
  /** Istio's HTTPRetry: `{ attempts: 3, perTryTimeout: '1s', retryOn: '5xx,reset' }`. */
  retries: httpRetry.optional(),
  /** `ROUND_ROBIN`, `LEAST_REQUEST`, `RANDOM`, `PASSTHROUGH`, or Istio's LoadBalancerSettings object. */
  loadBalancer: z.union([z.enum(SIMPLE_BALANCERS), loadBalancer]).optional(),
  circuitBreaker: circuitBreaker.optional(),
  /**
   * Istio's OutlierDetection, as written in a DestinationRule, plus gRPC A50's opt-in
   * `successRateEjection` and `failurePercentageEjection` (carried as the `weft.io/outlier-detection` annotation).
   */
  outlierDetection: outlierDetection.extend(outlierEjection.shape).optional(),
  /** Istio's ConnectionPoolSettings, for what `circuitBreaker` does not name. */
  connectionPool: connectionPool.optional(),
  /**
   * weft's retry budget for this service (Finagle's and Linkerd's): over `ttlMs`, retries may
   * number `minRetriesPerSecond × ttl + percentCanRetry × calls`; `false` turns it off.
   */
  /**
   * weft's failure-rate circuit breaker for this service, one per subset: `{ failurePercent: 50,
   * minimumCalls: 20, window: '10s', openFor: '5s' }` (any part; the rest from the mesh's defaults),
   * or `false` to turn off the one the mesh's `breaker` option would give.
   */
  breaker: breakerAnnotation.optional(),
  retryBudget: z
    .union([
      z.literal(false),
      z.strictObject({
        percentCanRetry: z.number().min(0).max(1).optional(),
        minRetriesPerSecond: z.number().min(0).optional(),
        ttlMs: z.number().int().min(1_000).max(3_600_000).optional(),
      }),
    ])
    .optional(),
});

export type ServicePolicy = z.infer<typeof servicePolicy>;

/** Is this document the concise form? (It has `service` and neither `apiVersion` nor `kind`.) */
export function isConcise(value: unknown): boolean {
  return (
    value !== null &&
    typeof value === 'object' &&
    !Array.isArray(value) &&
    'service' in value &&
    !('apiVersion' in value) &&
    !('kind' in value)
  );
}

/** Where a field of a generated resource came from in the concise form, for error messages. */
const ORIGIN_OF: readonly [prefix: string, concise: string][] = [
  ['spec.trafficPolicy.loadBalancer', 'loadBalancer'],
  ['spec.trafficPolicy.outlierDetection', 'outlierDetection'],
  ['spec.trafficPolicy.connectionPool', 'circuitBreaker'],
  ['spec.subsets', 'subsets'],
  ['spec.http[0].route', 'split'],
  ['spec.http[0].timeout', 'timeout'],
  ['spec.http[0].retries', 'retries'],
];

/** The concise field a path of a generated resource stands for. */
export function concisePathOf(path: string): string {
  for (const [prefix, concise] of ORIGIN_OF) if (path.startsWith(prefix)) return concise;
  return '(root)';
}

function mergeConnectionPool(p: ServicePolicy): Record<string, unknown> | undefined {
  const cb = p.circuitBreaker;
  const pool: { tcp?: Record<string, unknown>; http?: Record<string, unknown> } = {
    ...(p.connectionPool === undefined ? {} : structuredClone(p.connectionPool)),
  };
  if (cb !== undefined) {
    const tcp = { ...pool.tcp };
    const http = { ...pool.http };
    if (cb.maxConnections !== undefined) tcp.maxConnections = cb.maxConnections;
    if (cb.connectTimeout !== undefined) tcp.connectTimeout = cb.connectTimeout;
    if (cb.maxPendingRequests !== undefined) http.http1MaxPendingRequests = cb.maxPendingRequests;
    if (cb.maxRequests !== undefined) http.http2MaxRequests = cb.maxRequests;
    if (cb.maxRequestsPerConnection !== undefined) http.maxRequestsPerConnection = cb.maxRequestsPerConnection;
    if (cb.maxRetries !== undefined) http.maxRetries = cb.maxRetries;
    if (Object.keys(tcp).length > 0) pool.tcp = tcp;
    if (Object.keys(http).length > 0) pool.http = http;
  }
  return Object.keys(pool).length === 0 ? undefined : pool;
}

/** The Istio resources a checked concise policy stands for: a DestinationRule, a VirtualService, or both. */
export function expandConcise(p: ServicePolicy): Record<string, unknown>[] {
  const name = p.service.split('.')[0] as string;
  const metadata = p.namespace === undefined ? { name } : { name, namespace: p.namespace };
  const out: Record<string, unknown>[] = [];
  const pool = mergeConnectionPool(p);
  const trafficPolicy: Record<string, unknown> = {};
  if (p.loadBalancer !== undefined) {
    trafficPolicy.loadBalancer = typeof p.loadBalancer === 'string' ? { simple: p.loadBalancer } : p.loadBalancer;
  }
  if (pool !== undefined) trafficPolicy.connectionPool = pool;
  const { successRateEjection, failurePercentageEjection, ...istioOutlier } = p.outlierDetection ?? {};
  const rates = successRateEjection !== undefined || failurePercentageEjection !== undefined;
  // Only A50's blocks: no Istio outlierDetection, whose defaults would turn consecutive 5xx on.
  if (p.outlierDetection !== undefined && (!rates || Object.keys(istioOutlier).length > 0))
    trafficPolicy.outlierDetection = istioOutlier;
  // Istio's DestinationRule has no field for these weft settings: they travel as annotations the mesh reads.
  const annotations: Record<string, string> = {};
  if (p.retryBudget !== undefined) annotations['weft.io/retry-budget'] = JSON.stringify(p.retryBudget);
  if (p.breaker !== undefined) annotations[BREAKER_ANNOTATION] = JSON.stringify(p.breaker);
  if (rates) annotations[OUTLIER_ANNOTATION] = JSON.stringify({ successRateEjection, failurePercentageEjection });
  const annotated = Object.keys(annotations).length > 0;
  if (p.subsets !== undefined || Object.keys(trafficPolicy).length > 0 || annotated) {
    const spec: Record<string, unknown> = { host: p.service };
    if (Object.keys(trafficPolicy).length > 0) spec.trafficPolicy = trafficPolicy;
    if (p.subsets !== undefined)
      spec.subsets = Object.entries(p.subsets).map(([subset, l]) => ({ name: subset, labels: l }));
    const ruleMetadata = annotated ? { ...metadata, annotations } : metadata;
    out.push({ apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: ruleMetadata, spec });
  }
  if (p.split !== undefined || p.timeout !== undefined || p.retries !== undefined) {
    const route =
      p.split === undefined
        ? [{ destination: { host: p.service } }]
        : Object.entries(p.split).map(([subset, w]) => ({ destination: { host: p.service, subset }, weight: w }));
    const http: Record<string, unknown> = { route };
    if (p.timeout !== undefined) http.timeout = p.timeout;
    if (p.retries !== undefined) http.retries = p.retries;
    out.push({
      apiVersion: 'networking.istio.io/v1',
      kind: 'VirtualService',
      metadata,
      spec: { hosts: [p.service], http: [http] },
    });
  }
  return out;
}

/** A split whose weights do not add up to 100: the same warning as for a VirtualService route. */
export function splitWarning(p: ServicePolicy): Pick<ConfigProblem, 'code' | 'message' | 'severity'> | undefined {
  if (p.split === undefined) return undefined;
  const weights = Object.values(p.split);
  const sum = weights.reduce((s, w) => s + w, 0);
  if (weights.length < 2 || sum === 100) return undefined;
  if (sum === 0)
    return {
      code: 'WEFT_ERR_ROUTE_WEIGHT',
      message: 'every subset of the split has weight 0: it could send nowhere',
      severity: 'error',
    };
  return {
    code: 'WEFT_WARN_ROUTE_WEIGHT_SUM',
    message: `the weights add up to ${sum}, not 100; they are read relatively (weight / ${sum})`,
    severity: 'warning',
  };
}
