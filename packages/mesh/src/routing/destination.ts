// A route's destination made concrete: the service's cluster and, for a subset, only the endpoints its labels select.
import { type EndpointSnapshot, WeftError } from '@weft/core';
import type { DestinationRuleSpec, PolicySnapshot } from '@weft/policy';
import type { Cluster, ServiceRegistry } from '../discovery/registry.js';

export interface ResolvedDestination {
  readonly cluster: Cluster;
  /** The cluster's endpoints, narrowed to the subset when there is one. */
  readonly endpoints: EndpointSnapshot;
}

/** Subset views of endpoint snapshots, keyed by the subset's labels object (new policy, new objects). */
const subsetViews = new WeakMap<EndpointSnapshot, WeakMap<object, EndpointSnapshot>>();

function subsetLabels(policy: PolicySnapshot, host: string, subset: string): Record<string, string> | undefined {
  for (const rule of policy.forHost(host)?.destinationRules ?? []) {
    const found = (rule.spec as DestinationRuleSpec).subsets?.find((s) => s.name === subset);
    if (found !== undefined) return found.labels ?? {};
  }
  return undefined;
}

function view(endpoints: EndpointSnapshot, subset: string, labels: Record<string, string>): EndpointSnapshot {
  let views = subsetViews.get(endpoints);
  if (views === undefined) {
    views = new WeakMap();
    subsetViews.set(endpoints, views);
  }
  let v = views.get(labels);
  if (v === undefined) {
    const wanted = Object.entries(labels);
    v = Object.freeze({
      // Balancers keep per-service state by this name: one per subset.
      service: `${endpoints.service}|${subset}`,
      endpoints: Object.freeze(endpoints.endpoints.filter((e) => wanted.every(([k, val]) => e.labels[k] === val))),
      version: endpoints.version,
    });
    views.set(labels, v);
  }
  return v;
}

/** The cluster and endpoints for `host` and `subset`; WEFT_ERR_UNKNOWN_DESTINATION (NC) when either is unknown. */
export function resolveDestination(
  registry: ServiceRegistry,
  policy: PolicySnapshot,
  host: string,
  subset: string | undefined,
): ResolvedDestination {
  const cluster = registry.lookup(host);
  if (cluster === undefined) {
    throw new WeftError('WEFT_ERR_UNKNOWN_DESTINATION', `the route sends to ${host}, which no discovery source knows`, {
      service: host,
    });
  }
  if (subset === undefined) return { cluster, endpoints: cluster.snapshot };
  const labels = subsetLabels(policy, cluster.name, subset);
  if (labels === undefined) {
    throw new WeftError(
      'WEFT_ERR_UNKNOWN_DESTINATION',
      `the route sends to subset "${subset}" of ${cluster.name}, which no DestinationRule for that host defines`,
      { service: cluster.name },
    );
  }
  return { cluster, endpoints: view(cluster.snapshot, subset, labels) };
}

/**
 * One part of the traffic policy that applies to a call's destination, as Istio merges it: the
 * subset's own `trafficPolicy.<field>` if the route chose a subset that sets it, else the
 * DestinationRule's; `undefined` when neither does (or the call has no service or policy).
 */
export function destinationTrafficPolicy<K extends keyof NonNullable<DestinationRuleSpec['trafficPolicy']>>(
  ctx: { service: string | undefined; subset: string | undefined; policy: PolicySnapshot | undefined },
  field: K,
): NonNullable<DestinationRuleSpec['trafficPolicy']>[K] | undefined {
  if (ctx.service === undefined || ctx.policy === undefined) return undefined;
  const rule = ctx.policy.forHost(ctx.service)?.destinationRules[0]?.spec as DestinationRuleSpec | undefined;
  if (rule === undefined) return undefined;
  const subset = ctx.subset === undefined ? undefined : rule.subsets?.find((s) => s.name === ctx.subset);
  return subset?.trafficPolicy?.[field] ?? rule.trafficPolicy?.[field];
}
