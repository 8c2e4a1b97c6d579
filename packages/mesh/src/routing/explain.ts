// mesh.policy.explain(): which VirtualService and route a request matches (or why none does), where it goes, and what applies.
import type { WeftRequest } from '@weft/core';
import { type DestinationRuleSpec, type PolicySnapshot, parseDurationMs } from '@weft/policy';
import type { ServiceRegistry } from '../discovery/registry.js';
import { findRoute } from '../layers/route/index.js';
import { resolveDestination } from './destination.js';
import type { CompiledMatch } from './match.js';
import type { SourceWorkload } from './model.js';
import { routeTable } from './table.js';

export interface ExplainRequest {
  /** Full URL; its host is the logical service (`http://reviews/reviews/0`). */
  url: string;
  method?: string;
  headers?: Record<string, string>;
}

export interface Setting<T> {
  value: T;
  /** Where the value came from: a route (`default/reviews http[1] at file:line`), a DestinationRule, or a default. */
  from: string;
}

export interface Explanation {
  /** What happens to the request, in one sentence. */
  summary: string;
  outcome:
    | 'route'
    | 'no-route'
    | 'direct-response'
    | 'redirect'
    | 'unknown-destination'
    | 'no-virtual-service'
    | 'outside-service'
    | 'not-in-mesh';
  /** The service the host resolves to, fully qualified; undefined for hosts outside the mesh. */
  service: string | undefined;
  policyVersion: number;
  virtualServices: string[];
  /** Each route tried in order, up to the one that matched, with why it did not. */
  routes: {
    index: number;
    name: string | undefined;
    virtualService: string;
    origin: string;
    matched: boolean;
    why: string;
  }[];
  destinations: { host: string; subset: string | undefined; weight: number; share: number; endpoints: string[] }[];
  timeout: Setting<string>;
  retries: Setting<string>;
  loadBalancer: Setting<string>;
}

function requestOf(r: ExplainRequest): WeftRequest {
  const url = new URL(r.url);
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(r.headers ?? {})) headers[k.toLowerCase()] = v;
  return {
    method: (r.method ?? 'GET').toUpperCase(),
    scheme: url.protocol === 'https:' ? 'https' : 'http',
    authority: url.host,
    path: url.pathname + url.search,
    headers,
    body: null,
  };
}

function whyNot(matches: readonly CompiledMatch[], request: WeftRequest, source: SourceWorkload): string {
  return matches
    .map((m, i) => {
      const failed = m.tests.find((t) => !t.test(request, source));
      return `match[${i}] needs ${failed?.describe ?? '?'}`;
    })
    .join('; ');
}

export function explain(
  input: ExplainRequest,
  snapshot: PolicySnapshot,
  registry: ServiceRegistry,
  source: SourceWorkload,
  defaults: { timeoutMs: number; clusterDomain: string; registryOnly: boolean },
): Explanation {
  const request = requestOf(input);
  const cluster = registry.lookup(request.authority);
  const meshTimeout: Setting<string> =
    defaults.timeoutMs > 0
      ? { value: `${defaults.timeoutMs}ms`, from: 'mesh option timeoutMs' }
      : { value: 'none', from: 'weft default (as Istio: no route timeout)' };
  const defaultRetries: Setting<string> = {
    value: '2 retries on connect-failure,refused-stream,unavailable,cancelled',
    from: "Istio's default retry policy",
  };
  const base = {
    policyVersion: snapshot.version,
    virtualServices: [] as string[],
    routes: [] as Explanation['routes'],
    destinations: [] as Explanation['destinations'],
    timeout: meshTimeout,
    retries: defaultRetries,
    loadBalancer: { value: 'ROUND_ROBIN', from: 'weft default' },
  };
  if (cluster === undefined) {
    const outside = registry.outsideService(request.authority, request.scheme);
    const rules = outside === undefined ? undefined : snapshot.forHost(outside);
    const named = [...(rules?.virtualServices ?? []), ...(rules?.destinationRules ?? [])].map(
      (r) => `${r.kind} ${r.namespace}/${r.name}`,
    );
    return {
      ...base,
      outcome: outside === undefined ? 'not-in-mesh' : 'outside-service',
      service: outside,
      summary:
        outside !== undefined
          ? `${request.authority} is declared outside the mesh by a ServiceEntry: sent to the host as written, through the mesh${named.length > 0 ? ` (${named.join(', ')} apply)` : ''}`
          : defaults.registryOnly
            ? `${request.authority} is no service of the mesh: refused (outboundTrafficPolicy REGISTRY_ONLY)`
            : `${request.authority} is no service of the mesh: sent as plain HTTP (outboundTrafficPolicy ALLOW_ANY)`,
    };
  }
  const balancerFor = (host: string): Setting<string> => {
    for (const rule of snapshot.forHost(host)?.destinationRules ?? []) {
      const lb = (rule.spec as DestinationRuleSpec).trafficPolicy?.loadBalancer;
      if (lb !== undefined) {
        return {
          value: `${JSON.stringify(lb)} (not applied yet: weft balances ROUND_ROBIN)`,
          from: `DestinationRule ${rule.namespace}/${rule.name} at ${rule.origin}`,
        };
      }
    }
    return base.loadBalancer;
  };
  const table = routeTable(snapshot, cluster.name, defaults.clusterDomain);
  if (table === undefined) {
    const endpoints = cluster.snapshot.endpoints.map((e) => e.address);
    return {
      ...base,
      outcome: 'no-virtual-service',
      service: cluster.name,
      destinations: [{ host: cluster.name, subset: undefined, weight: 1, share: 1, endpoints }],
      loadBalancer: balancerFor(cluster.name),
      summary: `no VirtualService routes ${cluster.name}: every call goes to its ${endpoints.length} endpoints`,
    };
  }
  const found = findRoute(table, request, source);
  const routes: Explanation['routes'] = [];
  for (const r of table.routes) {
    const matched = found?.route === r;
    routes.push({
      index: r.index,
      name: r.name,
      virtualService: r.virtualService,
      origin: r.origin,
      matched,
      why: matched
        ? r.matches.length === 0
          ? 'no match: takes every request'
          : 'matched'
        : whyNot(r.matches, request, source),
    });
    if (matched) break;
  }
  const virtualServices = table.virtualServices.map((v) => `${v.namespace}/${v.name} at ${v.origin}`);
  if (found === undefined) {
    return {
      ...base,
      virtualServices,
      routes,
      outcome: 'no-route',
      service: cluster.name,
      summary: `no route of ${table.virtualServices.map((v) => `${v.namespace}/${v.name}`).join(', ')} matches: WEFT_ERR_NO_ROUTE (NR)`,
    };
  }
  const route = found.route;
  const at = `route ${route.virtualService} http[${route.index}]${route.name === undefined ? '' : ` "${route.name}"`} at ${route.origin}`;
  const http = route.http;
  const timeoutMs = http.fault !== undefined || http.timeout === undefined ? undefined : parseDurationMs(http.timeout);
  const timeout: Setting<string> = timeoutMs === undefined ? meshTimeout : { value: http.timeout as string, from: at };
  const retries: Setting<string> =
    http.fault !== undefined
      ? { value: 'none', from: `${at} (a route with a fault gets no retries, as in Istio)` }
      : http.retries !== undefined
        ? { value: JSON.stringify(http.retries), from: at }
        : defaultRetries;
  if (http.directResponse !== undefined || http.redirect !== undefined) {
    const direct = http.directResponse !== undefined;
    return {
      ...base,
      virtualServices,
      routes,
      outcome: direct ? 'direct-response' : 'redirect',
      service: cluster.name,
      summary: direct
        ? `${at} answers itself with status ${http.directResponse?.status}`
        : `${at} redirects (${http.redirect?.redirectCode ?? 301})`,
    };
  }
  const destinations: Explanation['destinations'] = [];
  let unknown: string | undefined;
  for (const d of route.destinations) {
    let endpoints: string[] = [];
    try {
      endpoints = resolveDestination(registry, snapshot, d.host, d.subset).endpoints.endpoints.map((e) => e.address);
    } catch (error) {
      unknown ??= (error as Error).message;
    }
    destinations.push({
      host: d.host,
      subset: d.subset,
      weight: d.weight,
      share: route.totalWeight === 0 ? 0 : d.weight / route.totalWeight,
      endpoints,
    });
  }
  const parts = destinations.map(
    (d) =>
      `${Math.round(d.share * 1000) / 10}% to ${d.host}${d.subset === undefined ? '' : ` subset ${d.subset}`} (${d.endpoints.length} endpoints)`,
  );
  return {
    ...base,
    virtualServices,
    routes,
    destinations,
    timeout,
    retries,
    loadBalancer: balancerFor(destinations[0]?.host ?? cluster.name),
    outcome: unknown === undefined ? 'route' : 'unknown-destination',
    service: cluster.name,
    summary:
      unknown === undefined
        ? `${at} matched: ${parts.join(', ')}`
        : `${at} matched, but ${unknown}: WEFT_ERR_UNKNOWN_DESTINATION (NC)`,
  };
}
