// The service hosts a policy snapshot names: what a mesh that finds services on demand follows before any call asks.
import { type DestinationRuleSpec, type PolicySnapshot, qualifyHost, type VirtualServiceSpec } from '@weft/policy';

/**
 * Every host a VirtualService routes or mirrors to, every VirtualService host and every
 * DestinationRule host, qualified in the resource's namespace (wildcards left out: they name no
 * one service).
 */
export function hostsRoutedTo(snapshot: PolicySnapshot, clusterDomain: string): string[] {
  const hosts = new Set<string>();
  for (const r of snapshot.ofKind('VirtualService')) {
    const spec = r.spec as VirtualServiceSpec;
    const add = (host: string) => hosts.add(qualifyHost(host, r.namespace, clusterDomain));
    for (const h of spec.hosts ?? []) add(h);
    for (const http of spec.http ?? []) {
      for (const route of http.route ?? []) add(route.destination.host);
      if (http.mirror !== undefined) add(http.mirror.host);
      for (const m of http.mirrors ?? []) add(m.destination.host);
    }
  }
  for (const r of snapshot.ofKind('DestinationRule')) {
    hosts.add(qualifyHost((r.spec as DestinationRuleSpec).host, r.namespace, clusterDomain));
  }
  return [...hosts].filter((h) => !h.includes('*'));
}
