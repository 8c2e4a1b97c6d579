// The routing model compiled from VirtualServices: what the route layer matches on and what the later layers read.
import type { HTTPRoute } from '@weft/policy';
import type { CompiledMatch } from './match.js';

/** Who is calling: this workload, as sourceLabels and sourceNamespace select it. */
export interface SourceWorkload {
  readonly labels: Readonly<Record<string, string>>;
  readonly namespace: string;
}

export interface WeightedDestination {
  /** Fully qualified destination host. */
  readonly host: string;
  readonly subset: string | undefined;
  readonly port: number | undefined;
  /** Relative weight; the route's destinations share traffic as weight / totalWeight. */
  readonly weight: number;
}

/** One `http[]` entry of a VirtualService, compiled. Layers compile their own slice of `http` once and cache it. */
export interface CompiledRoute {
  /** `namespace/name` of the VirtualService. */
  readonly virtualService: string;
  /** Position in the VirtualService's `http` list. */
  readonly index: number;
  /** `http[].name`, if the route has one. */
  readonly name: string | undefined;
  /** `file:line:col` (or `policy[i]`) where the route is written. */
  readonly origin: string;
  /** The route as written (Istio's HTTPRoute). */
  readonly http: HTTPRoute;
  /** The VirtualService's annotations: weft's own per-route settings (`weft.io/hedge-delay`) live there. */
  readonly annotations: Readonly<Record<string, string>>;
  /** Compiled `match` entries, OR'ed; empty means the route matches every request. */
  readonly matches: readonly CompiledMatch[];
  readonly destinations: readonly WeightedDestination[];
  readonly totalWeight: number;
  /**
   * When every match of the route tests the uri by exact value or prefix (case-sensitive), those
   * strings: a path that starts with none of them cannot match, and the route is skipped with
   * one `startsWith` each instead of running its tests. `undefined` when some match has no such test.
   */
  readonly uriGates: readonly string[] | undefined;
}
