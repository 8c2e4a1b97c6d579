// The mirror layer's slice of policy: a route's Istio `mirror`/`mirrors` compiled once into targets with their odds.
import { type HTTPRoute, qualifyHost } from '@weft/policy';
import type { CompiledRoute } from '../../routing/model.js';

/** One place a copy of a route's requests goes. */
export interface MirrorTarget {
  /** Fully qualified host, e.g. `reviews.prod.svc.cluster.local`. */
  readonly host: string;
  /** Subset of the host (`v2`), if the policy names one. */
  readonly subset: string | undefined;
  /** `destination.port.number`, if the policy names one. */
  readonly port: number | undefined;
  /** Share of the route's requests copied there, in (0, 1]. */
  readonly fraction: number;
}

/** The targets of a route that mirrors nothing; compare by identity. */
export const NO_MIRRORS: readonly MirrorTarget[] = Object.freeze([]);

type Destination = NonNullable<HTTPRoute['mirror']>;

/** Istio's `Percent` `{ value }` as a fraction; `{}` is protobuf's 0. */
const fraction = (percent: number): number => Math.min(Math.max(percent, 0), 100) / 100;

/**
 * Compiles the mirroring of one `http[]` route as Istio's MirrorPercent and MirrorPercentByPolicy do:
 * - `mirror` is copied `mirrorPercentage.value` % of the time; without it, the deprecated
 *   integer `mirrorPercent` (also spelled `mirror_percent`); without either, 100 %;
 * - each `mirrors[]` entry is copied `percentage.value` % of the time, 100 % without one;
 * - an explicit 0 (or an empty `{}`) mirrors nothing, and is left out.
 * Short hosts are read in the VirtualService's namespace, as Istio reads every host of a resource.
 */
export function compileMirrors(http: HTTPRoute, namespace: string, clusterDomain: string): readonly MirrorTarget[] {
  const targets: MirrorTarget[] = [];
  const add = (destination: Destination, percent: number): void => {
    if (percent <= 0) return;
    targets.push(
      Object.freeze({
        host: qualifyHost(destination.host, namespace, clusterDomain),
        subset: destination.subset,
        port: destination.port?.number,
        fraction: fraction(percent),
      }),
    );
  };
  if (http.mirror !== undefined) {
    const legacy = http.mirrorPercent ?? http.mirror_percent;
    const percent =
      http.mirrorPercentage !== undefined ? (http.mirrorPercentage.value ?? 0) : legacy !== undefined ? legacy : 100;
    add(http.mirror, percent);
  }
  for (const policy of http.mirrors ?? []) {
    add(policy.destination, policy.percentage === undefined ? 100 : (policy.percentage.value ?? 0));
  }
  return targets.length === 0 ? NO_MIRRORS : Object.freeze(targets);
}

/** The namespace of a CompiledRoute's `namespace/name`; `default` if it names none. */
function namespaceOf(virtualService: string): string {
  const slash = virtualService.indexOf('/');
  return slash > 0 ? virtualService.slice(0, slash) : 'default';
}

/**
 * A lookup of routes' mirror targets for one cluster domain, compiling each route on first use
 * and keeping the result for as long as the route lives (a new policy snapshot makes new routes).
 */
export function mirrorTargets(clusterDomain = 'cluster.local'): (route: CompiledRoute) => readonly MirrorTarget[] {
  const cache = new WeakMap<CompiledRoute, readonly MirrorTarget[]>();
  return (route) => {
    let targets = cache.get(route);
    if (targets === undefined) {
      targets = compileMirrors(route.http, namespaceOf(route.virtualService), clusterDomain);
      cache.set(route, targets);
    }
    return targets;
  };
}
