// The resolve layer: finds the logical service a call is for, or decides what to do with an unknown host.
import { type CallContext, type Endpoint, type Handler, type Layer, WeftError, type WeftRequest } from '@weft/core';
import type { Cluster, ServiceRegistry } from '../../discovery/registry.js';
import { hostOf, portOf } from '../../options/address.js';

export interface ResolveOptions {
  registry: ServiceRegistry;
  outboundTrafficPolicy: 'ALLOW_ANY' | 'REGISTRY_ONLY';
}

/** The endpoint of a call to a host outside the mesh: the host and port the caller wrote. */
export function passthroughEndpoint(authority: string, scheme: 'http' | 'https'): Endpoint {
  const host = hostOf(authority);
  const port = portOf(authority, scheme);
  return {
    address: `${authority.charCodeAt(0) === 91 ? `[${host}]` : host}:${port}`,
    host,
    port,
    labels: {},
    locality: '',
    weight: 1,
  };
}

/** The longest a call waits for an on-demand source to answer for its service, in ms (less when the call's own time is shorter). */
export const ON_DEMAND_WAIT_MS = 5_000;

/** The on-demand answer, or a WEFT_ERR_DISCOVERY failure when it does not come within the call's time (at most ON_DEMAND_WAIT_MS). */
function within(
  asked: Promise<Cluster | undefined>,
  authority: string,
  ctx: CallContext,
): Promise<Cluster | undefined> {
  const waitMs = Math.max(1, Math.min(ON_DEMAND_WAIT_MS, ctx.remainingMs()));
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new WeftError(
            'WEFT_ERR_DISCOVERY',
            `no discovery source answered for ${authority} within ${Math.round(waitMs)} ms (etcd unreachable?); the call was not sent`,
            { service: authority },
          ),
        ),
      waitMs,
    );
  });
  return Promise.race([asked, late]).finally(() => clearTimeout(timer));
}

/**
 * Sets `ctx.service` and `ctx.snapshot` from the request's authority. A host that is no known
 * service is first asked of the sources that follow services on demand (the call waits for that
 * one read); still unknown, it is sent on as it is under `ALLOW_ANY` (Istio's PassthroughCluster),
 * and under `REGISTRY_ONLY` only when a ServiceEntry declares the host and port, else refused with
 * `WEFT_ERR_REGISTRY_ONLY` (Istio's BlackHoleCluster).
 */
export function resolve<Ctx extends CallContext = CallContext>(options: ResolveOptions): Layer<Ctx> {
  const { registry } = options;
  const registryOnly = options.outboundTrafficPolicy === 'REGISTRY_ONLY';
  return {
    role: 'resolve',
    wrap(next: Handler<Ctx>): Handler<Ctx> {
      const toCluster = (cluster: Cluster, request: WeftRequest, ctx: Ctx) => {
        ctx.service = cluster.name;
        ctx.snapshot = cluster.snapshot;
        return next(request, ctx);
      };
      // A host a ServiceEntry declares outside the mesh: sent as written, as its own service (its
      // VirtualService and DestinationRule apply, REGISTRY_ONLY lets it through), with no snapshot.
      const toOutside = (service: string, request: WeftRequest, ctx: Ctx) => {
        ctx.service = service;
        ctx.endpoint = passthroughEndpoint(request.authority, request.scheme);
        return next(request, ctx);
      };
      const unknown = (request: WeftRequest, ctx: Ctx) => {
        if (registryOnly) {
          return Promise.reject(
            new WeftError(
              'WEFT_ERR_REGISTRY_ONLY',
              `"${request.authority}" is not a service of the mesh, and outboundTrafficPolicy is REGISTRY_ONLY; add it to discovery or a ServiceEntry (with this port), or use ALLOW_ANY`,
              { service: request.authority },
            ),
          );
        }
        ctx.endpoint = passthroughEndpoint(request.authority, request.scheme);
        return next(request, ctx);
      };
      return (request, ctx) => {
        const cluster = registry.lookup(request.authority);
        if (cluster !== undefined) return toCluster(cluster, request, ctx);
        // A host declared outside is not asked of the on-demand sources.
        const outside = registry.outsideService(request.authority, request.scheme);
        if (outside !== undefined) return toOutside(outside, request, ctx);
        const asked = registry.lookupOnDemand(request.authority);
        if (asked === undefined) return unknown(request, ctx);
        return within(asked, request.authority, ctx).then((found) =>
          found === undefined ? unknown(request, ctx) : toCluster(found, request, ctx),
        );
      };
    },
  };
}
