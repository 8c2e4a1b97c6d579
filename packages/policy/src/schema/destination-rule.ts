// The DestinationRule kind (networking.istio.io): load balancing, connection pools, outlier detection, TLS and subsets.
import { z } from 'zod';
import { exportTo, integerPercent, nonNegativeInt32, portSelector, uint64 } from './common.js';
import {
  duration,
  host,
  type KindSchema,
  labels,
  oneOf,
  params,
  percent,
  port,
  uint32,
  workloadSelector,
} from './kit.js';

// ---------- load balancing ----------

const httpCookie = z.strictObject({
  name: z.string(),
  path: z.string().optional(),
  ttl: duration().optional(),
  attributes: z.array(z.strictObject({ name: z.string(), value: z.string().optional() })).optional(),
});

/** `ConsistentHashLB`: one hash key, optionally one hash algorithm. */
export const consistentHash = oneOf(
  oneOf(
    z.strictObject({
      httpHeaderName: z.string().optional(),
      httpCookie: httpCookie.optional(),
      useSourceIp: z.boolean().optional(),
      httpQueryParameterName: z.string().optional(),
      ringHash: z.strictObject({ minimumRingSize: uint64.optional() }).optional(),
      maglev: z.strictObject({ tableSize: uint64.optional() }).optional(),
      /** Deprecated; use `ringHash.minimumRingSize`. */
      minimumRingSize: uint64.optional(),
    }),
    ['httpHeaderName', 'httpCookie', 'useSourceIp', 'httpQueryParameterName'],
  ),
  ['ringHash', 'maglev'],
  false,
);

const localityFailover = z.strictObject({ from: z.string().optional(), to: z.string().optional() });

/** `LocalityLoadBalancerSetting`: `distribute` excludes `failover` and `failoverPriority`. */
export const localityLbSetting = oneOf(
  oneOf(
    z.strictObject({
      distribute: z
        .array(z.strictObject({ from: z.string().optional(), to: z.record(z.string(), uint32).optional() }))
        .optional(),
      failover: z.array(localityFailover).optional(),
      failoverPriority: z.array(z.string()).optional(),
      enabled: z.boolean().optional(),
    }),
    ['distribute', 'failover'],
    false,
  ),
  ['distribute', 'failoverPriority'],
  false,
);

/** `ZoneAwareLoadBalancerSetting` (Envoy's zone-aware routing; exclusive with `localityLbSetting`). */
export const zoneAwareLbSetting = z.strictObject({
  enabled: z.boolean().optional(),
  failover: z.array(localityFailover).optional(),
  failoverPriority: z.array(z.string()).optional(),
  minClusterSize: uint64.optional(),
});

/** `WarmupConfiguration`: slow start of new endpoints. */
export const warmup = z.strictObject({
  duration: duration(),
  minimumPercent: percent().optional(),
  aggression: z.number().optional(),
});

export const loadBalancer = oneOf(
  oneOf(
    z.strictObject({
      simple: z.enum(['UNSPECIFIED', 'LEAST_CONN', 'RANDOM', 'PASSTHROUGH', 'ROUND_ROBIN', 'LEAST_REQUEST']).optional(),
      consistentHash: consistentHash.optional(),
      localityLbSetting: localityLbSetting.optional(),
      /** Deprecated; use `warmup`. */
      warmupDurationSecs: duration().optional(),
      warmup: warmup.optional(),
      zoneAwareLbSetting: zoneAwareLbSetting.optional(),
    }),
    ['simple', 'consistentHash'],
    false,
  ),
  ['localityLbSetting', 'zoneAwareLbSetting'],
  false,
);

// ---------- connection pool ----------

export const tcpSettings = z.strictObject({
  maxConnections: nonNegativeInt32.optional(),
  connectTimeout: duration(1).optional(),
  tcpKeepalive: z
    .strictObject({
      probes: uint32.optional(),
      time: duration().optional(),
      interval: duration().optional(),
    })
    .optional(),
  maxConnectionDuration: duration(1).optional(),
  idleTimeout: duration().optional(),
});

export const httpSettings = z.strictObject({
  http1MaxPendingRequests: nonNegativeInt32.optional(),
  http2MaxRequests: nonNegativeInt32.optional(),
  maxRequestsPerConnection: nonNegativeInt32.optional(),
  maxRetries: nonNegativeInt32.optional(),
  idleTimeout: duration().optional(),
  h2UpgradePolicy: z.enum(['DEFAULT', 'DO_NOT_UPGRADE', 'UPGRADE']).optional(),
  useClientProtocol: z.boolean().optional(),
  maxConcurrentStreams: nonNegativeInt32.optional(),
  http2KeepAlive: z.strictObject({ interval: duration().optional(), timeout: duration().optional() }).optional(),
});

export const connectionPool = z.strictObject({
  tcp: tcpSettings.optional(),
  http: httpSettings.optional(),
});

// ---------- outlier detection ----------

const outlierHttpErrorCode = z
  .number()
  .int()
  .refine((n) => n >= 100 && n <= 599, {
    message: 'not an HTTP status code',
    ...params('WEFT_ERR_POLICY_VALUE', 'an HTTP status code from 100 to 599'),
  });

export const outlierDetection = z.strictObject({
  /** Deprecated; use `consecutive5xxErrors` or `consecutiveGatewayErrors`. */
  consecutiveErrors: nonNegativeInt32.optional(),
  splitExternalLocalOriginErrors: z.boolean().optional(),
  consecutiveLocalOriginFailures: uint32.optional(),
  consecutiveGatewayErrors: uint32.optional(),
  consecutive5xxErrors: uint32.optional(),
  interval: duration(1).optional(),
  baseEjectionTime: duration(1).optional(),
  maxEjectionPercent: integerPercent().optional(),
  minHealthPercent: integerPercent().optional(),
  outlierDetectionHttpErrorCodes: z.array(outlierHttpErrorCode).optional(),
});

// ---------- TLS, tunnel, PROXY protocol, retry budget ----------

/** `ClientTLSSettings`. SIMPLE and MUTUAL originate TLS with the files named here (paths on this machine). */
export const clientTlsSettings = z
  .strictObject({
    mode: z.enum(['DISABLE', 'SIMPLE', 'MUTUAL', 'ISTIO_MUTUAL']).optional(),
    clientCertificate: z.string().min(1).optional(),
    privateKey: z.string().min(1).optional(),
    caCertificates: z.string().min(1).optional(),
    credentialName: z.string().optional(),
    subjectAltNames: z.array(z.string()).optional(),
    sni: z.string().optional(),
    insecureSkipVerify: z.boolean().optional(),
    caCrl: z.string().optional(),
  })
  .superRefine((tls, ctx) => {
    // As Istio's validation: MUTUAL presents a client certificate, so it must be named (or come from a secret).
    if (tls.mode !== 'MUTUAL' || tls.credentialName !== undefined) return;
    for (const key of ['clientCertificate', 'privateKey'] as const) {
      if (tls[key] === undefined) {
        ctx.addIssue({
          code: 'custom',
          path: [key],
          message: `tls.mode MUTUAL presents a client certificate: ${key} (a PEM file path) is required`,
          ...params('WEFT_ERR_POLICY_FIELD_REQUIRED', 'a PEM file path'),
        });
      }
    }
  });

export const tunnelSettings = z.strictObject({
  protocol: z.enum(['CONNECT', 'POST']).optional(),
  targetHost: z.string(),
  targetPort: port,
});

export const proxyProtocol = z.strictObject({ version: z.enum(['V1', 'V2']).optional() });

export const retryBudget = z.strictObject({
  percent: percent().optional(),
  minRetryConcurrency: uint32.optional(),
  budgetInterval: duration().optional(),
});

// ---------- traffic policy ----------

export const portTrafficPolicy = z.strictObject({
  port: portSelector.optional(),
  loadBalancer: loadBalancer.optional(),
  connectionPool: connectionPool.optional(),
  outlierDetection: outlierDetection.optional(),
  tls: clientTlsSettings.optional(),
});

/** `TrafficPolicy`: what applies to every port, with `portLevelSettings` replacing it port by port. */
export const trafficPolicy = z.strictObject({
  loadBalancer: loadBalancer.optional(),
  connectionPool: connectionPool.optional(),
  outlierDetection: outlierDetection.optional(),
  tls: clientTlsSettings.optional(),
  portLevelSettings: z.array(portTrafficPolicy).max(4096).optional(),
  tunnel: tunnelSettings.optional(),
  proxyProtocol: proxyProtocol.optional(),
  retryBudget: retryBudget.optional(),
});

export const subset = z.strictObject({
  name: z.string(),
  labels: labels.optional(),
  trafficPolicy: trafficPolicy.optional(),
});

// ---------- the kind ----------

/** The `spec` of a DestinationRule. */
export const destinationRuleSpec = z.strictObject({
  host,
  trafficPolicy: trafficPolicy.optional(),
  subsets: z.array(subset).optional(),
  exportTo: exportTo.optional(),
  workloadSelector: workloadSelector.optional(),
});

export type DestinationRuleSpec = z.infer<typeof destinationRuleSpec>;
export type TrafficPolicy = z.infer<typeof trafficPolicy>;
export type Subset = z.infer<typeof subset>;

// The balance layer (packages/mesh) acts on every part of `loadBalancer` of a destination and of
// a subset (simple, consistentHash, localityLbSetting, warmup) except Envoy's zone-aware routing.
const LOAD_BALANCER_PARTS = ['zoneAwareLbSetting'] as const;

// The pool-limits layer acts on connectionPool http.http2MaxRequests, http.http1MaxPendingRequests
// and tcp.maxConnections, the transport on tcp.maxConnections, tcp.connectTimeout,
// tcp.maxConnectionDuration, http.idleTimeout and http.maxRequestsPerConnection, the retry layer on
// http.maxRetries; the outlier layer on outlierDetection. These parts wait.
const CONNECTION_POOL_PARTS = [
  'http.h2UpgradePolicy',
  'http.useClientProtocol',
  'http.maxConcurrentStreams',
  'http.http2KeepAlive',
  'tcp.tcpKeepalive',
  'tcp.idleTimeout',
].map((p) => `connectionPool.${p}`);

// The transport acts on every tls.mode (ISTIO_MUTUAL with the mesh's identity, SIMPLE and MUTUAL
// with the files named), on subjectAltNames, sni and insecureSkipVerify. Kubernetes secrets
// (credentialName) and CRLs wait.
const TLS_PARTS = ['credentialName', 'caCrl'].map((p) => `tls.${p}`);

const POLICY_FIELDS = [...TLS_PARTS, ...CONNECTION_POOL_PARTS] as const;
const PORT_POLICY_FIELDS = ['loadBalancer', 'connectionPool', 'outlierDetection', 'tls'] as const;
const TOP_POLICY_FIELDS = [...POLICY_FIELDS, 'tunnel', 'proxyProtocol', 'retryBudget'] as const;

function policyPaths(prefix: string): string[] {
  return [
    ...TOP_POLICY_FIELDS.map((f) => `${prefix}.${f}`),
    ...PORT_POLICY_FIELDS.map((f) => `${prefix}.portLevelSettings[].${f}`),
  ];
}

export const DestinationRule: KindSchema = {
  group: 'networking.istio.io',
  kind: 'DestinationRule',
  versions: ['v1', 'v1beta1', 'v1alpha3'],
  spec: destinationRuleSpec,
  // `trafficPolicy.retryBudget` is acted on by the retry layer (packages/mesh); a subset's is not yet.
  unimplemented: [
    ...policyPaths('trafficPolicy').filter((p) => p !== 'trafficPolicy.retryBudget'),
    ...policyPaths('subsets[].trafficPolicy'),
    ...LOAD_BALANCER_PARTS.flatMap((part) => [
      `trafficPolicy.loadBalancer.${part}`,
      `subsets[].trafficPolicy.loadBalancer.${part}`,
    ]),
    'exportTo',
    'workloadSelector',
  ],
};
