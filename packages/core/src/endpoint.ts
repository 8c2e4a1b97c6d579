// An endpoint of a logical service: an address with the labels, locality and weight balancing reads.

export interface Endpoint {
  /** `host:port` (IPv6 hosts in brackets). */
  readonly address: string;
  readonly host: string;
  readonly port: number;
  /** Labels subsets select on, e.g. `{ version: 'v2' }`. */
  readonly labels: Readonly<Record<string, string>>;
  /** `region/zone/subzone`, any part may be empty. */
  readonly locality: string;
  /** Relative share of traffic, ≥ 1. */
  readonly weight: number;
  /** What discovery says of it; absent means `HEALTHY`. Only healthy endpoints are picked. */
  readonly health?: EndpointHealth;
}

/**
 * An endpoint's health as its discovery source reports it (Envoy's EDS `health_status`, the
 * values a registry writes): `HEALTHY` takes calls; `UNHEALTHY` (a health checker failed it) and
 * `DRAINING` (shutting down) take no new ones.
 */
export type EndpointHealth = 'HEALTHY' | 'UNHEALTHY' | 'DRAINING';

/** The health values, for checking input. */
export const ENDPOINT_HEALTH: readonly EndpointHealth[] = ['HEALTHY', 'UNHEALTHY', 'DRAINING'];

/** The endpoints of one service at one moment. Immutable: a change makes a new snapshot. */
export interface EndpointSnapshot {
  /** Fully qualified name, e.g. `reviews.default.svc.cluster.local`. */
  readonly service: string;
  /** The endpoints that can take calls (healthy ones): what balancing picks from. */
  readonly endpoints: readonly Endpoint[];
  /** Endpoints discovery lists as `UNHEALTHY` or `DRAINING`: known, shown, never picked. */
  readonly unavailable?: readonly Endpoint[];
  /** Grows by one with each change of this service's endpoints. */
  readonly version: number;
}
