// The outbound (client) pipeline, written down once: the first layer sees a call first.
import { type CallContext, compose, type Handler, type Layer } from '@weft/core';
import type { ServiceRegistry } from '../discovery/registry.js';
import { balance, roundRobin } from '../layers/balance/index.js';
import { deadline } from '../layers/deadline/index.js';
import { resolve } from '../layers/resolve/index.js';
import { stats, type TrafficStats } from '../layers/stats/index.js';
import type { Transport } from '../layers/transport/index.js';
import type { ResolvedMeshOptions } from '../options/mesh-options.js';

export interface ClientPipelineParts {
  options: ResolvedMeshOptions;
  registry: ServiceRegistry;
  stats: TrafficStats;
  transport: Transport;
}

const PASSTHROUGH = 'passthrough';
const serviceOf = (ctx: CallContext): string => ctx.service ?? PASSTHROUGH;

/**
 * The client stack in three tiers, as linkerd names them:
 * logical (what the call is for) → balancer (which endpoint) → endpoint (one attempt on the wire).
 * Later capabilities go in at the marked places: routing and retries in the logical tier,
 * outlier detection in the balancer tier, the breaker, TLS and the attempt timeout in the endpoint tier.
 */
export function clientLayers(parts: ClientPipelineParts): Layer[] {
  return [
    // — logical tier —
    // Outermost, so every call is counted and timed, also the ones the mesh refuses below.
    stats(parts.stats, serviceOf),
    // Before anything that can wait, so the limit covers queueing, every attempt and the body.
    deadline({ defaultTimeoutMs: parts.options.timeoutMs }),
    // Host → service and its endpoint snapshot; REGISTRY_ONLY refuses unknown hosts here.
    resolve({ registry: parts.registry, outboundTrafficPolicy: parts.options.outboundTrafficPolicy }),
    // (routing: VirtualService match → subset; retries: above balance so a retry can pick another endpoint)
    // — balancer tier —
    balance(roundRobin()),
    // — endpoint tier —
    // (circuit breaker, mTLS) then the transport, the terminal handler.
  ];
}

export function buildClientPipeline(parts: ClientPipelineParts): Handler {
  return compose(clientLayers(parts), parts.transport.handler);
}
