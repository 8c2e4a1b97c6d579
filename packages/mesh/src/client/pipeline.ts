// The outbound (client) pipeline, written down once: the first layer sees a call first.
import { type CallContext, compose, type Handler, type Layer } from '@weft/core';
import type { PolicyStore } from '@weft/policy';
import type { ServiceRegistry } from '../discovery/registry.js';
import { byDestinationRule } from '../layers/balance/by-policy.js';
import { balance, roundRobin } from '../layers/balance/index.js';
import type { BreakerLayer } from '../layers/breaker/index.js';
import { deadline } from '../layers/deadline/index.js';
import { fault } from '../layers/fault/index.js';
import { hedge } from '../layers/hedge/index.js';
import { type MirrorSend, mirror } from '../layers/mirror/index.js';
import type { OutlierDetectionLayer } from '../layers/outlier/index.js';
import type { PoolLimitsLayer } from '../layers/pool-limits/index.js';
import { resolve } from '../layers/resolve/index.js';
import { retryBudgets } from '../layers/retry/budgets.js';
import { retry } from '../layers/retry/index.js';
import { route } from '../layers/route/index.js';
import { stats, type TrafficStats } from '../layers/stats/index.js';
import type { Transport } from '../layers/transport/index.js';
import type { ResolvedMeshOptions } from '../options/mesh-options.js';
import { resolveDestination } from '../routing/destination.js';
import { accessLog } from '../telemetry/access-log/index.js';
import { outboundRequestIds } from '../telemetry/request-id/index.js';
import type { Tracing } from '../telemetry/tracing/index.js';
import { ClientCallContext } from './context.js';

export interface ClientPipelineParts {
  options: ResolvedMeshOptions;
  /** Layers with state the mesh reads and closes (breakers, endpoint health, pool counts). */
  breaker: BreakerLayer;
  outlier: OutlierDetectionLayer;
  poolLimits: PoolLimitsLayer;
  registry: ServiceRegistry;
  policy: PolicyStore;
  stats: TrafficStats;
  transport: Transport;
  /** The mesh's tracing layers; `undefined` when tracing is off. */
  tracing?: Tracing | undefined;
}

const PASSTHROUGH = 'passthrough';
const serviceOf = (ctx: CallContext): string => ctx.service ?? PASSTHROUGH;

/**
 * The client stack in three tiers, as linkerd names them:
 * logical (what the call is for) → balancer (which endpoint) → endpoint (one attempt on the wire).
 * Later capabilities go in at the marked places: routing and retries in the logical tier,
 * the breaker and outlier detection in the balancer tier, TLS and the attempt timeout in the endpoint tier.
 */
export function clientLayers(parts: ClientPipelineParts): Layer<ClientCallContext>[] {
  const { options } = parts;
  // One budget per destination, shared by retries and hedges.
  const budgets = retryBudgets(options.retryBudget);
  return [
    // — logical tier —
    // Outermost, so every call is counted and timed, also the ones the mesh refuses below.
    stats<ClientCallContext>(parts.stats, serviceOf),
    // x-request-id (the caller's, the inbound call's, or new): above tracing, which tags the call's
    // span with it, and the access log, which logs it.
    ...(options.requestId ? [outboundRequestIds()] : []),
    // Tracing, the call's span: near the top, so it covers every retry and refusal (NR, REGISTRY_ONLY).
    ...(parts.tracing === undefined ? [] : [parts.tracing.call]),
    // Access log (opt-in): next to stats, so a refused call is logged with its flags.
    ...(options.accessLog === undefined ? [] : [accessLog<ClientCallContext>('source', options.accessLog)]),
    // Host → service and its endpoint snapshot; REGISTRY_ONLY refuses unknown hosts here.
    resolve<ClientCallContext>({ registry: parts.registry, outboundTrafficPolicy: options.outboundTrafficPolicy }),
    // VirtualService match → route, destination and subset; answers direct responses and redirects.
    // Before the deadline, which needs the route's timeout; it does not wait, so it costs the limit nothing.
    route({
      registry: parts.registry,
      policy: parts.policy,
      source: { labels: options.labels, namespace: options.namespace },
      clusterDomain: options.clusterDomain,
    }),
    // The call's limit (call > route > mesh), enforced over everything below: faults, every retry, the body.
    deadline<ClientCallContext>({ defaultTimeoutMs: options.timeoutMs }),
    // Injected delays and aborts (DI, FI): inside the deadline, so a delay counts against the caller's limit.
    fault(),
    // Copies to the route's mirrors, fire and forget, bounded; after fault, so aborted calls are not copied.
    mirror({ send: mirrorSender(parts), clusterDomain: options.clusterDomain }),
    // Retries: below fault and mirror (an injected fault is never retried, a copy is sent once),
    // inside the deadline (every attempt and backoff counts against the call's limit), above
    // balance so a retry can go to another endpoint.
    retry<ClientCallContext>({ budgetFor: budgets }),
    // Hedging (opt-in per route or call): a backup attempt when the first is slow, on the same budget;
    // below retry, so a hedged pair is one attempt to it, and above balance, so each picks its endpoint.
    hedge({ budgetFor: budgets, latency: (service, q) => parts.stats.latencyQuantile(service, q) }),
    // Tracing, a CLIENT span per attempt (what goes on the wire, its headers written here): below
    // retry and hedge, so each attempt gets its own; above the breaker, so a refused attempt shows.
    ...(parts.tracing === undefined ? [] : [parts.tracing.attempt]),
    // — balancer tier —
    // The destination's failure-rate breaker (opt-in): an open one refuses the whole destination
    // (UO) before an endpoint is picked; below retry, so each attempt counts and an open breaker
    // ends the retries; above outlier detection, so it counts what the destination as a whole answers.
    parts.breaker,
    // Outlier detection: ejected endpoints leave the snapshot balance sees; each attempt's outcome counts.
    parts.outlier,
    // connectionPool limits per destination (Envoy's circuit breakers): wait for a connection, or UO.
    parts.poolLimits,
    // The destination's strategy (its DestinationRule's loadBalancer; round robin by default) over
    // its endpoints (the subset's, when the route names one).
    balance<ClientCallContext>(byDestinationRule({ registry: parts.registry, labels: options.labels })),
    // — endpoint tier —
    // (mTLS) then the transport, the terminal handler.
  ];
}

/**
 * How a mirror copy is sent: to its own target (host and subset, not the `-shadow` authority it
 * carries), through the balancer and transport only, bounded by the deadline it is given. With
 * tracing on, the copy carries the primary call's trace as an attempt of its own (a CLIENT span
 * under the call's span, written into the copy's headers), as Envoy gives a shadow request a
 * child span of the request's and its trace headers.
 */
function mirrorSender(parts: ClientPipelineParts): MirrorSend {
  const lower = compose<ClientCallContext>(
    [
      deadline<ClientCallContext>({ defaultTimeoutMs: 0 }),
      ...(parts.tracing === undefined ? [] : [parts.tracing.attempt]),
      balance<ClientCallContext>(roundRobin()),
    ],
    parts.transport.handler as Handler<ClientCallContext>,
  );
  return (request, target, callDeadline, primary) => {
    const ctx = new ClientCallContext(callDeadline);
    ctx.traceSpan = primary.traceSpan;
    ctx.traceParent = primary.traceParent;
    try {
      const snapshot = parts.policy.current();
      const resolved = resolveDestination(parts.registry, snapshot, target.host, target.subset);
      ctx.policy = snapshot;
      ctx.service = resolved.cluster.name;
      ctx.snapshot = resolved.endpoints;
      ctx.subset = target.subset;
    } catch (error) {
      return Promise.reject(error);
    }
    return lower(request, ctx);
  };
}

export function buildClientPipeline(parts: ClientPipelineParts): Handler<ClientCallContext> {
  return compose(clientLayers(parts), parts.transport.handler as Handler<ClientCallContext>);
}
