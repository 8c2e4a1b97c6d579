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

/** Precedence of each kind of source: endpoints written in code win over every source that discovers them. */
export const SOURCE_PRECEDENCE = { static: 0, file: 10, serviceEntry: 15, dns: 20, etcd: 30 } as const;

/** Endpoints given in code, as the first source of the registry (nothing overrides them). */
export function loadStatic(registry: ServiceRegistry, services: Map<string, ResolvedEndpointOptions[]>): void {
  const sink = registry.attach('static', SOURCE_PRECEDENCE.static);
  sink.replaceAll(new Map([...services].map(([host, specs]) => [host, specs.map(toEndpoint)])));
}
