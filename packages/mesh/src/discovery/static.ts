// Static discovery: endpoints written in code, loaded into the registry once.
import type { Endpoint } from '@weft/core';
import type { ResolvedEndpointOptions } from '../options/mesh-options.js';
import type { ServiceRegistry } from './registry.js';

export function toEndpoint(spec: ResolvedEndpointOptions): Endpoint {
  return Object.freeze({
    address: spec.address,
    host: spec.host,
    port: spec.port,
    labels: Object.freeze({ ...spec.labels }),
    locality: spec.locality,
    weight: spec.weight,
  });
}

export function loadStatic(registry: ServiceRegistry, services: Map<string, ResolvedEndpointOptions[]>): void {
  for (const [host, specs] of services) registry.setEndpoints(host, specs.map(toEndpoint));
}
