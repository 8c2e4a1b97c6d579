// Route tables: a policy snapshot's VirtualServices compiled per destination host, once, on first use.
import type { HTTPRoute, PolicyResource, PolicySnapshot, VirtualServiceSpec } from '@weft/policy';
import { qualifyHost } from '@weft/policy';
import { compileMatch } from './match.js';
import type { CompiledRoute, WeightedDestination } from './model.js';

/** The routes of one host, in order: those of its VirtualServices, one after another in source order. */
export interface RouteTable {
  readonly host: string;
  readonly routes: readonly CompiledRoute[];
  /** The VirtualServices the routes came from. */
  readonly virtualServices: readonly PolicyResource[];
}

function compileRoute(vs: PolicyResource, http: HTTPRoute, index: number, clusterDomain: string): CompiledRoute {
  const destinations: WeightedDestination[] = (http.route ?? []).map((d) => ({
    host: qualifyHost(d.destination.host, vs.namespace, clusterDomain),
    subset: d.destination.subset,
    port: d.destination.port?.number,
    // A single destination takes all traffic whatever its weight, as in Istio.
    weight: (http.route?.length ?? 0) === 1 ? 1 : (d.weight ?? 0),
  }));
  return Object.freeze({
    virtualService: `${vs.namespace}/${vs.name}`,
    index,
    name: http.name,
    origin: vs.locate(['spec', 'http', index]),
    http,
    matches: (http.match ?? []).map(compileMatch),
    destinations,
    totalWeight: destinations.reduce((sum, d) => sum + d.weight, 0),
  });
}

const tables = new WeakMap<PolicySnapshot, Map<string, RouteTable | null>>();

/** The route table of a fully qualified host in a snapshot, or `undefined` when no VirtualService routes it. */
export function routeTable(snapshot: PolicySnapshot, host: string, clusterDomain: string): RouteTable | undefined {
  let byHost = tables.get(snapshot);
  if (byHost === undefined) {
    byHost = new Map();
    tables.set(snapshot, byHost);
  }
  const cached = byHost.get(host);
  if (cached !== undefined) return cached ?? undefined;
  const policy = snapshot.forHost(host);
  const virtualServices = policy?.virtualServices ?? [];
  let table: RouteTable | null = null;
  if (virtualServices.length > 0) {
    const routes: CompiledRoute[] = [];
    for (const vs of virtualServices) {
      const spec = vs.spec as VirtualServiceSpec;
      (spec.http ?? []).forEach((http, i) => {
        routes.push(compileRoute(vs, http, i, clusterDomain));
      });
    }
    table = Object.freeze({ host, routes, virtualServices });
  }
  byHost.set(host, table);
  return table ?? undefined;
}

/** A destination of a route, drawn by weight. */
export function pickDestination(route: CompiledRoute, random: () => number): WeightedDestination | undefined {
  const ds = route.destinations;
  if (ds.length <= 1) return ds[0];
  let r = random() * route.totalWeight;
  for (let i = 0; i < ds.length; i++) {
    const d = ds[i] as WeightedDestination;
    if (r < d.weight) return d;
    r -= d.weight;
  }
  return ds[ds.length - 1];
}
