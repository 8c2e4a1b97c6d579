// The resolve layer: finds the logical service a call is for, or decides what to do with an unknown host.
import { type CallContext, type Endpoint, type Handler, type Layer, WeftError } from '@weft/core';
import type { ServiceRegistry } from '../../discovery/registry.js';
import { hostOf } from '../../options/address.js';

export interface ResolveOptions {
  registry: ServiceRegistry;
  outboundTrafficPolicy: 'ALLOW_ANY' | 'REGISTRY_ONLY';
}

/** The endpoint of a call to a host outside the mesh: the host and port the caller wrote. */
export function passthroughEndpoint(authority: string, scheme: 'http' | 'https'): Endpoint {
  const host = hostOf(authority);
  const bracketed = authority.charCodeAt(0) === 91;
  const portText = authority.slice((bracketed ? authority.indexOf(']') + 1 : host.length) + 1);
  const port = portText === '' ? (scheme === 'https' ? 443 : 80) : Number(portText);
  return {
    address: `${bracketed ? `[${host}]` : host}:${port}`,
    host,
    port,
    labels: {},
    locality: '',
    weight: 1,
  };
}

/**
 * Sets `ctx.service` and `ctx.snapshot` from the request's authority. A host that is no known
 * service is sent on as it is under `ALLOW_ANY` (Istio's PassthroughCluster), and refused
 * with `WEFT_ERR_REGISTRY_ONLY` under `REGISTRY_ONLY` (Istio's BlackHoleCluster).
 */
export function resolve<Ctx extends CallContext = CallContext>(options: ResolveOptions): Layer<Ctx> {
  const { registry } = options;
  const registryOnly = options.outboundTrafficPolicy === 'REGISTRY_ONLY';
  return {
    role: 'resolve',
    wrap(next: Handler<Ctx>): Handler<Ctx> {
      return (request, ctx) => {
        const cluster = registry.lookup(request.authority);
        if (cluster !== undefined) {
          ctx.service = cluster.name;
          ctx.snapshot = cluster.snapshot;
          return next(request, ctx);
        }
        if (registryOnly) {
          return Promise.reject(
            new WeftError(
              'WEFT_ERR_REGISTRY_ONLY',
              `"${request.authority}" is not a service of the mesh, and outboundTrafficPolicy is REGISTRY_ONLY; add it to discovery or use ALLOW_ANY`,
              { service: request.authority },
            ),
          );
        }
        ctx.endpoint = passthroughEndpoint(request.authority, request.scheme);
        return next(request, ctx);
      };
    },
  };
}
