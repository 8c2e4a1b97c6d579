// Static discovery: endpoints written in code, loaded into the registry once.
import type { Endpoint, EndpointHealth } from '@weft/core';
import type { ResolvedEndpointOptions } from '../options/mesh-options.js';
import type { ServiceRegistry } from './registry.js';

/** What a source knows of an endpoint; the rest takes its default. */
export interface EndpointParts {
  host: string;
  port: number;
  /** `host:port`; written from host and port (an IPv6 host in brackets) when not given. */
  address?: string | undefined;
  labels?: Readonly<Record<string, string>> | undefined;
  locality?: string | undefined;
  /** A weight below 1 (SRV and ServiceEntry allow 0) counts as 1: every endpoint gets a share. */
  weight?: number | undefined;
  /** `HEALTHY` when not given. */
  health?: EndpointHealth | undefined;
}

/** An endpoint as every source makes it: frozen, with its defaults. */
export function toEndpoint(spec: EndpointParts): Endpoint {
  const { host, port } = spec;
  return Object.freeze({
    address: spec.address ?? (host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`),
    host,
    port,
    labels: Object.freeze({ ...spec.labels }),
    locality: spec.locality ?? '',
    weight: Math.max(1, spec.weight ?? 1),
    health: spec.health ?? 'HEALTHY',
  });
}

/** Precedence of each kind of source: endpoints written in code win over every source that discovers them. */
export const SOURCE_PRECEDENCE = { static: 0, file: 10, serviceEntry: 15, dns: 20, etcd: 30 } as const;

/** Endpoints given in code, as the first source of the registry (nothing overrides them). */
export function loadStatic(registry: ServiceRegistry, services: Map<string, ResolvedEndpointOptions[]>): void {
  const sink = registry.attach('static', SOURCE_PRECEDENCE.static);
  sink.replaceAll(new Map([...services].map(([host, specs]) => [host, specs.map(toEndpoint)])));
}
