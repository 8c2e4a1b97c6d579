// The service registry: which logical services exist, under which host names, and their current endpoints.
import type { Endpoint, EndpointSnapshot } from '@weft/core';
import { checkServiceHost, hostOf, portOf, serviceAliases } from '../options/address.js';

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

/** A host declared outside the mesh (a ServiceEntry without endpoints): `*.example.com` covers every name under it. */
export interface OutsideHost {
  host: string;
  /** The ports calls may use; empty for any. */
  ports: readonly number[];
}

/** What a discovery source writes into the registry. */
export interface DiscoverySink {
  /** The complete endpoint set of one service (an empty one removes its endpoints, not the service). */
  set(host: string, endpoints: readonly Endpoint[]): void;
  /** Everything this source knows: services it no longer lists fall to the next source (or to none). */
  replaceAll(services: ReadonlyMap<string, readonly Endpoint[]>): void;
  /** The source could not refresh: its last endpoints stay in force, and the registry shows it stale. */
  stale(reason: string): void;
  /** The source answered again with nothing to change: no longer stale. */
  refreshed(): void;
  /**
   * For a source that follows services only once they are called (etcd with `services: 'called'`):
   * `want` is asked, once per service, for a service-shaped host no source lists yet, and the call
   * waits for it (`ServiceRegistry.lookupOnDemand`).
   */
  onDemand(want: (service: string) => Promise<void>): void;
  /** The hosts this source declares outside the mesh, replacing what it declared before. */
  outside(hosts: readonly OutsideHost[]): void;
}

export interface SourceStatus {
  name: string;
  precedence: number;
  services: number;
  updates: number;
  /** Set while the source fails to refresh: since when (ms) and why. */
  stale: { since: number; reason: string } | undefined;
}

interface SourceState {
  readonly name: string;
  readonly precedence: number;
  readonly services: Map<string, readonly Endpoint[]>;
  stale: { since: number; reason: string } | undefined;
  updates: number;
}

/**
 * Owns every Cluster. Discovery sources write endpoint sets in; the resolve layer reads
 * clusters out by host name. Host names are indexed in every form Kubernetes DNS accepts
 * from this namespace, so a lookup is one Map read in the common case.
 */
export class ServiceRegistry {
  readonly #byHost = new Map<string, Cluster>();
  readonly #byName = new Map<string, Cluster>();
  readonly #listeners = new Set<Listener>();
  readonly #sources: SourceState[] = [];
  readonly #options: RegistryOptions;
  readonly #onDemand: ((service: string) => Promise<void>)[] = [];
  readonly #outside = new Map<string, readonly OutsideHost[]>();
  /** Services asked of the on-demand sources: the pending ask, or `true` once answered. */
  readonly #asked = new Map<string, Promise<Cluster | undefined> | true>();

  constructor(options: RegistryOptions) {
    this.#options = options;
  }

  /** The cluster a call to `authority` (`reviews`, `reviews:9080`, a full name…) is for. */
  lookup(authority: string): Cluster | undefined {
    return this.#byHost.get(authority) ?? this.#byHost.get(hostOf(authority).toLowerCase());
  }

  /**
   * For a call to a host `lookup` did not find: when a source follows services on demand, asks it
   * for the service (once; calls meanwhile wait for the same answer) and gives the cluster it
   * found, or undefined. Returns undefined at once when no source is on demand, when the host
   * is not a service name, or when the service was asked for already (the answer is known).
   */
  lookupOnDemand(authority: string): Promise<Cluster | undefined> | undefined {
    const name = this.#onDemandName(authority);
    if (name === undefined) return undefined;
    const asked = this.#asked.get(name);
    if (asked === true) return undefined;
    if (asked !== undefined) return asked;
    const answer = Promise.allSettled(this.#onDemand.map((want) => want(name))).then((results) => {
      // A source that could not answer is asked again by the next call.
      if (results.every((r) => r.status === 'fulfilled')) this.#asked.set(name, true);
      else this.#asked.delete(name);
      return this.#byName.get(name);
    });
    this.#asked.set(name, answer);
    return answer;
  }

  /**
   * Whether a call to `authority` may find a service that `lookup` does not know yet: a source
   * follows services on demand and has not answered for this one. The client adapters then send
   * the call down the pipeline (whose resolve layer asks) instead of around the mesh.
   */
  mayFindOnDemand(authority: string): boolean {
    const name = this.#onDemandName(authority);
    return name !== undefined && this.#asked.get(name) !== true;
  }

  /** The qualified service name to ask the on-demand sources for, when there are any and the host is a service name. */
  #onDemandName(authority: string): string | undefined {
    if (this.#onDemand.length === 0) return undefined;
    const host = hostOf(authority).toLowerCase();
    if (checkServiceHost(host, this.#options.clusterDomain) !== undefined) return undefined;
    return this.qualify(host);
  }

  /**
   * The service a call to `authority` is for when a source declared its host outside the mesh
   * (a ServiceEntry without endpoints) on the call's port: the host as declared, in lower case
   * (`*.example.com` for every name under it, so metrics and pools are kept per entry, not per
   * name), under which its VirtualService and DestinationRule apply; undefined otherwise.
   */
  outsideService(authority: string, scheme: 'http' | 'https'): string | undefined {
    if (this.#outside.size === 0) return undefined;
    const host = hostOf(authority).toLowerCase();
    const port = portOf(authority, scheme);
    for (const hosts of this.#outside.values()) {
      for (const o of hosts) {
        const named = o.host.startsWith('*.') ? host.endsWith(o.host.slice(1)) : host === o.host;
        if (named && (o.ports.length === 0 || o.ports.includes(port))) return o.host;
      }
    }
    return undefined;
  }

  /** Fully qualified name of a service host as this workload would resolve it. */
  qualify(host: string): string {
    return this.#aliases(host).at(-1) as string;
  }

  /**
   * The names a host is found under: every Kubernetes form of a service name (`reviews`,
   * `reviews.default`, … `.svc.cluster.local`), or, for a host of another shape (an outside
   * host a ServiceEntry or DNS names: `api.example.com`), that host alone.
   */
  #aliases(host: string): string[] {
    const { namespace, clusterDomain } = this.#options;
    if (checkServiceHost(host, clusterDomain) === undefined) return serviceAliases(host, namespace, clusterDomain);
    return [host.toLowerCase()];
  }

  /** Replaces the endpoints of `host` (creating the service if new) and tells listeners. */
  setEndpoints(host: string, endpoints: readonly Endpoint[]): EndpointSnapshot {
    return this.#publish(this.#cluster(host), endpoints);
  }

  #cluster(host: string): Cluster {
    const name = this.qualify(host);
    let cluster = this.#byName.get(name);
    if (cluster === undefined) {
      cluster = new Cluster(name);
      this.#byName.set(name, cluster);
      for (const alias of this.#aliases(host)) {
        this.#byHost.set(alias, cluster);
      }
    }
    return cluster;
  }

  /**
   * Endpoints that discovery marks `UNHEALTHY` or `DRAINING` go to `unavailable`, out of balancing's
   * sight, even when that leaves none: unlike Envoy's panic threshold, weft does not send calls to
   * endpoints a registry says are failing or shutting down (docs/discovery.md).
   */
  #publish(cluster: Cluster, endpoints: readonly Endpoint[]): EndpointSnapshot {
    const healthy: Endpoint[] = [];
    const unavailable: Endpoint[] = [];
    for (const e of endpoints) (e.health === undefined || e.health === 'HEALTHY' ? healthy : unavailable).push(e);
    const snapshot: EndpointSnapshot = Object.freeze({
      service: cluster.name,
      endpoints: Object.freeze(healthy),
      ...(unavailable.length === 0 ? {} : { unavailable: Object.freeze(unavailable) }),
      version: cluster.snapshot.version + 1,
    });
    cluster.snapshot = snapshot;
    for (const listener of this.#listeners) listener(snapshot);
    return snapshot;
  }

  /**
   * Attaches a discovery source at a precedence (lower wins). For each service, the endpoints in
   * force are those of the source with the lowest precedence that has the service; a source that
   * drops a service hands it to the next one. Returns the source's sink.
   */
  attach(source: string, precedence: number): DiscoverySink {
    const state: SourceState = { name: source, precedence, services: new Map(), stale: undefined, updates: 0 };
    this.#sources.push(state);
    this.#sources.sort((a, b) => a.precedence - b.precedence);
    // By the service's qualified name; `host` as the source wrote it, to name a new service (its aliases come from it).
    const recompute = (name: string, host?: string) => {
      const cluster = this.#byName.get(name) ?? this.#cluster(host ?? name);
      const winner = this.#sources.find((s) => s.services.has(cluster.name));
      this.#publish(cluster, winner?.services.get(cluster.name) ?? []);
    };
    return {
      set: (host, endpoints) => {
        const name = this.qualify(host);
        state.services.set(name, Object.freeze([...endpoints]));
        state.stale = undefined;
        state.updates++;
        recompute(name, host);
      },
      replaceAll: (services) => {
        const before = new Set(state.services.keys());
        state.services.clear();
        const hosts = new Map<string, string>();
        for (const [host, endpoints] of services) {
          const name = this.qualify(host);
          hosts.set(name, host);
          state.services.set(name, Object.freeze([...endpoints]));
        }
        state.stale = undefined;
        state.updates++;
        for (const name of new Set([...before, ...state.services.keys()])) recompute(name, hosts.get(name));
      },
      stale: (reason) => {
        // Static stability: what the source last said stays in force; only the staleness is recorded.
        state.stale ??= { since: Date.now(), reason };
        state.stale.reason = reason;
      },
      refreshed: () => {
        state.stale = undefined;
      },
      onDemand: (want) => {
        this.#onDemand.push(want);
      },
      outside: (hosts) => {
        this.#outside.set(source, hosts);
      },
    };
  }

  /** Each attached source: its precedence, services, and whether it is stale (failing to refresh) and since when. */
  sources(): SourceStatus[] {
    return this.#sources.map((s) => ({
      name: s.name,
      precedence: s.precedence,
      services: s.services.size,
      updates: s.updates,
      stale: s.stale === undefined ? undefined : { ...s.stale },
    }));
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
