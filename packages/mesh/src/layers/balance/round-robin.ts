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

/** What round robin keeps for one snapshot: whether its weights are equal, its schedule once needed, its service's turn. */
interface State {
  readonly snapshot: EndpointSnapshot;
  readonly equal: boolean;
  /** The service's next turn, shared by every snapshot of the service. */
  readonly turn: { next: number };
  schedule: EdfSchedule | undefined;
  readonly weightOf: (index: number) => number;
}

/**
 * Istio's `ROUND_ROBIN`. Equal weights: one counter per service, O(1), kept across endpoint
 * changes so a change does not send the next calls back to the first endpoint. Different
 * weights, or an endpoint in slow start: Envoy's earliest-deadline-first schedule, O(log n), an
 * endpoint of weight 3 taking three turns for each turn of one of weight 1, spread out rather
 * than in a row. A new snapshot starts a new schedule. The state of the last snapshot picked
 * from is kept at hand, so the common case (the same snapshot again) reads no map.
 */
export function roundRobin(options: RoundRobinOptions = {}): Picker {
  const { slowStart } = options;
  const turns = new Map<string, { next: number }>();
  const states = new WeakMap<EndpointSnapshot, State>();
  let last: State | undefined;

  const stateOf = (snapshot: EndpointSnapshot): State => {
    let state = states.get(snapshot);
    if (state === undefined) {
      let turn = turns.get(snapshot.service);
      if (turn === undefined) {
        turn = { next: 0 };
        turns.set(snapshot.service, turn);
      }
      const endpoints = snapshot.endpoints;
      const weightOf =
        slowStart === undefined
          ? (i: number) => (endpoints[i] as Endpoint).weight
          : (i: number) => slowStart.weight(endpoints[i] as Endpoint);
      state = { snapshot, equal: equalWeights(snapshot), turn, schedule: undefined, weightOf };
      states.set(snapshot, state);
    }
    return state;
  };

  return (snapshot: EndpointSnapshot): Endpoint | undefined => {
    const endpoints = snapshot.endpoints;
    const n = endpoints.length;
    if (n === 0) return undefined;
    const state = last !== undefined && last.snapshot === snapshot ? last : stateOf(snapshot);
    last = state;
    if (n > 1 && (!state.equal || slowStart?.warming === true)) {
      state.schedule ??= new EdfSchedule(n, state.weightOf);
      return endpoints[state.schedule.pick(state.weightOf)];
    }
    const turn = state.turn;
    const i = turn.next < n ? turn.next : turn.next % n;
    turn.next = i + 1 >= n ? 0 : i + 1;
    return endpoints[i];
  };
}
