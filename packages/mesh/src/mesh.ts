// createMesh: one service's mesh — its options checked, its registry filled, its pipelines built, its adapters handed out.

import { hostname } from 'node:os';
import { copyHeaders, type EndpointHealth, WeftError, type WeftRequest, type WeftResponse } from '@weft/core';
import { type PolicyInput, type PolicySnapshot, PolicyText } from '@weft/policy';
import type { Credentials, WorkloadIdentity } from '@weft/security';
import type { AxiosInstance, CreateAxiosDefaults } from 'axios';
import type { FastifyPluginCallback } from 'fastify';
import { type ExpressMiddleware, expressAppWithoutMesh, meshExpress, meshListener } from './adapters/express.js';
import { meshFastify } from './adapters/fastify.js';
import { createMeshFetch, type FetchFunction } from './adapters/fetch.js';
import { type AdminOptions, type AdminServer, startAdmin } from './admin/index.js';
import { OutboundClient } from './client/client.js';
import type { CallOverrides } from './client/context.js';
import { buildClientPipeline } from './client/pipeline.js';
import { dnsDiscovery } from './discovery/dns.js';
import {
  type EtcdPolicyWatch,
  etcdDiscovery,
  type Registration,
  registerInEtcd,
  watchEtcdPolicy,
} from './discovery/etcd.js';
import { fileDiscovery } from './discovery/file.js';
import { ServiceRegistry } from './discovery/registry.js';
import { serviceEntryDiscovery } from './discovery/service-entry.js';
import type { DiscoverySource } from './discovery/source.js';
import { loadStatic, SOURCE_PRECEDENCE } from './discovery/static.js';
import { caseSensitivePathRules } from './layers/authz/index.js';
import {
  type BreakerStateChange,
  type BreakerView,
  breakerPolicyResolver,
  breakers,
  compileBreakerPolicy,
} from './layers/breaker/index.js';
import {
  type OutlierEndpointState,
  outlierDetection,
  outlierPolicyFromDestinationRule,
} from './layers/outlier/index.js';
import { poolLimitsFromDestinationRule } from './layers/pool-limits/from-policy.js';
import { type PoolLimitsState, poolLimits } from './layers/pool-limits/index.js';
import { type ServiceStatsView, TrafficStats } from './layers/stats/index.js';
import { Transport } from './layers/transport/index.js';
import { MeshPolicy } from './mesh-policy.js';
import { DEFAULTS, type MeshOptions, type ResolvedMeshOptions, resolveMeshOptions } from './options/mesh-options.js';
import { hostsRoutedTo } from './routing/hosts.js';
import { startSecurity } from './security/serving.js';
import { SecurityStats, type SecurityStatsView } from './security/stats.js';
import type { FrontPolicy } from './server/front.js';
import { Inbound } from './server/inbound.js';
import { type ListenOptions, listen, type MeshServer } from './server/listen.js';
import {
  DestinationReporter,
  METRICS_CONTENT_TYPE,
  MeshMetrics,
  SourceReporter,
  type WorkloadInfo,
} from './telemetry/metrics/index.js';
import { tracing as buildTracing } from './telemetry/tracing/index.js';
import { REQUEST_ID_HEADER, TRACE_HEADER_NAMES } from './telemetry/tracing/propagation.js';

type AxiosModule = typeof import('./adapters/axios.js');

export interface MeshStats {
  /** Calls this workload made, by destination service and endpoint. */
  outbound: ServiceStatsView[];
  /** Calls this workload received. */
  inbound: ServiceStatsView[];
  /** What security refused: TLS connections by reason, calls denied by policy, audited calls. */
  security: SecurityStatsView;
}

export interface DestinationState {
  service: string;
  /** connectionPool counts, once a call to the destination was limited. */
  pool: PoolLimitsState | undefined;
  endpoints: {
    address: string;
    labels: Readonly<Record<string, string>>;
    locality: string;
    weight: number;
    /** As discovery reports it; only `HEALTHY` endpoints are picked. */
    health: EndpointHealth;
    ejected: boolean;
    outlier: OutlierEndpointState | undefined;
  }[];
}

export interface Mesh {
  /** The options as checked, with defaults filled in. */
  readonly options: ResolvedMeshOptions;
  /** The registry of services and their endpoints. */
  readonly registry: ServiceRegistry;
  /** The policy: `current()` snapshot, `update(input)`, `explain(request)`, `lastError`, `onChange`/`onError` events. */
  readonly policy: MeshPolicy;
  /**
   * An axios instance on the mesh. `mesh.axios('reviews')`: relative URLs go to the logical
   * service. `mesh.axios()`: full URLs; mesh hosts through the mesh. `mesh.axios(instance)`:
   * an existing instance, changed in place to send mesh hosts through the mesh.
   */
  axios(service?: string | AxiosInstance, defaults?: CreateAxiosDefaults): AxiosInstance;
  /** WHATWG fetch: `mesh.fetch('http://reviews/reviews/0')`; other hosts go to the platform fetch. */
  readonly fetch: FetchFunction;
  /** Express 5 middleware: `app.use(mesh.express())`. */
  express(): ExpressMiddleware;
  /** Fastify 5 plugin: `await fastify.register(mesh.fastify())`. */
  fastify(): FastifyPluginCallback;
  /** Starts an HTTP server for an Express app, a request listener or a Fastify instance; closed by `mesh.close()`. */
  listen(app: unknown, options?: ListenOptions): Promise<MeshServer>;
  /** Sends a request in weft's own model down the client pipeline. */
  request(
    request: WeftRequest,
    options?: { timeoutMs?: number; signal?: AbortSignal; weft?: CallOverrides },
  ): Promise<WeftResponse>;
  /** Counters of calls in and out, for a summary. */
  stats(): MeshStats;
  /** This workload's current credentials (SPIFFE ID, certificate chain, expiry) when mTLS is on. */
  identity(): Credentials | undefined;
  /** This mesh's metrics in Prometheus's text format (`METRICS_CONTENT_TYPE`): Istio's standard metrics and weft's own. */
  metrics(): Promise<string>;
  /**
   * Starts this mesh's admin endpoint (`/config_dump`, `/clusters`, `/stats`, `/stats/prometheus`,
   * `/certs`, `/ready`, `/healthz`) on loopback, or returns the one already started; closed by `close()`.
   */
  admin(options?: AdminOptions): Promise<AdminServer>;
  /**
   * Every known destination's endpoints with their outlier-detection state (ejected, until when,
   * ejections, consecutive failures) and the destination's connectionPool counts (active, waiting).
   */
  endpoints(): DestinationState[];
  /** Every destination breaker made so far: destination, state (closed, open, half-open), its window and counters. */
  breakers(): BreakerView[];
  /** Calls `listener` whenever a breaker opens, half-opens or closes; returns a function that stops it. */
  onBreakerStateChange(listener: (change: BreakerStateChange) => void): () => void;
  /** Stops new calls (WEFT_ERR_CLOSED), drains the servers, lets calls in flight finish, closes every connection. */
  close(): Promise<void>;
}

async function loadAxiosAdapter(): Promise<AxiosModule | undefined> {
  try {
    return await import('./adapters/axios.js');
  } catch (error) {
    if ((error as { code?: string }).code === 'ERR_MODULE_NOT_FOUND') return undefined;
    throw error;
  }
}

/** Starts the file and DNS sources the options name, each at its precedence; closes those started if one fails. */
async function startSources(registry: ServiceRegistry, resolved: ResolvedMeshOptions): Promise<DiscoverySource[]> {
  const wanted: { source: DiscoverySource; precedence: number }[] = [];
  if (resolved.discoveryFile !== undefined) {
    const onError = (error: Error) =>
      resolved.logger.warn(
        { event: 'discovery.stale', source: 'file' },
        `endpoints file not applied: ${error.message}`,
      );
    wanted.push({ source: fileDiscovery(resolved.discoveryFile, { onError }), precedence: SOURCE_PRECEDENCE.file });
  }
  const dns = resolved.discoveryDns;
  if (dns !== undefined) {
    const { services, ...dnsOptions } = dns;
    const onError = (service: string, error: Error) =>
      resolved.logger.warn(
        { event: 'discovery.stale', source: 'dns', service },
        `DNS for ${service} failed; its last endpoints stay: ${(error as NodeJS.ErrnoException).code ?? error.message}`,
      );
    wanted.push({ source: dnsDiscovery(services, { ...dnsOptions, onError }), precedence: SOURCE_PRECEDENCE.dns });
  }
  const etcd = resolved.discoveryEtcd;
  if (etcd !== undefined && etcd.watch !== false) {
    const onError = (error: Error) =>
      resolved.logger.warn(
        { event: 'discovery.stale', source: 'etcd' },
        `etcd: ${error.message}; the last endpoints stay`,
      );
    const services = Array.isArray(etcd.services) ? etcd.services.map((h) => registry.qualify(h)) : etcd.services;
    wanted.push({
      source: etcdDiscovery({ ...etcd, ...(services === undefined ? {} : { services }), onError }),
      precedence: SOURCE_PRECEDENCE.etcd,
    });
  }
  const started: DiscoverySource[] = [];
  try {
    for (const { source, precedence } of wanted) {
      await source.start(registry.attach(source.name, precedence));
      started.push(source);
    }
  } catch (error) {
    await Promise.all(wanted.map((w) => w.source.close()));
    throw error;
  }
  return started;
}

export async function createMesh(options: MeshOptions): Promise<Mesh> {
  const resolved = resolveMeshOptions(options);
  const registry = new ServiceRegistry({ namespace: resolved.namespace, clusterDomain: resolved.clusterDomain });
  loadStatic(registry, resolved.staticEndpoints);
  // The other sources: their first read must succeed, as the policy's must; later failures keep the last endpoints.
  const sources = await startSources(registry, resolved);
  /** Whether a source finds services on demand (etcd with `services: 'called'`). */
  const onDemand = resolved.discoveryEtcd?.services === 'called' && resolved.discoveryEtcd.watch !== false;

  const policy = new MeshPolicy(
    {
      namespace: resolved.namespace,
      clusterDomain: resolved.clusterDomain,
      watch: resolved.watchPolicy,
      // Selectors are not checked here: a shared policy directory names other workloads too.
      // With services found on demand, a host the policy names may well exist before it is called: not checked.
      analysisContext: () => (onDemand ? {} : { knownHosts: registry.snapshots().map((s) => s.service) }),
    },
    {
      registry,
      source: { labels: resolved.labels, namespace: resolved.namespace },
      timeoutMs: resolved.timeoutMs,
      registryOnly: resolved.outboundTrafficPolicy === 'REGISTRY_ONLY',
    },
  );
  // Fleet-wide policy from etcd, after the mesh's own sources (a later source wins by resource).
  let etcdPolicy: EtcdPolicyWatch | undefined;
  const withEtcd = (texts: { origin: string; text: string }[]): PolicyInput => [
    ...(resolved.policy === undefined ? [] : Array.isArray(resolved.policy) ? resolved.policy : [resolved.policy]),
    ...texts.map((t) => new PolicyText(t.origin, t.text)),
  ];
  let firstPolicy: PolicyInput | undefined = resolved.policy;
  if (resolved.etcdPolicy !== undefined) {
    const watched = await watchEtcdPolicy({
      ...resolved.etcdPolicy,
      // A bad document is rejected whole and the last good policy keeps serving (policy.lastError says why).
      onChange: (texts) =>
        void policy
          .update(withEtcd(texts))
          .catch((error: unknown) =>
            resolved.logger.warn({ event: 'policy.rejected', source: 'etcd' }, (error as Error).message),
          ),
      onError: (error) =>
        resolved.logger.warn({ event: 'policy.stale', source: 'etcd' }, `etcd policy watch: ${error.message}`),
    }).catch((error: unknown) => {
      policy.close();
      throw error;
    });
    etcdPolicy = watched.watch;
    firstPolicy = withEtcd(watched.first);
  }
  // The first load must succeed: a mesh never starts on policy it could not read.
  try {
    await policy.update(firstPolicy);
  } catch (error) {
    policy.close();
    await etcdPolicy?.close();
    throw error;
  }
  // STATIC ServiceEntries of the policy feed the registry too, following each new snapshot.
  const serviceEntries = serviceEntryDiscovery(policy);
  await serviceEntries.start(registry.attach(serviceEntries.name, SOURCE_PRECEDENCE.serviceEntry));
  sources.push(serviceEntries);
  // Services found on demand: the hosts the policy routes to are followed before a call needs them
  // (a route's destination is not a call's authority, so no call would ask for it).
  if (onDemand) {
    const followNamed = (snapshot: PolicySnapshot) =>
      Promise.all(hostsRoutedTo(snapshot, resolved.clusterDomain).map((host) => registry.lookupOnDemand(host)));
    await followNamed(policy.current());
    policy.onChange((snapshot) => void followNamed(snapshot));
  }

  const logger = resolved.logger;
  const securityStats = new SecurityStats();
  const workload = { namespace: resolved.namespace, labels: resolved.labels, rootNamespace: resolved.rootNamespace };
  /** AuthorizationPolicies already warned about for an Express app that routes case-insensitively. */
  const warnedCaseRules = new Set<string>();
  let identity: WorkloadIdentity | undefined;
  let front: FrontPolicy | undefined;
  if (resolved.security !== undefined) {
    try {
      ({ identity, front } = await startSecurity(resolved.security, resolved, policy, workload, logger, securityStats));
    } catch (error) {
      policy.close();
      throw error;
    }
  }
  // Istio's standard metrics, fed by the stats layers: reporter="source" outbound, "destination" inbound.
  const self: WorkloadInfo = {
    name: resolved.service,
    namespace: resolved.namespace,
    labels: resolved.labels,
    trustDomain: resolved.security?.trustDomain,
    principal: () => identity?.current.spiffeId,
  };
  const sourceReporter = new SourceReporter(self);
  const destinationReporter = new DestinationReporter(self, registry.qualify(resolved.service));
  const outboundStats = new TrafficStats(resolved.metrics ? sourceReporter : undefined);
  const breaker = breakers({
    policyFor: breakerPolicyResolver(
      resolved.breaker.everyDestination === undefined
        ? undefined
        : compileBreakerPolicy(resolved.breaker.everyDestination),
    ),
    ...(resolved.breaker.classify === undefined ? {} : { classify: resolved.breaker.classify }),
  });
  const outlier = outlierDetection({ policyFor: outlierPolicyFromDestinationRule });
  const limits = poolLimits({ policyFor: poolLimitsFromDestinationRule });
  const inboundStats = new TrafficStats(resolved.metrics ? destinationReporter : undefined);
  const transport = new Transport({
    maxConnectionsPerEndpoint: resolved.maxConnectionsPerEndpoint,
    idleTimeoutMs: resolved.idleTimeoutMs,
    connectTimeoutMs: resolved.connectTimeoutMs,
    noDeadlineHeadersTimeoutMs: DEFAULTS.noDeadlineHeadersTimeoutMs,
    peer: `${resolved.service}.${resolved.namespace}`,
    headerNames: [REQUEST_ID_HEADER, ...TRACE_HEADER_NAMES],
    // The same certificate serves both ends: a client presents it, a server answers with it.
    ...(front === undefined || resolved.security === undefined
      ? {}
      : {
          tls: {
            context: front.context,
            trustDomain: resolved.security.trustDomain,
            refused: (endpoint: string, reason: string) => {
              securityStats.peerIdentityRefused();
              logger.warn({ event: 'tls.peer_identity_refused', endpoint, reason }, `call not sent: ${reason}`);
            },
          },
        }),
  });
  // Tracing's layers, built once and shared by both pipelines (one tracer, one set of propagators).
  // A workload with no service to call (a leaf) runs its inbound calls outside AsyncLocalStorage:
  // it has no calls to carry their trace and x-request-id to.
  let callsOut = registry.snapshots().length > 0;
  if (!callsOut) {
    const stop = registry.onChange(() => {
      callsOut = true;
      stop();
    });
  }
  const tracing = resolved.tracing === undefined ? undefined : buildTracing(resolved.tracing);
  const client = new OutboundClient(
    buildClientPipeline({
      tracing,
      options: resolved,
      registry,
      policy,
      stats: outboundStats,
      transport,
      breaker,
      outlier,
      poolLimits: limits,
    }),
    registry,
    resolved.outboundTrafficPolicy,
  );
  const inbound = new Inbound({
    stats: inboundStats,
    localService: registry.qualify(resolved.service),
    inboundDeadlines: resolved.inboundDeadlines,
    tracing,
    requestId: resolved.requestId,
    mayCallOut: () => callsOut,
    pathNormalization: resolved.pathNormalization,
    escapedSlashes: resolved.escapedSlashes,
    accessLog: resolved.accessLog,
    requestAuthentication: {
      current: () => policy.current(),
      workload,
      onRefused: (reason, issuer) => {
        securityStats.unauthenticated();
        logger.info({ event: 'authn.refused', reason, issuer }, `token refused: ${reason}`);
      },
    },
    authorization: {
      current: () => policy.current(),
      workload,
      onDecision: (decision, a) => {
        if (!decision.allowed) securityStats.denied(decision.policy);
        if (decision.audited.length > 0) securityStats.audited();
        logger.info(
          {
            event: decision.allowed ? 'authz.audit' : 'authz.denied',
            reason: decision.reason,
            policy: decision.policy,
            audited: decision.audited.length > 0 ? decision.audited : undefined,
            principal: a.principal,
            requestPrincipal: a.requestPrincipal,
            sourceIp: a.sourceIp,
            method: a.method,
            path: a.path,
          },
          decision.allowed ? 'audited call' : `call denied: ${decision.reason}`,
        );
      },
    },
  });
  const metrics = new MeshMetrics({
    source: sourceReporter,
    destination: destinationReporter,
    breakers: () => breaker.breakers(),
    endpoints: () => mesh.endpoints(),
    pools: () => transport.pools(),
    certificateNotAfter: () => identity?.current.notAfter,
    policy: () => ({ version: policy.current().version, rejections: policy.counters.rejections }),
    discovery: () => registry.sources(),
  });
  const axiosModule = await loadAxiosAdapter();
  let adminServer: Promise<AdminServer> | undefined;
  const registrations: Registration[] = [];
  const servers = new Set<MeshServer>();
  const fetch = createMeshFetch(client);
  let closing: Promise<void> | undefined;

  const mesh: Mesh = {
    options: resolved,
    registry,
    policy,
    axios(service, defaults) {
      if (axiosModule === undefined) {
        throw new WeftError(
          'WEFT_ERR_INTEGRATION_MISSING',
          'mesh.axios() needs axios: install it with "pnpm add axios"',
        );
      }
      if (typeof service === 'function' || (typeof service === 'object' && service !== null)) {
        return axiosModule.withMesh(service, client);
      }
      return axiosModule.createMeshAxios(client, service, defaults);
    },
    fetch,
    express: () =>
      meshExpress(inbound, {
        version: () => policy.current(),
        check(caseSensitive) {
          if (caseSensitive) return;
          const rules = caseSensitivePathRules(policy.current(), workload).filter((r) => !warnedCaseRules.has(r));
          if (rules.length === 0) return;
          for (const r of rules) warnedCaseRules.add(r);
          logger.warn(
            { event: 'authz.case_insensitive_routes', policies: rules },
            `Express routes paths case-insensitively, but AuthorizationPolicy ${rules.join(', ')} matches paths case-sensitively, as Istio does: /ADMIN would reach the route of /admin without matching the rule. Call app.set('case sensitive routing', true), or write the rule for every spelling`,
          );
        },
      }),
    fastify: () => meshFastify(inbound),
    async listen(app, listenOptions = {}) {
      // A plain request listener gets the server pipeline here; an Express app or a Fastify
      // instance brings its own (mesh.express(), mesh.fastify()), and an Express app without it is told of.
      const plain = typeof app === 'function' && typeof (app as { use?: unknown }).use !== 'function';
      if (!plain && expressAppWithoutMesh(app)) {
        logger.warn(
          { event: 'listen.no_mesh_middleware' },
          'mesh.listen: this Express app does not mount mesh.express(), so its calls bypass AuthorizationPolicy, RequestAuthentication, inbound metrics and tracing; add app.use(mesh.express()) before its routes',
        );
      }
      const served = plain ? meshListener(inbound, app as Parameters<typeof meshListener>[1]) : app;
      const server = await listen(served, listenOptions, resolved.drainTimeoutMs, front);
      servers.add(server);
      const etcd = resolved.discoveryEtcd;
      if (etcd?.register === true) {
        try {
          registrations.push(
            await registerInEtcd({
              ...etcd,
              service: registry.qualify(resolved.service),
              instance: `${hostname()}-${process.pid}-${server.port}`,
              endpoint: { address: server.address, labels: resolved.labels },
              ttlSeconds: etcd.leaseTtlSeconds ?? 10,
              onError: (error) =>
                logger.warn(
                  { event: 'discovery.lease_lost', source: 'etcd' },
                  `etcd lease lost, registering again: ${error.message}`,
                ),
            }),
          );
        } catch (error) {
          await server.close();
          servers.delete(server);
          throw error;
        }
      }
      return server;
    },
    request(request, requestOptions = {}) {
      // The pipeline writes into its request's headers (x-request-id, the trace headers, a rewrite's Host):
      // into a copy, so a caller's headers object sent twice does not carry the first call's ids.
      const own = { ...request, headers: copyHeaders(request.headers) };
      return client.send(own, requestOptions.timeoutMs ?? 0, requestOptions.signal, requestOptions.weft);
    },
    stats: () => ({ outbound: outboundStats.view(), inbound: inboundStats.view(), security: securityStats.view() }),
    identity: () => identity?.current,
    metrics: () => metrics.text(),
    admin(adminOptions) {
      adminServer ??= startAdmin(
        {
          service: resolved.service,
          namespace: resolved.namespace,
          policy: () => policy.current(),
          clusters: () => ({
            destinations: mesh.endpoints(),
            breakers: breaker.breakers(),
            connectionPools: transport.pools(),
            sources: registry.sources(),
          }),
          stats: () => mesh.stats(),
          identity: () => identity?.current,
          metrics: async () => ({ contentType: METRICS_CONTENT_TYPE, text: await metrics.text() }),
          ready: () => closing === undefined,
        },
        adminOptions,
      );
      return adminServer;
    },
    breakers: () => breaker.breakers(),
    onBreakerStateChange: (listener) => breaker.onStateChange(listener),
    endpoints: () =>
      registry.snapshots().map((snapshot) => {
        const detectors = [...outlier.detectors()].filter(
          ([key]) => key === snapshot.service || key.startsWith(`${snapshot.service}|`),
        );
        const health = new Map(detectors.flatMap(([, d]) => d.state().map((e) => [e.address, e] as const)));
        return {
          service: snapshot.service,
          pool: limits.state(snapshot.service),
          endpoints: [...snapshot.endpoints, ...(snapshot.unavailable ?? [])].map((e) => ({
            address: e.address,
            labels: e.labels,
            locality: e.locality,
            weight: e.weight,
            health: e.health ?? 'HEALTHY',
            ejected: health.get(e.address)?.ejected ?? false,
            outlier: health.get(e.address),
          })),
        };
      }),
    close() {
      closing ??= (async () => {
        client.close();
        policy.close();
        void outlier.close();
        void breaker.close();
        // Deregistered first, then a grace period for callers watching etcd to see it (a preStop
        // sleep, in Kubernetes terms), so they stop choosing this workload before it drains.
        if (registrations.length > 0) {
          await Promise.all(registrations.map((r) => r.close()));
          await new Promise((resolve) => setTimeout(resolve, resolved.discoveryEtcd?.deregisterGraceMs ?? 1_000));
        }
        await Promise.all([...servers].map((s) => s.close()));
        await transport.close();
        identity?.close();
        await Promise.all(sources.map((s) => s.close()));
        await etcdPolicy?.close();
        if (adminServer !== undefined) await (await adminServer).close();
      })();
      return closing;
    },
  };
  return mesh;
}
