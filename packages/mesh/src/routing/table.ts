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
  /** For large tables, an index of the routes a path can match; `undefined`: try every route in order. */
  readonly index: RouteIndex | undefined;
}

/** Tables this large get an index; below it a scan is as fast. */
const INDEX_FROM_ROUTES = 32;

interface TrieNode {
  readonly next: Map<number, TrieNode>;
  /** Positions of the routes one of whose uri gates ends here. */
  readonly routes: number[];
}

/**
 * The routes a path can match, in order, without trying every route: routes with uri gates
 * (exact or prefix strings every one of their matches requires) sit in a trie of those strings,
 * so a path walks it once; routes without gates are candidates for every path. Hand-written:
 * a route's first-match order and Istio's match semantics leave no library router that fits.
 */
export class RouteIndex {
  readonly #root: TrieNode = { next: new Map(), routes: [] };
  readonly #ungated: number[] = [];

  constructor(routes: readonly CompiledRoute[]) {
    routes.forEach((route, position) => {
      const gates = route.uriGates;
      if (gates === undefined) {
        this.#ungated.push(position);
        return;
      }
      for (const gate of new Set(gates)) {
        let node = this.#root;
        for (let i = 0; i < gate.length; i++) {
          const c = gate.charCodeAt(i);
          let child = node.next.get(c);
          if (child === undefined) {
            child = { next: new Map(), routes: [] };
            node.next.set(c, child);
          }
          node = child;
        }
        node.routes.push(position);
      }
    });
  }

  /** Positions of the routes `path` can match, ascending. */
  candidates(path: string): number[] {
    const gated: number[] = [];
    let node: TrieNode | undefined = this.#root;
    for (let i = 0; node !== undefined; i++) {
      for (const r of node.routes) gated.push(r);
      if (i >= path.length) break;
      node = node.next.get(path.charCodeAt(i));
    }
    if (gated.length === 0) return this.#ungated;
    gated.sort((a, b) => a - b);
    if (this.#ungated.length === 0) return gated;
    const out: number[] = [];
    let a = 0;
    let b = 0;
    const u = this.#ungated;
    while (a < gated.length || b < u.length) {
      if (b >= u.length || (a < gated.length && (gated[a] as number) < (u[b] as number)))
        out.push(gated[a++] as number);
      else out.push(u[b++] as number);
    }
    return out;
  }
}

function compileRoute(vs: PolicyResource, http: HTTPRoute, index: number, clusterDomain: string): CompiledRoute {
  const destinations: WeightedDestination[] = (http.route ?? []).map((d) => ({
    host: qualifyHost(d.destination.host, vs.namespace, clusterDomain),
    subset: d.destination.subset,
    port: d.destination.port?.number,
    // A single destination takes all traffic whatever its weight, as in Istio.
    weight: (http.route?.length ?? 0) === 1 ? 1 : (d.weight ?? 0),
  }));
  const matchList = http.match ?? [];
  const gates = matchList.map((m) => (m.ignoreUriCase === true ? undefined : (m.uri?.exact ?? m.uri?.prefix)));
  const uriGates = matchList.length > 0 && gates.every((g) => g !== undefined) ? (gates as string[]) : undefined;
  return Object.freeze({
    uriGates,
    annotations: vs.annotations,
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
    const index = routes.length >= INDEX_FROM_ROUTES ? new RouteIndex(routes) : undefined;
    table = Object.freeze({ host, routes, virtualServices, index });
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
