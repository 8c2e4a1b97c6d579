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
}

/** The endpoints of one service at one moment. Immutable: a change makes a new snapshot. */
export interface EndpointSnapshot {
  /** Fully qualified name, e.g. `reviews.default.svc.cluster.local`. */
  readonly service: string;
  readonly endpoints: readonly Endpoint[];
  /** Grows by one with each change of this service's endpoints. */
  readonly version: number;
}
