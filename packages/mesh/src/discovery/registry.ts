// The service registry: which logical services exist, under which host names, and their current endpoints.
import type { Endpoint, EndpointSnapshot } from '@weft/core';
import { hostOf, serviceAliases } from '../options/address.js';

/** One logical service (Envoy's "cluster"): its name and its current endpoint snapshot. */
export class Cluster {
  /** Fully qualified, e.g. `reviews.default.svc.cluster.local`. */
  readonly name: string;
  /** Swapped whole when endpoints change; a call keeps the snapshot it started with. */
  snapshot: EndpointSnapshot;

  constructor(name: string) {
    this.name = name;
    this.snapshot = { service: name, endpoints: [], version: 0 };
  }
}

export interface RegistryOptions {
  namespace: string;
  clusterDomain: string;
}

type Listener = (snapshot: EndpointSnapshot) => void;

/**
 * Owns every Cluster. Discovery sources write endpoint sets in; the resolve layer reads
 * clusters out by host name. Host names are indexed in every form Kubernetes DNS accepts
 * from this namespace, so a lookup is one Map read in the common case.
 */
export class ServiceRegistry {
  readonly #byHost = new Map<string, Cluster>();
  readonly #byName = new Map<string, Cluster>();
  readonly #listeners = new Set<Listener>();
  readonly #options: RegistryOptions;

  constructor(options: RegistryOptions) {
    this.#options = options;
  }

  /** The cluster a call to `authority` (`reviews`, `reviews:9080`, a full name…) is for. */
  lookup(authority: string): Cluster | undefined {
    return this.#byHost.get(authority) ?? this.#byHost.get(hostOf(authority).toLowerCase());
  }

  /** Fully qualified name of a service host as this workload would resolve it. */
  qualify(host: string): string {
    return serviceAliases(host, this.#options.namespace, this.#options.clusterDomain).at(-1) as string;
  }

  /** Replaces the endpoints of `host` (creating the service if new) and tells listeners. */
  setEndpoints(host: string, endpoints: readonly Endpoint[]): EndpointSnapshot {
    const name = this.qualify(host);
    let cluster = this.#byName.get(name);
    if (cluster === undefined) {
      cluster = new Cluster(name);
      this.#byName.set(name, cluster);
      for (const alias of serviceAliases(host, this.#options.namespace, this.#options.clusterDomain)) {
        this.#byHost.set(alias, cluster);
      }
    }
    const snapshot: EndpointSnapshot = Object.freeze({
      service: name,
      endpoints: Object.freeze([...endpoints]),
      version: cluster.snapshot.version + 1,
    });
    cluster.snapshot = snapshot;
    for (const listener of this.#listeners) listener(snapshot);
    return snapshot;
  }

  /** Every known service and its current snapshot. */
  snapshots(): EndpointSnapshot[] {
    return [...this.#byName.values()].map((c) => c.snapshot);
  }

  /** Calls `listener` on every endpoint change; returns a function that stops it. */
  onChange(listener: Listener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
