// ServiceEntry resources as a discovery source: the endpoints a ServiceEntry lists, and the outside hosts it declares, for hosts the registry would not otherwise know.
import type { Endpoint } from '@weft/core';
import type { PolicySnapshot, ServiceEntrySpec } from '@weft/policy';
import { TLS_MODE_LABEL } from '../layers/transport/mtls.js';
import type { DiscoverySink, OutsideHost } from './registry.js';
import type { DiscoverySource } from './source.js';
import { toEndpoint } from './static.js';

/** The endpoints of every STATIC ServiceEntry of `snapshot`, by host. */
export function serviceEntryEndpoints(snapshot: PolicySnapshot): Map<string, Endpoint[]> {
  const out = new Map<string, Endpoint[]>();
  for (const resource of snapshot.ofKind('ServiceEntry')) {
    const spec = resource.spec as ServiceEntrySpec;
    // STATIC endpoints are addresses; DNS ones are names, resolved by the platform when connecting.
    if (spec.endpoints === undefined || spec.resolution === undefined || spec.resolution === 'NONE') continue;
    const port = spec.ports?.[0];
    // An outside service (MESH_EXTERNAL, the default) speaks no weft mTLS: its endpoints say so, as
    // Istio's auto mTLS leaves endpoints without its tlsMode label alone.
    const external = spec.location !== 'MESH_INTERNAL';
    const endpoints: Endpoint[] = [];
    for (const e of spec.endpoints) {
      if (e.address === undefined) continue;
      // An endpoint's own port for the service port's name, else the port's targetPort, else its number.
      const number = (port === undefined ? undefined : (e.ports?.[port.name] ?? port.targetPort ?? port.number)) ?? 80;
      endpoints.push(
        toEndpoint({
          host: e.address,
          port: number,
          labels: external ? { [TLS_MODE_LABEL]: 'disabled', ...e.labels } : e.labels,
          locality: e.locality,
          weight: e.weight,
        }),
      );
    }
    for (const h of spec.hosts) out.set(h, [...(out.get(h) ?? []), ...endpoints]);
  }
  return out;
}

/**
 * The hosts of ServiceEntries without endpoints (resolution `NONE`, the default, or `DNS`), with
 * their ports: calls to them go out as written, and `REGISTRY_ONLY` lets them through, as
 * Istio's registry would.
 */
export function serviceEntryOutsideHosts(snapshot: PolicySnapshot): OutsideHost[] {
  const out: OutsideHost[] = [];
  for (const resource of snapshot.ofKind('ServiceEntry')) {
    const spec = resource.spec as ServiceEntrySpec;
    if (spec.resolution === 'STATIC' || spec.endpoints !== undefined) continue;
    const ports = (spec.ports ?? []).map((p) => p.number);
    for (const host of spec.hosts) out.push({ host: host.toLowerCase(), ports });
  }
  return out;
}

/**
 * Follows the policy: every snapshot's ServiceEntries replace what this source said before (a
 * removed entry's host falls to the next source, or to none).
 */
export function serviceEntryDiscovery(policy: {
  current(): PolicySnapshot;
  onChange(listener: (snapshot: PolicySnapshot) => void): () => void;
}): DiscoverySource {
  let stop: (() => void) | undefined;
  return {
    name: 'serviceentry',
    start(sink: DiscoverySink) {
      const apply = (snapshot: PolicySnapshot) => {
        sink.replaceAll(serviceEntryEndpoints(snapshot));
        sink.outside(serviceEntryOutsideHosts(snapshot));
      };
      apply(policy.current());
      stop = policy.onChange(apply);
      return Promise.resolve();
    },
    close() {
      stop?.();
      return Promise.resolve();
    },
  };
}
