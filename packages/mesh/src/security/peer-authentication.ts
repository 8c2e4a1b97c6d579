// Which mutual TLS mode a workload's port is in, from its PeerAuthentication resources, with Istio's precedence.
import type { PeerAuthenticationSpec, PolicyResource, PolicySnapshot } from '@weft/policy';

export type MtlsMode = 'STRICT' | 'PERMISSIVE' | 'DISABLE';

export interface PeerWorkload {
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly rootNamespace: string;
}

type Mode = 'UNSET' | MtlsMode | undefined;

function selects(resource: PolicyResource, labels: Readonly<Record<string, string>>): boolean {
  const selector = (resource.spec as PeerAuthenticationSpec).selector?.matchLabels;
  if (selector === undefined) return false;
  for (const [key, value] of Object.entries(selector)) if (labels[key] !== value) return false;
  return true;
}

const hasSelector = (r: PolicyResource) => (r.spec as PeerAuthenticationSpec).selector !== undefined;
/** Istio takes the oldest of several candidates; weft has no creation time and takes the first by name. */
const byName = (a: PolicyResource, b: PolicyResource) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/**
 * The mode of `port` on `workload`: a workload policy (selector, in the workload's namespace)
 * over a namespace policy (no selector) over the mesh policy (no selector, root namespace);
 * `portLevelMtls` of the workload policy over its `mtls`; `UNSET` defers to the next level;
 * PERMISSIVE when nothing says otherwise, as in Istio.
 */
export function mtlsModeFor(snapshot: PolicySnapshot, workload: PeerWorkload, port: number): MtlsMode {
  const all = snapshot.ofKind('PeerAuthentication');
  const workloadPolicy = all
    .filter((r) => r.namespace === workload.namespace && hasSelector(r) && selects(r, workload.labels))
    .sort(byName)[0];
  const namespacePolicy = all.filter((r) => r.namespace === workload.namespace && !hasSelector(r)).sort(byName)[0];
  const meshPolicy = all.filter((r) => r.namespace === workload.rootNamespace && !hasSelector(r)).sort(byName)[0];
  const levels: Mode[] = [];
  if (workloadPolicy !== undefined) {
    const spec = workloadPolicy.spec as PeerAuthenticationSpec;
    levels.push(spec.portLevelMtls?.[String(port)]?.mode, spec.mtls?.mode);
  }
  levels.push((namespacePolicy?.spec as PeerAuthenticationSpec | undefined)?.mtls?.mode);
  levels.push((meshPolicy?.spec as PeerAuthenticationSpec | undefined)?.mtls?.mode);
  for (const mode of levels) if (mode !== undefined && mode !== 'UNSET') return mode;
  return 'PERMISSIVE';
}
