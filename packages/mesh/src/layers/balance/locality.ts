// Locality-aware balancing (Istio's localityLbSetting): priority levels by closeness to the caller, failover, and distribute.
import type { Endpoint, EndpointSnapshot } from '@weft/core';
import type { TrafficPolicy } from '@weft/policy';

/** Istio's `LocalityLoadBalancerSetting`, as the DestinationRule schema parses it. */
export type LocalityLbSetting = NonNullable<NonNullable<TrafficPolicy['loadBalancer']>['localityLbSetting']>;

/** The labels Kubernetes and Istio give a workload's locality; Istio matches `failoverPriority` on them too. */
export const LOCALITY_LABELS = {
  region: 'topology.kubernetes.io/region',
  zone: 'topology.kubernetes.io/zone',
  subzone: 'topology.istio.io/subzone',
  /** Istio's override of the whole locality, `region/zone/subzone` (or with dots, as a Kubernetes label value must be). */
  locality: 'istio-locality',
} as const;

/** Envoy's overprovisioning factor, in percent: a level with 1/1.4 (≈ 72 %) of its endpoints healthy takes all its load. */
export const OVERPROVISIONING_PERCENT = 140;

export interface Locality {
  readonly region: string;
  readonly zone: string;
  readonly subzone: string;
}

/** `region/zone/subzone` (or `region.zone.subzone`, as Istio's label) into its parts; missing parts are empty. */
export function parseLocality(text: string): Locality {
  const parts = text.includes('/') ? text.split('/') : text.split('.');
  return { region: parts[0] ?? '', zone: parts[1] ?? '', subzone: parts[2] ?? '' };
}

/**
 * The caller's locality, from its labels as Istio reads a pod's: `istio-locality` if set, else
 * `topology.kubernetes.io/region`, `topology.kubernetes.io/zone` and `topology.istio.io/subzone`.
 */
export function callerLocality(labels: Readonly<Record<string, string>>): Locality {
  const whole = labels[LOCALITY_LABELS.locality];
  if (whole !== undefined && whole !== '') return parseLocality(whole);
  return {
    region: labels[LOCALITY_LABELS.region] ?? '',
    zone: labels[LOCALITY_LABELS.zone] ?? '',
    subzone: labels[LOCALITY_LABELS.subzone] ?? '',
  };
}

/**
 * Istio's locality match: `rule` is `region[/zone[/subzone]]`, each part a name or `*`; a
 * missing zone or subzone matches any.
 */
export function localityMatches(locality: Locality, rule: string): boolean {
  const r = parseLocality(rule);
  return (
    (r.region === '*' || r.region === locality.region) &&
    (r.zone === '*' || r.zone === '' || r.zone === locality.zone) &&
    (r.subzone === '*' || r.subzone === '' || r.subzone === locality.subzone)
  );
}

/** Istio's closeness of an endpoint to the caller: 0 same subzone, 1 same zone, 2 same region, 3 elsewhere. */
function closeness(caller: Locality, e: Locality): number {
  if (caller.region !== e.region) return 3;
  if (caller.zone !== e.zone) return 2;
  return caller.subzone === e.subzone ? 0 : 1;
}

/** A label of an endpoint or the caller, with Istio's topology labels filled in from the locality. */
function labelOf(labels: Readonly<Record<string, string>>, locality: Locality, key: string): string {
  const own = labels[key];
  if (own !== undefined) return own;
  if (key === LOCALITY_LABELS.region) return locality.region;
  if (key === LOCALITY_LABELS.zone) return locality.zone;
  if (key === LOCALITY_LABELS.subzone) return locality.subzone;
  return '';
}

/** Who is calling: its locality and labels (for `failoverPriority`). */
export interface Caller {
  readonly locality: Locality;
  readonly labels: Readonly<Record<string, string>>;
}

/**
 * How a destination's endpoints are grouped: `priority` levels, traffic staying in the first
 * level that is healthy enough, or `weighted` groups (one per locality, from `distribute`), traffic
 * split by their weights. `group[i]` is the group of endpoint i; -1 means it gets no traffic.
 */
export interface LocalityGroups {
  readonly kind: 'priority' | 'weighted';
  readonly group: Int32Array;
  readonly count: number;
  /** Weight of each group (`weighted` only). */
  readonly weights: Float64Array;
}

/**
 * The groups Istio would give `endpoints` for this caller and setting, or `undefined` when
 * locality balancing leaves them as one flat set:
 * - `enabled: false`, or a caller without a locality (and no `failoverPriority`): off;
 * - `distribute`: the first entry whose `from` matches the caller; each `to` locality pattern's
 *   weight is shared by the localities it matches in proportion to their endpoints' weights, and
 *   localities no pattern matches get nothing (whether or not outlier detection is on, as Istio);
 * - otherwise, only with outlier detection (`failoverOn`), priority levels: `failoverPriority`
 *   labels (endpoints matching the caller on the first k labels rank above those matching on
 *   fewer; `label=value` compares with `value`), and, without it or with an explicit `failover`,
 *   closeness (same subzone, same zone, same region, then the `failover` region of the caller's
 *   region, then the rest), renumbered without gaps.
 */
export function localityGroups(
  endpoints: readonly Endpoint[],
  setting: LocalityLbSetting | undefined,
  caller: Caller,
  failoverOn: boolean,
): LocalityGroups | undefined {
  if (setting?.enabled === false || endpoints.length === 0) return undefined;
  const hasLocality = caller.locality.region !== '' || caller.locality.zone !== '' || caller.locality.subzone !== '';
  const localities = endpoints.map((e) => parseLocality(e.locality));
  if (setting?.distribute !== undefined) {
    return hasLocality ? distributeGroups(endpoints, localities, setting.distribute, caller.locality) : undefined;
  }
  if (!failoverOn) return undefined;
  const priorities = setting?.failoverPriority ?? [];
  const byLabels = priorities.length > 0 && Object.keys(caller.labels).length > 0;
  const byLocality = hasLocality && (!byLabels || (setting?.failover?.length ?? 0) > 0);
  if (!byLabels && !byLocality) return undefined;
  const rank = new Int32Array(endpoints.length);
  const keys = priorities.map((p) => p.split('=')[0] as string);
  const overrides = priorities.map((p) => {
    const eq = p.indexOf('=');
    return eq < 0 ? undefined : p.slice(eq + 1);
  });
  for (let i = 0; i < endpoints.length; i++) {
    const e = endpoints[i] as Endpoint;
    const loc = localities[i] as Locality;
    let r = 0;
    if (byLabels) {
      let labelRank = 0;
      for (let j = 0; j < keys.length; j++) {
        const key = keys[j] as string;
        const wanted = overrides[j] ?? labelOf(caller.labels, caller.locality, key);
        if (wanted !== labelOf(e.labels, loc, key)) {
          labelRank = keys.length - j;
          break;
        }
      }
      r = labelRank * 5;
    }
    if (byLocality) {
      let c = closeness(caller.locality, loc);
      if (c === 3) {
        const rule = setting?.failover?.find((f) => f.from === caller.locality.region);
        if (rule !== undefined && loc.region !== rule.to) c = 4;
      }
      r += c;
    }
    rank[i] = r;
  }
  // Renumber 0…k-1 in order, as Istio does.
  const distinct = [...new Set(rank)].sort((a, b) => a - b);
  if (distinct.length < 2) return undefined;
  const level = new Map(distinct.map((r, i) => [r, i]));
  const group = new Int32Array(endpoints.length);
  for (let i = 0; i < endpoints.length; i++) group[i] = level.get(rank[i] as number) as number;
  return { kind: 'priority', group, count: distinct.length, weights: new Float64Array(0) };
}

function distributeGroups(
  endpoints: readonly Endpoint[],
  localities: readonly Locality[],
  distribute: NonNullable<LocalityLbSetting['distribute']>,
  caller: Locality,
): LocalityGroups | undefined {
  const entry = distribute.find((d) => d.from !== undefined && localityMatches(caller, d.from));
  if (entry === undefined) return undefined;
  // One group per distinct locality, with the sum of its endpoints' weights.
  const names = new Map<string, number>();
  const own: number[] = [];
  const groupOfLocality: number[] = [];
  for (let i = 0; i < endpoints.length; i++) {
    const e = endpoints[i] as Endpoint;
    let g = names.get(e.locality);
    if (g === undefined) {
      g = names.size;
      names.set(e.locality, g);
      own.push(0);
    }
    own[g] = (own[g] as number) + e.weight;
    groupOfLocality[i] = g;
  }
  const firstOf = new Map<number, Locality>();
  for (let i = 0; i < endpoints.length; i++) {
    const g = groupOfLocality[i] as number;
    if (!firstOf.has(g)) firstOf.set(g, localities[i] as Locality);
  }
  const weights = new Float64Array(names.size);
  const claimed = new Uint8Array(names.size);
  // Each `to` pattern in order: the localities it matches (and no earlier one did) share its weight.
  for (const [pattern, weight] of Object.entries(entry.to ?? {})) {
    const matched: number[] = [];
    let total = 0;
    for (let g = 0; g < names.size; g++) {
      if (claimed[g] === 1 || !localityMatches(firstOf.get(g) as Locality, pattern)) continue;
      claimed[g] = 1;
      matched.push(g);
      total += own[g] as number;
    }
    for (const g of matched) weights[g] = total > 0 ? Math.ceil(((own[g] as number) * weight) / total) : 0;
  }
  const group = new Int32Array(endpoints.length);
  for (let i = 0; i < endpoints.length; i++) {
    const g = groupOfLocality[i] as number;
    group[i] = claimed[g] === 1 && (weights[g] as number) > 0 ? g : -1;
  }
  return { kind: 'weighted', group, count: names.size, weights };
}

/**
 * Where the calls go while some endpoints are out (ejected): the healthy endpoints of each group,
 * and the cumulative share of calls each group takes. Made once per (groups, healthy set).
 */
export interface LocalityPlan {
  /** The healthy endpoints of each group, as a snapshot of its own (`<service>@<group>`). */
  readonly snapshots: readonly EndpointSnapshot[];
  /** `upTo[g]`: the share of calls that go to groups 0…g; the last is 1. */
  readonly upTo: Float64Array;
  /** The group that takes every call, when one does; -1 otherwise. */
  readonly only: number;
}

/**
 * Envoy's split of load over priority levels or weighted localities:
 * - a group's health is `min(100, 140 × healthy / total)` percent (overprovisioning factor 1.4);
 * - priority levels: each level takes `health × 100 / min(100, Σ health)` percent of what is left,
 *   the first level first; so a level at ≥ 72 % healthy takes everything, and below that the next
 *   level takes the rest in proportion;
 * - weighted localities: each takes its weight × health, normalised.
 * When no group has a healthy endpoint, `undefined` (the caller keeps the healthy set as it is).
 */
export function localityPlan(
  full: EndpointSnapshot,
  groups: LocalityGroups,
  healthy: EndpointSnapshot,
): LocalityPlan | undefined {
  const count = groups.count;
  const total = new Float64Array(count);
  const members: Endpoint[][] = Array.from({ length: count }, () => []);
  const fullEndpoints = full.endpoints;
  const indexOf = new Map<string, number>();
  for (let i = 0; i < fullEndpoints.length; i++) {
    const g = groups.group[i] as number;
    if (g < 0) continue;
    total[g] = (total[g] as number) + 1;
    indexOf.set((fullEndpoints[i] as Endpoint).address, g);
  }
  for (const e of healthy.endpoints) {
    const g = indexOf.get(e.address);
    if (g !== undefined) members[g]?.push(e);
  }
  const health = new Float64Array(count);
  for (let g = 0; g < count; g++) {
    const t = total[g] as number;
    health[g] =
      t === 0 ? 0 : Math.min(100, Math.floor((OVERPROVISIONING_PERCENT * (members[g] as Endpoint[]).length) / t));
  }
  const load = new Float64Array(count);
  if (groups.kind === 'priority') {
    let sum = 0;
    for (let g = 0; g < count; g++) sum += health[g] as number;
    const normalized = Math.min(100, sum);
    if (normalized === 0) return undefined;
    let left = 100;
    for (let g = 0; g < count; g++) {
      const share = Math.min(left, Math.floor(((health[g] as number) * 100) / normalized));
      load[g] = share;
      left -= share;
    }
    // Rounding leftovers go to the first level that has healthy endpoints, as in Envoy.
    if (left > 0) {
      const first = health.findIndex((h) => h > 0);
      load[first] = (load[first] as number) + left;
    }
  } else {
    for (let g = 0; g < count; g++) load[g] = ((groups.weights[g] as number) * (health[g] as number)) / 100;
  }
  let sum = 0;
  for (let g = 0; g < count; g++) sum += load[g] as number;
  if (sum <= 0) return undefined;
  const upTo = new Float64Array(count);
  let acc = 0;
  let only = -1;
  let nonZero = 0;
  for (let g = 0; g < count; g++) {
    acc += (load[g] as number) / sum;
    upTo[g] = acc;
    if ((load[g] as number) > 0) {
      nonZero++;
      only = g;
    }
  }
  upTo[count - 1] = 1;
  const snapshots = members.map((endpoints, g) =>
    Object.freeze({ service: `${full.service}@${g}`, endpoints: Object.freeze(endpoints), version: healthy.version }),
  );
  return { snapshots, upTo, only: nonZero === 1 ? only : -1 };
}

/** The group of a call, from `r` uniform in [0, 1). */
export function groupAt(plan: LocalityPlan, r: number): number {
  if (plan.only >= 0) return plan.only;
  const upTo = plan.upTo;
  let g = 0;
  // A group with no share ends where the one before it does, so it is stepped over.
  while (g < upTo.length - 1 && r >= (upTo[g] as number)) g++;
  return g;
}
