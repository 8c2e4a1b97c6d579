// Round robin: each service's endpoints in turn, weighted by earliest deadline first when weights differ (Envoy's ROUND_ROBIN).
import type { Endpoint, EndpointSnapshot } from '@weft/core';
import { EdfSchedule } from './edf.js';
import type { Picker } from './index.js';
import { equalWeights } from './random.js';
import type { SlowStart } from './slow-start.js';

export interface RoundRobinOptions {
  /** Slow start of new endpoints (set by the policy picker, which calls its `begin` before each pick). */
  slowStart?: SlowStart;
}

/** The weighted schedule of one snapshot, and the weight function it reads (made once, not per pick). */
interface Weighted {
  readonly schedule: EdfSchedule;
  readonly weightOf: (index: number) => number;
}

/**
 * Istio's `ROUND_ROBIN`. Equal weights: one counter per service, O(1), kept across endpoint
 * changes so a change does not send the next calls back to the first endpoint. Different
 * weights, or an endpoint in slow start: Envoy's earliest-deadline-first schedule, O(log n), an
 * endpoint of weight 3 taking three turns for each turn of one of weight 1, in a smooth order
 * (a, b, a, c, a, b … rather than a, a, a, b, c). A new snapshot starts a new schedule.
 */
export function roundRobin(options: RoundRobinOptions = {}): Picker {
  const { slowStart } = options;
  const next = new Map<string, number>();
  const schedules = new WeakMap<EndpointSnapshot, Weighted>();

  const weightedOf = (snapshot: EndpointSnapshot): Weighted => {
    let w = schedules.get(snapshot);
    if (w === undefined) {
      const endpoints = snapshot.endpoints;
      const weightOf =
        slowStart === undefined
          ? (i: number) => (endpoints[i] as Endpoint).weight
          : (i: number) => slowStart.weight(endpoints[i] as Endpoint);
      w = { schedule: new EdfSchedule(endpoints.length, weightOf), weightOf };
      schedules.set(snapshot, w);
    }
    return w;
  };

  return (snapshot: EndpointSnapshot): Endpoint | undefined => {
    const endpoints = snapshot.endpoints;
    const n = endpoints.length;
    if (n === 0) return undefined;
    if (n > 1 && (slowStart?.warming === true || !equalWeights(snapshot))) {
      const w = weightedOf(snapshot);
      return endpoints[w.schedule.pick(w.weightOf)];
    }
    const i = next.get(snapshot.service) ?? 0;
    next.set(snapshot.service, i + 1 >= n ? 0 : i + 1);
    return endpoints[i < n ? i : i % n];
  };
}
