// The route layer: matches a call against its host's VirtualService and decides where it goes, Istio's way.
import { type Endpoint, type Handler, type Layer, WeftError, type WeftRequest, type WeftResponse } from '@weft/core';
import type { HTTPRoute, PolicyStore } from '@weft/policy';
import type { ClientCallContext } from '../../client/context.js';
import type { ServiceRegistry } from '../../discovery/registry.js';
import { toEndpoint } from '../../discovery/static.js';
import { portOf } from '../../options/address.js';
import { resolveDestination } from '../../routing/destination.js';
import { matches } from '../../routing/match.js';
import type { CompiledRoute, SourceWorkload } from '../../routing/model.js';
import { pickDestination, type RouteTable, routeTable } from '../../routing/table.js';
import { passthroughEndpoint } from '../resolve/index.js';
import { applyHeaderOperations } from './headers.js';
import { redirectAnswer, rewrite } from './rewrite.js';

export interface RouteOptions {
  registry: ServiceRegistry;
  policy: PolicyStore;
  /** This workload, as `sourceLabels` and `sourceNamespace` matches see it. */
  source: SourceWorkload;
  clusterDomain: string;
  /** Draws weighted destinations; injectable for tests. */
  random?: () => number;
}

function passesGate(gates: readonly string[], path: string): boolean {
  for (let i = 0; i < gates.length; i++) if (path.startsWith(gates[i] as string)) return true;
  return false;
}

/** The first route whose match passes (a route with no match passes every request), and the prefix it matched. */
export function findRoute(
  table: RouteTable,
  request: WeftRequest,
  source: SourceWorkload,
): { route: CompiledRoute; uriPrefix: string | undefined } | undefined {
  const q = request.path.indexOf('?');
  const path = q < 0 ? request.path : request.path.slice(0, q);
  const all = table.routes;
  if (table.index !== undefined) {
    for (const position of table.index.candidates(path)) {
      const route = all[position] as CompiledRoute;
      if (route.matches.length === 0) return { route, uriPrefix: undefined };
      for (const m of route.matches) if (matches(m, request, source)) return { route, uriPrefix: m.uriPrefix };
    }
    return undefined;
  }
  for (const route of all) {
    if (route.matches.length === 0) return { route, uriPrefix: undefined };
    const gates = route.uriGates;
    if (gates !== undefined && !passesGate(gates, path)) continue;
    for (const m of route.matches) if (matches(m, request, source)) return { route, uriPrefix: m.uriPrefix };
  }
  return undefined;
}

function directAnswer(http: HTTPRoute): WeftResponse | undefined {
  const direct = http.directResponse;
  if (direct === undefined) return undefined;
  const body = direct.body;
  const content =
    body === undefined ? null : body.string !== undefined ? body.string : Buffer.from(body.bytes ?? '', 'base64');
  return {
    status: direct.status,
    headers: body?.string !== undefined ? { 'content-type': 'text/plain' } : {},
    body: content,
  };
}

/**
 * The endpoint of a route's destination that is no service of the registry but a host a
 * ServiceEntry declares outside the mesh, without a subset (a subset picks among endpoints such a
 * host does not have): the call's own endpoint when the route keeps to the host the call is for
 * (a `*.` entry's name as called), else the destination host on its port or the call's; undefined
 * when the destination is no such host.
 */
function outsideDestination(
  registry: ServiceRegistry,
  destination: { host: string; subset?: string | undefined; port?: number | undefined },
  request: WeftRequest,
  ctx: ClientCallContext,
): { service: string; endpoint: Endpoint } | undefined {
  if (destination.subset !== undefined) return undefined;
  const host = destination.host.toLowerCase();
  const own = ctx.snapshot === undefined ? ctx.endpoint : undefined;
  if (own !== undefined && host === ctx.service) {
    const endpoint =
      destination.port === undefined || destination.port === own.port
        ? own
        : toEndpoint({ host: own.host, port: destination.port });
    return { service: host, endpoint };
  }
  if (host.includes('*') || registry.lookup(host) !== undefined) return undefined;
  const port = destination.port ?? own?.port ?? portOf(request.authority, request.scheme);
  const authority = `${host}:${port}`;
  const service = registry.outsideService(authority, request.scheme);
  return service === undefined ? undefined : { service, endpoint: passthroughEndpoint(authority, request.scheme) };
}

/**
 * Sets ctx.route, ctx.subset, ctx.service and ctx.snapshot for calls whose host has a
 * VirtualService (hosts without one go on to all their endpoints, as in Istio). The first
 * matching route wins; none matching is WEFT_ERR_NO_ROUTE (NR). A direct response or a
 * redirect is answered here; rewrites and header operations change the request (and the
 * response) as the route says. The call reads the policy snapshot once and keeps it.
 */
export function route(options: RouteOptions): Layer<ClientCallContext> {
  const { registry, policy, source, clusterDomain } = options;
  const random = options.random ?? Math.random;
  return {
    role: 'route',
    wrap(next: Handler<ClientCallContext>): Handler<ClientCallContext> {
      return (request, ctx) => {
        const snapshot = policy.current();
        ctx.policy = snapshot;
        if (ctx.service === undefined) return next(request, ctx);
        const table = routeTable(snapshot, ctx.service, clusterDomain);
        if (table === undefined) return next(request, ctx);
        const found = findRoute(table, request, source);
        if (found === undefined) {
          ctx.addResponseFlag('NR');
          return Promise.reject(
            new WeftError(
              'WEFT_ERR_NO_ROUTE',
              `no route of VirtualService ${table.virtualServices.map((v) => `${v.namespace}/${v.name}`).join(', ')} matches ${request.method} ${request.path} to ${ctx.service}; mesh.policy.explain() says why`,
              { service: ctx.service },
            ),
          );
        }
        const chosen = found.route;
        ctx.route = chosen;
        const http = chosen.http;
        const direct = directAnswer(http);
        if (direct !== undefined) return Promise.resolve(direct);
        if (http.redirect !== undefined) return Promise.resolve(redirectAnswer(request, http.redirect));
        const destination = pickDestination(chosen, random);
        if (destination === undefined) {
          ctx.addResponseFlag('NR');
          return Promise.reject(
            new WeftError(
              'WEFT_ERR_NO_ROUTE',
              `route ${chosen.index} of ${chosen.virtualService} has no destination weft can use (delegation is not supported)`,
              {
                service: ctx.service,
              },
            ),
          );
        }
        const outside = outsideDestination(registry, destination, request, ctx);
        if (outside !== undefined) {
          // A host a ServiceEntry declares outside the mesh: one endpoint, the host itself.
          ctx.service = outside.service;
          ctx.snapshot = undefined;
          ctx.endpoint = outside.endpoint;
        } else {
          let resolved: ReturnType<typeof resolveDestination>;
          try {
            resolved = resolveDestination(registry, snapshot, destination.host, destination.subset);
          } catch (error) {
            ctx.addResponseFlag('NC');
            return Promise.reject(error);
          }
          ctx.service = resolved.cluster.name;
          ctx.snapshot = resolved.endpoints;
        }
        ctx.subset = destination.subset;
        let outgoing = request;
        if (http.rewrite !== undefined) outgoing = rewrite(outgoing, http.rewrite, found.uriPrefix);
        const destinationOps = http.route?.find(
          (d) => d.destination.host === destination.host && d.destination.subset === destination.subset,
        )?.headers;
        if (http.headers?.request !== undefined)
          outgoing = { ...outgoing, headers: applyHeaderOperations(outgoing.headers, http.headers.request) };
        if (destinationOps?.request !== undefined) {
          outgoing = { ...outgoing, headers: applyHeaderOperations(outgoing.headers, destinationOps.request) };
        }
        const responseOps = [http.headers?.response, destinationOps?.response].filter((o) => o !== undefined);
        if (responseOps.length === 0) return next(outgoing, ctx);
        return next(outgoing, ctx).then((response) => {
          let headers = response.headers;
          for (const ops of responseOps) headers = applyHeaderOperations(headers, ops);
          return { ...response, headers };
        });
      };
    },
  };
}
