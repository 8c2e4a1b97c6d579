// createMesh's options: their types, their defaults (with units), and the check that reports every mistake at once.
import { type ConfigProblem, configError, ENDPOINT_HEALTH, type EndpointHealth } from '@weft/core';
import { type BreakerSettings, breakerSettings, issueToProblems, OPTION_CODES, type PolicyInput } from '@weft/policy';
import { CertificateAuthority } from '@weft/security';
import { z } from 'zod';
import type { DnsService } from '../discovery/dns.js';
import type { EscapedSlashes, PathNormalization } from '../layers/authz/normalize.js';
import type { FailureClassifier } from '../layers/breaker/classify.js';
import { defaultCaDir, type IdentitySetting } from '../security/identity.js';
import { type AccessLogger, defaultAccessLogger } from '../telemetry/access-log/index.js';
import {
  PROPAGATOR_NAMES,
  type ResolvedTracing,
  resolveTracing,
  type TracingOptions,
} from '../telemetry/tracing/options.js';
import {
  ADDRESS_EXPECTED,
  checkServiceHost,
  DNS_LABEL_EXPECTED,
  isDnsLabel,
  type ParsedAddress,
  parseAddress,
} from './address.js';
import { defaultLogger, type Logger, SILENT } from './logger.js';

/** An endpoint in static discovery: `'host:port'`, or the address with what balancing and subsets read. */
export type StaticEndpoint =
  | string
  | {
      address: string;
      /** Labels that subsets select on, e.g. `{ version: 'v2' }`. */
      labels?: Record<string, string>;
      /** `region/zone/subzone`; trailing parts may be left out. */
      locality?: string;
      /** Relative share of traffic; default 1. */
      weight?: number;
      /** `HEALTHY` (default), `UNHEALTHY` or `DRAINING`: only healthy endpoints take calls. */
      health?: EndpointHealth;
    };

export interface MeshOptions {
  /** This workload's service name: a DNS label, as in Kubernetes. Required. */
  service: string;
  /** This workload's namespace; default `default`. Short host names resolve against it. */
  namespace?: string;
  /** This workload's version label (`app.kubernetes.io/version`, Istio's `version`). */
  version?: string;
  /** More labels of this workload; `app` and `version` are added from `service` and `version`. */
  labels?: Record<string, string>;
  /** Where the endpoints of other services come from. */
  discovery?: {
    /** Endpoints given in code, by service host (`reviews`, `reviews.other` or the full name). */
    static?: Record<string, StaticEndpoint[]>;
    /** A YAML or JSON file of endpoints by service (`services: { reviews: [...] }`), read again when it changes. */
    file?: string;
    /**
     * etcd (docs/discovery.md): watch the services registered under `prefix` (default
     * `/weft/services/`), and with `register: true` register this workload's servers (`mesh.listen`)
     * under a lease of `leaseTtlSeconds` (default 10), removed on `close()` or when the process dies.
     */
    etcd?: {
      hosts: string[];
      prefix?: string;
      register?: boolean;
      watch?: boolean;
      /**
       * Which registered services this mesh follows: `'all'` (default, one watch of the prefix),
       * the hosts it calls (`['reviews', 'ratings']`, a watch each), or `'called'` (each service
       * from the first call that names it).
       */
      services?: 'all' | 'called' | string[];
      leaseTtlSeconds?: number;
      /** After deregistering on `close()`, how long to wait before draining, for watchers to see it; default 1000 ms. */
      deregisterGraceMs?: number;
    };
    /** Services found in DNS: A/AAAA names with a port, or SRV names; see docs/discovery.md. */
    dns?: {
      services: Record<string, DnsService>;
      /** DNS servers to ask (`127.0.0.1:53`); the system's by default. */
      servers?: string[];
      minRefreshMs?: number;
      maxRefreshMs?: number;
    };
  };
  /**
   * What happens to a call for a host that is no known service: `ALLOW_ANY` (default, as in
   * Istio) sends it as plain HTTP without the mesh; `REGISTRY_ONLY` rejects it with
   * `WEFT_ERR_REGISTRY_ONLY`.
   */
  outboundTrafficPolicy?: 'ALLOW_ANY' | 'REGISTRY_ONLY';
  /** Default time limit of a whole outbound call, in ms; 0 (the default, as in Istio) sets none. */
  timeoutMs?: number;
  /** Connections kept to each endpoint. */
  connectionPool?: {
    /** Most connections open to one endpoint at once; calls beyond wait in a queue. Default 128. */
    maxConnectionsPerEndpoint?: number;
    /** How long an idle kept-alive connection stays open, in ms. Default 4000. */
    idleTimeoutMs?: number;
    /** Time allowed to open a connection, in ms. Default 10000 (Istio's `connectTimeout`). */
    connectTimeoutMs?: number;
  };
  /** How long `close()` waits for calls in flight on the mesh's servers before cutting them, in ms. Default 5000. */
  drainTimeoutMs?: number;
  /** Host name suffix of services; default `cluster.local`. */
  clusterDomain?: string;
  /**
   * Istio resources and weft's concise form: objects, file paths, directories and globs, in
   * any mix; a later source replaces an earlier one's resource of the same kind, namespace
   * and name. See docs/policy.md.
   */
  policy?: PolicyInput;
  /**
   * Policy documents from etcd, for a whole fleet at once: every key under `prefix` (default
   * `/weft/policy/`) is YAML or JSON, loaded after `policy` and followed with the same checks and
   * last-known-good behaviour as files (docs/policy.md).
   */
  etcdPolicy?: { hosts: string[]; prefix?: string };
  /** Reload file sources when they change; default true. */
  watchPolicy?: boolean;
  /**
   * Whose deadline header (`x-envoy-expected-rq-timeout-ms`) an inbound call adopts: `mesh`
   * (default: calls from weft clients, which mark them), `any`, or `none`.
   */
  inboundDeadlines?: 'mesh' | 'any' | 'none';
  /**
   * The retry budget each destination gets unless its DestinationRule sets `retryBudget`:
   * over `ttlMs`, retries may number `minRetriesPerSecond × ttl + percentCanRetry × calls`
   * (Finagle's and Linkerd's; default 20 % + 10/s over 10 s). `false` turns it off.
   */
  retryBudget?: false | { percentCanRetry?: number; minRetriesPerSecond?: number; ttlMs?: number };
  /**
   * weft's failure-rate circuit breaker, one per destination (service and subset); see docs/traffic.md.
   * By default only destinations whose DestinationRule asks for one (`weft.io/breaker`, or `breaker`
   * in the concise form) get one.
   */
  breaker?: {
    /**
     * Give every destination a breaker: `true` with weft's defaults (50 % of at least 20 calls in
     * 10 s opens it for 5 s), or these settings. A rule's `weft.io/breaker` overrides it; `false` there turns it off.
     */
    everyDestination?: boolean | BreakerSettings;
    /** What counts as a failure: `{ response(res, req), error(err, req) }`, each optional. 4xx never counts. */
    classify?: FailureClassifier;
  };
  /**
   * Workload identity and mutual TLS (docs/security.md). `true`: the embedded CA (made on first
   * use in `~/.weft/ca`, or `$WEFT_CA_DIR`), SPIFFE ID `spiffe://cluster.local/ns/<namespace>/sa/<service>`.
   * Off by default.
   */
  security?: boolean | SecurityOptions;
  /**
   * Spans for every call through @opentelemetry/api and W3C/B3 propagation, carried from an
   * inbound call to the calls made while handling it (docs/tracing.md). On by default;
   * without an OpenTelemetry SDK the spans are the API's no-op. `false`: no spans and no trace
   * headers (x-request-id is the `requestId` option's).
   */
  tracing?: boolean | TracingOptions;
  /**
   * Envoy's `x-request-id`: made at the edge for a request that has none, carried unchanged to
   * the calls made while handling it, logged by the access logs and tagged on spans. On by
   * default, with tracing on or off, as Envoy's `generate_request_id`; `false`: weft neither
   * makes nor carries one (a header the caller sets still goes out as any other).
   */
  requestId?: boolean;
  /**
   * Istio's standard metrics (`istio_requests_total`, the duration and size histograms) for every
   * call in and out, on `mesh.metrics()` and the admin endpoint (docs/metrics.md). On by default;
   * `false` records nothing per call: none of them, nor weft's per-destination retry and overflow
   * counters (weft's gauges, such as breaker state, stay).
   */
  metrics?: boolean;
  /** Where weft logs (TLS refusals at warn, authorization denials at info): a pino logger, or `false`. Default: pino to stderr at `$WEFT_LOG_LEVEL` or `warn`. */
  logger?: false | Logger;
  /**
   * Access logs, one JSON line per call in and out with Istio's default fields: `true` (every call,
   * pino on stdout), `{ sample: 0.1 }` (a tenth of them), `{ logger }` (your own). Off by default.
   */
  accessLog?: boolean | { sample?: number; logger?: AccessLogger };
}

export interface SecurityOptions {
  /** SPIFFE trust domain; default `cluster.local`, as Istio. */
  trustDomain?: string;
  /** The service account in the SPIFFE ID; default the service name. */
  serviceAccount?: string;
  /**
   * Where the certificate comes from: `{ caDir }` (the embedded CA, made on first use),
   * `{ ca }` (a CertificateAuthority object), `{ caServer: { url, rootsPem, token } }` (weft ca serve),
   * or `{ files: { certificate, privateKey, roots } }` (written by an outside issuer, reloaded on change).
   */
  identity?: IdentitySetting;
  /** Life of workload certificates, in ms; default 24 h. */
  certificateTtlMs?: number;
  /** Renew at this share of a certificate's life; default 0.5 (Istio's). */
  renewAtFraction?: number;
  /** Istio's `pathNormalization` for inbound calls; weft's default `MERGE_SLASHES` (Istio's is `BASE`). */
  pathNormalization?: PathNormalization;
  /** Istio's root namespace: its PeerAuthentication and AuthorizationPolicy without selector apply mesh-wide. Default `istio-system`. */
  rootNamespace?: string;
  /** Envoy's action on encoded slashes (`%2F`, `%5C`) the normalisation keeps: `KEEP_UNCHANGED` (default) or `REJECT_REQUEST` (400). */
  escapedSlashes?: EscapedSlashes;
}

export interface ResolvedSecurity {
  trustDomain: string;
  serviceAccount: string;
  identity: IdentitySetting;
  certificateTtlMs: number;
  renewAtFraction: number;
}

/** Every default, in one place, with its unit in its name. */
export const DEFAULTS = {
  namespace: 'default',
  outboundTrafficPolicy: 'ALLOW_ANY',
  timeoutMs: 0,
  maxConnectionsPerEndpoint: 128,
  idleTimeoutMs: 4_000,
  connectTimeoutMs: 10_000,
  /** Backstop for a response that never comes when no timeout is set (undici's own default). */
  noDeadlineHeadersTimeoutMs: 300_000,
  drainTimeoutMs: 5_000,
  clusterDomain: 'cluster.local',
  /** Finagle's and Linkerd's retry budget: 20 % of calls plus 10 retries a second, over 10 s. */
  retryBudget: { percentCanRetry: 0.2, minRetriesPerSecond: 10, ttlMs: 10_000 },
} as const;

export interface ResolvedEndpointOptions extends ParsedAddress {
  labels: Record<string, string>;
  locality: string;
  weight: number;
  health: EndpointHealth;
}

/** The options after checking, with every default filled in. */
export interface ResolvedMeshOptions {
  service: string;
  namespace: string;
  version: string | undefined;
  labels: Record<string, string>;
  staticEndpoints: Map<string, ResolvedEndpointOptions[]>;
  /** `discovery.file` and `discovery.dns` as given (checked). */
  discoveryFile: string | undefined;
  discoveryDns: NonNullable<MeshOptions['discovery']>['dns'];
  discoveryEtcd: NonNullable<MeshOptions['discovery']>['etcd'];
  etcdPolicy: MeshOptions['etcdPolicy'];
  outboundTrafficPolicy: 'ALLOW_ANY' | 'REGISTRY_ONLY';
  timeoutMs: number;
  maxConnectionsPerEndpoint: number;
  idleTimeoutMs: number;
  connectTimeoutMs: number;
  drainTimeoutMs: number;
  clusterDomain: string;
  policy: PolicyInput | undefined;
  watchPolicy: boolean;
  inboundDeadlines: 'mesh' | 'any' | 'none';
  retryBudget: false | { percentCanRetry: number; minRetriesPerSecond: number; ttlMs: number };
  breaker: { everyDestination: BreakerSettings | undefined; classify: FailureClassifier | undefined };
  /** `undefined` when mTLS is off. */
  security: ResolvedSecurity | undefined;
  pathNormalization: PathNormalization;
  escapedSlashes: EscapedSlashes;
  rootNamespace: string;
  logger: Logger;
  /** `undefined` when tracing is off. */
  tracing: ResolvedTracing | undefined;
  /** Whether weft makes and carries x-request-id. */
  requestId: boolean;
  /** Whether calls are recorded into Istio's standard metrics. */
  metrics: boolean;
  /** `undefined` when off. */
  accessLog: { sample: number; logger: AccessLogger } | undefined;
}

const SOURCE = 'createMesh options';

const dnsLabel = z.string().refine(isDnsLabel, {
  message: 'not a valid service or namespace name',
  params: { weft: 'WEFT_ERR_SERVICE_NAME', expected: DNS_LABEL_EXPECTED },
});
const address = z.string().superRefine((value, ctx) => {
  const parsed = parseAddress(value);
  if (typeof parsed === 'string') {
    ctx.addIssue({ code: 'custom', message: parsed, params: { weft: 'WEFT_ERR_ADDRESS', expected: ADDRESS_EXPECTED } });
  }
});
const labels = z.record(z.string(), z.string());
const locality = z
  .string()
  .regex(/^[^/]*(\/[^/]*){0,2}$/, { message: 'a locality has at most three parts' })
  .meta({ expected: '"region", "region/zone" or "region/zone/subzone"' });
const isFunction = (v: unknown): boolean => typeof v === 'function';
const FUNCTION_EXPECTED = { message: 'not a function', params: { expected: 'a function' } };
const ms = (max: number) => z.number().int().min(0).max(max);

export const endpointSchema = z.union([
  address,
  z.strictObject({
    address,
    labels: labels.optional(),
    locality: locality.optional(),
    weight: z.number().int().min(1).max(0xffffffff).optional(),
    health: z.enum(ENDPOINT_HEALTH).optional(),
  }),
]);

const schema = z.strictObject({
  service: dnsLabel,
  namespace: dnsLabel.optional(),
  version: z.string().min(1).max(63).optional(),
  labels: labels.optional(),
  discovery: z
    .strictObject({
      static: z.record(z.string(), z.array(endpointSchema)).optional(),
      file: z.string().min(1).optional(),
      etcd: z
        .strictObject({
          hosts: z.array(z.string().min(1)).min(1),
          prefix: z.string().min(1).optional(),
          register: z.boolean().optional(),
          watch: z.boolean().optional(),
          services: z.union([z.enum(['all', 'called']), z.array(z.string().min(1)).min(1)]).optional(),
          leaseTtlSeconds: z.number().int().min(1).max(3600).optional(),
          deregisterGraceMs: z.number().int().min(0).max(600_000).optional(),
        })
        .optional(),
      dns: z
        .strictObject({
          services: z.record(
            z.string(),
            z.strictObject({
              name: z.string().min(1),
              type: z.enum(['A', 'AAAA', 'A+AAAA', 'SRV']).optional(),
              port: z.number().int().min(1).max(65535).optional(),
              labels: labels.optional(),
            }),
          ),
          servers: z.array(z.string().min(1)).optional(),
          minRefreshMs: z.number().int().min(10).max(3_600_000).optional(),
          maxRefreshMs: z.number().int().min(10).max(3_600_000).optional(),
        })
        .optional(),
    })
    .optional(),
  outboundTrafficPolicy: z.enum(['ALLOW_ANY', 'REGISTRY_ONLY']).optional(),
  timeoutMs: ms(2_147_483_647).optional(),
  connectionPool: z
    .strictObject({
      maxConnectionsPerEndpoint: z.number().int().min(1).max(65_536).optional(),
      idleTimeoutMs: ms(3_600_000).optional(),
      connectTimeoutMs: z.number().int().min(1).max(3_600_000).optional(),
    })
    .optional(),
  drainTimeoutMs: ms(3_600_000).optional(),
  clusterDomain: z.string().min(1).optional(),
  // Checked by the policy loader, which reports problems with their files and lines.
  policy: z.unknown().optional(),
  watchPolicy: z.boolean().optional(),
  etcdPolicy: z
    .strictObject({ hosts: z.array(z.string().min(1)).min(1), prefix: z.string().min(1).optional() })
    .optional(),
  inboundDeadlines: z.enum(['mesh', 'any', 'none']).optional(),
  retryBudget: z
    .union([
      z.literal(false),
      z.strictObject({
        percentCanRetry: z.number().min(0).max(1).optional(),
        minRetriesPerSecond: z.number().min(0).max(1_000_000).optional(),
        ttlMs: z.number().int().min(1_000).max(3_600_000).optional(),
      }),
    ])
    .optional(),
  breaker: z
    .strictObject({
      everyDestination: z.union([z.boolean(), breakerSettings]).optional(),
      classify: z
        .strictObject({
          response: z.custom<NonNullable<FailureClassifier['response']>>(isFunction, FUNCTION_EXPECTED).optional(),
          error: z.custom<NonNullable<FailureClassifier['error']>>(isFunction, FUNCTION_EXPECTED).optional(),
        })
        .optional(),
    })
    .optional(),
  security: z
    .union([
      z.boolean(),
      z.strictObject({
        trustDomain: z.string().min(1).optional(),
        serviceAccount: dnsLabel.optional(),
        identity: z
          .union([
            z.strictObject({ caDir: z.string().min(1) }),
            z.strictObject({
              ca: z.custom<CertificateAuthority>((v) => v instanceof CertificateAuthority, {
                message: 'not a CertificateAuthority',
                params: { expected: 'a CertificateAuthority from @weft/security' },
              }),
            }),
            z.strictObject({
              caServer: z.strictObject({ url: z.url(), rootsPem: z.string().min(1), token: z.string().optional() }),
            }),
            z.strictObject({
              files: z.strictObject({
                certificate: z.string().min(1),
                privateKey: z.string().min(1),
                roots: z.string().min(1),
              }),
            }),
          ])
          .optional(),
        certificateTtlMs: z
          .number()
          .int()
          .min(10_000)
          .max(90 * 86_400_000)
          .optional(),
        renewAtFraction: z.number().gt(0).lt(1).optional(),
        pathNormalization: z.enum(['NONE', 'BASE', 'MERGE_SLASHES', 'DECODE_AND_MERGE_SLASHES']).optional(),
        rootNamespace: dnsLabel.optional(),
        escapedSlashes: z.enum(['KEEP_UNCHANGED', 'REJECT_REQUEST']).optional(),
      }),
    ])
    .optional(),
  accessLog: z
    .union([
      z.boolean(),
      z.strictObject({
        sample: z.number().min(0).max(1).optional(),
        logger: z
          .custom<AccessLogger>(
            (v) => typeof v === 'object' && v !== null && typeof (v as AccessLogger).info === 'function',
            {
              message: 'not a logger',
              params: { expected: 'a pino logger (or anything with an info method)' },
            },
          )
          .optional(),
      }),
    ])
    .optional(),
  metrics: z.boolean().optional(),
  requestId: z.boolean().optional(),
  tracing: z
    .union([
      z.boolean(),
      z.strictObject({
        propagators: z.array(z.enum(PROPAGATOR_NAMES as [string, ...string[]])).optional(),
        tracerProvider: z
          .custom<NonNullable<TracingOptions['tracerProvider']>>(
            (v) =>
              typeof v === 'object' && v !== null && typeof (v as { getTracer?: unknown }).getTracer === 'function',
            { message: 'not a TracerProvider', params: { expected: 'an OpenTelemetry TracerProvider' } },
          )
          .optional(),
      }),
    ])
    .optional(),
  logger: z
    .union([
      z.literal(false),
      z.custom<Logger>((v) => typeof v === 'object' && v !== null && typeof (v as Logger).warn === 'function', {
        message: 'not a logger',
        params: { expected: 'a pino logger (or anything with info, warn and debug methods), or false' },
      }),
    ])
    .optional(),
});

/**
 * Checks createMesh's options and fills in defaults. Throws one `WEFT_ERR_CONFIG_INVALID`
 * listing every problem found (each with its own code and option path).
 */
export function resolveMeshOptions(input: unknown): ResolvedMeshOptions {
  const parsed = schema.safeParse(input);
  const context = { schema, input, codes: OPTION_CODES, locate: () => SOURCE };
  const problems: ConfigProblem[] = parsed.success
    ? []
    : parsed.error.issues.flatMap((i) => issueToProblems(i, context));
  const clusterDomain = (parsed.success && parsed.data.clusterDomain) || DEFAULTS.clusterDomain;
  for (const key of Object.keys((parsed.success && parsed.data.discovery?.static) || {})) {
    const reason = checkServiceHost(key, clusterDomain);
    if (reason !== undefined) {
      problems.push({
        source: SOURCE,
        severity: 'error',
        code: 'WEFT_ERR_SERVICE_NAME',
        path: `discovery.static.${key}`,
        message: 'not a valid service host',
        found: JSON.stringify(key),
        expected: reason,
      });
    }
  }
  if (!parsed.success || problems.length > 0) throw configError(problems);
  const o = parsed.data;
  const namespace = o.namespace ?? DEFAULTS.namespace;
  const staticEndpoints = new Map<string, ResolvedEndpointOptions[]>();
  for (const [host, endpoints] of Object.entries(o.discovery?.static ?? {})) {
    staticEndpoints.set(
      host,
      endpoints.map((e) => {
        const spec = typeof e === 'string' ? { address: e } : e;
        return {
          ...(parseAddress(spec.address) as ParsedAddress),
          labels: { ...spec.labels },
          locality: spec.locality ?? '',
          weight: spec.weight ?? 1,
          health: spec.health ?? 'HEALTHY',
        };
      }),
    );
  }
  const labelsOut: Record<string, string> = { app: o.service, ...o.labels };
  if (o.version !== undefined) labelsOut.version = o.version;
  return {
    service: o.service,
    namespace,
    version: o.version,
    labels: labelsOut,
    staticEndpoints,
    discoveryFile: o.discovery?.file,
    discoveryDns: o.discovery?.dns,
    discoveryEtcd: o.discovery?.etcd,
    etcdPolicy: o.etcdPolicy,
    outboundTrafficPolicy: o.outboundTrafficPolicy ?? DEFAULTS.outboundTrafficPolicy,
    timeoutMs: o.timeoutMs ?? DEFAULTS.timeoutMs,
    maxConnectionsPerEndpoint: o.connectionPool?.maxConnectionsPerEndpoint ?? DEFAULTS.maxConnectionsPerEndpoint,
    idleTimeoutMs: o.connectionPool?.idleTimeoutMs ?? DEFAULTS.idleTimeoutMs,
    connectTimeoutMs: o.connectionPool?.connectTimeoutMs ?? DEFAULTS.connectTimeoutMs,
    drainTimeoutMs: o.drainTimeoutMs ?? DEFAULTS.drainTimeoutMs,
    clusterDomain,
    policy: o.policy as PolicyInput | undefined,
    watchPolicy: o.watchPolicy ?? true,
    inboundDeadlines: o.inboundDeadlines ?? 'mesh',
    retryBudget: o.retryBudget === false ? false : { ...DEFAULTS.retryBudget, ...o.retryBudget },
    security: resolveSecurity(o.service, o.security),
    pathNormalization: (typeof o.security === 'object' ? o.security.pathNormalization : undefined) ?? 'MERGE_SLASHES',
    rootNamespace: (typeof o.security === 'object' ? o.security.rootNamespace : undefined) ?? 'istio-system',
    escapedSlashes: (typeof o.security === 'object' ? o.security.escapedSlashes : undefined) ?? 'KEEP_UNCHANGED',
    logger: o.logger === false ? SILENT : (o.logger ?? defaultLogger()),
    tracing: resolveTracing(o.tracing as boolean | TracingOptions | undefined),
    metrics: o.metrics ?? true,
    requestId: o.requestId ?? true,
    accessLog:
      o.accessLog === undefined || o.accessLog === false
        ? undefined
        : {
            sample: o.accessLog === true ? 1 : (o.accessLog.sample ?? 1),
            logger: (o.accessLog === true ? undefined : o.accessLog.logger) ?? defaultAccessLogger(),
          },
    breaker: {
      everyDestination:
        o.breaker?.everyDestination === true
          ? {}
          : o.breaker?.everyDestination === false
            ? undefined
            : o.breaker?.everyDestination,
      classify: o.breaker?.classify,
    },
  };
}

function resolveSecurity(service: string, option: boolean | SecurityOptions | undefined): ResolvedSecurity | undefined {
  if (option === undefined || option === false) return undefined;
  const o = option === true ? {} : option;
  return {
    trustDomain: o.trustDomain ?? 'cluster.local',
    serviceAccount: o.serviceAccount ?? service,
    identity: o.identity ?? { caDir: defaultCaDir() },
    certificateTtlMs: o.certificateTtlMs ?? 24 * 3_600_000,
    renewAtFraction: o.renewAtFraction ?? 0.5,
  };
}
