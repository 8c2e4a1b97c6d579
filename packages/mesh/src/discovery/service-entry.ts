// ServiceEntry resources as a discovery source: the endpoints a STATIC ServiceEntry lists, for hosts the registry would not otherwise know.
import type { Endpoint } from '@weft/core';
import type { PolicySnapshot, ServiceEntrySpec } from '@weft/policy';
import type { DiscoverySink } from './registry.js';
import type { DiscoverySource } from './source.js';
import { toEndpoint } from './static.js';

/** The endpoints of every STATIC ServiceEntry of `snapshot`, by host. */
export function serviceEntryEndpoints(snapshot: PolicySnapshot): Map<string, Endpoint[]> {
  const out = new Map<string, Endpoint[]>();
  for (const resource of snapshot.ofKind('ServiceEntry')) {
    const spec = resource.spec as ServiceEntrySpec;
    if (spec.resolution !== 'STATIC' || spec.endpoints === undefined) continue;
    const port = spec.ports?.[0];
    const endpoints: Endpoint[] = [];
    for (const e of spec.endpoints) {
      if (e.address === undefined) continue;
      // An endpoint's own port for the service port's name, else the port's targetPort, else its number.
      const number = (port === undefined ? undefined : (e.ports?.[port.name] ?? port.targetPort ?? port.number)) ?? 80;
      endpoints.push(
        toEndpoint({ host: e.address, port: number, labels: e.labels, locality: e.locality, weight: e.weight }),
      );
    }
    for (const h of spec.hosts) out.set(h, [...(out.get(h) ?? []), ...endpoints]);
  }
  return out;
}

/**
 * Follows the policy: every snapshot's STATIC ServiceEntries replace what this source said before
 * (a removed entry's host falls to the next source). Hosts resolved by DNS are left to the DNS source.
 */
export function serviceEntryDiscovery(policy: {
  current(): PolicySnapshot;
  onChange(listener: (snapshot: PolicySnapshot) => void): () => void;
}): DiscoverySource {
  let stop: (() => void) | undefined;
  return {
    name: 'serviceentry',
    start(sink: DiscoverySink) {
      sink.replaceAll(serviceEntryEndpoints(policy.current()));
      stop = policy.onChange((snapshot) => sink.replaceAll(serviceEntryEndpoints(snapshot)));
      return Promise.resolve();
    },
    close() {
      stop?.();
      return Promise.resolve();
    },
  };
}
