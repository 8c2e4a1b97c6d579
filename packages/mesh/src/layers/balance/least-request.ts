// Least request: of a few endpoints drawn at random, the one with the fewest calls in flight (Envoy's LEAST_REQUEST).
import { type Endpoint, type EndpointSnapshot, WeftError } from '@weft/core';
import { EdfSchedule } from './edf.js';
import type { Picker } from './index.js';
import { equalWeights } from './random.js';
import type { SlowStart } from './slow-start.js';

export interface LeastRequestOptions {
  /** A source of uniform numbers in [0, 1); `Math.random` by default (tests pass a scripted one). */
  random?: () => number;
  /** How many endpoints are drawn for each pick (Envoy's `choice_count`); 2 by default ("power of two choices"). */
  choiceCount?: number;
  /**
   * How strongly requests in flight lower a weighted endpoint's weight (Envoy's
   * `active_request_bias`): `weight / (active + 1) ^ bias`; 1 by default, 0 is plain weighted round robin.
   */
  activeRequestBias?: number;
  /** Slow start of new endpoints (set by the policy picker, which calls its `begin` before each pick). */
  slowStart?: SlowStart;
}

export const LEAST_REQUEST_DEFAULTS = {
  /** Endpoints drawn per pick. */
  choiceCount: 2,
  /** Exponent of `active + 1` in the weighted variant. */
  activeRequestBias: 1,
} as const;

/**
 * A least-request picker, plus the bookkeeping it reads.
 *
 * Contract with the balance layer: after this picker chose `ctx.endpoint`, the layer calls
 * `started(endpoint)` just before the attempt goes down the pipeline, and `finished(endpoint)`
 * exactly once when that attempt settles (answer, error, timeout or abort alike, e.g. in a
 * `finally`). A missed `finished` leaves the endpoint looking busy for the life of the picker.
 */
export interface LeastRequestPicker extends Picker {
  started(endpoint: Endpoint): void;
  finished(endpoint: Endpoint): void;
  /** Attempts in flight to `address` (`host:port`), as counted through `started`/`finished`. */
  active(address: string): number;
}

/**
 * Istio's `LEAST_REQUEST`, as Envoy runs it:
 * - all weights equal: draws `choiceCount` endpoints uniformly at random (with replacement) and
 *   takes the one with the fewest attempts in flight, the first drawn on a tie ("power of two
 *   choices"), O(1);
 * - weights differ, or an endpoint is in slow start: Envoy's weighted variant, an
 *   earliest-deadline-first schedule (as weighted round robin) whose weights are
 *   `weight / (active + 1) ^ activeRequestBias`, read when an endpoint is put back, O(log n). Under
 *   light load the shares follow the weights exactly; a busy endpoint's turns come more slowly.
 *
 * Counts are kept per endpoint address, across services: two services served by one address
 * share that process's load.
 */
export function leastRequest(options: LeastRequestOptions = {}): LeastRequestPicker {
  const rand = options.random ?? Math.random;
  const choiceCount = options.choiceCount ?? LEAST_REQUEST_DEFAULTS.choiceCount;
  if (!Number.isInteger(choiceCount) || choiceCount < 2) {
    throw new WeftError(
      'WEFT_ERR_OPTION_VALUE',
      `leastRequest: choiceCount ${String(choiceCount)} is not an integer of at least 2`,
    );
  }
  const bias = options.activeRequestBias ?? LEAST_REQUEST_DEFAULTS.activeRequestBias;
  if (!(bias >= 0) || !Number.isFinite(bias)) {
    throw new WeftError('WEFT_ERR_OPTION_VALUE', `leastRequest: activeRequestBias ${String(bias)} must be 0 or more`);
  }
  const { slowStart } = options;
  const inFlight = new Map<string, number>();
  const schedules = new WeakMap<EndpointSnapshot, { schedule: EdfSchedule; weightOf: (i: number) => number }>();

  const weightOf = (e: Endpoint): number => {
    const weight = slowStart === undefined ? e.weight : slowStart.weight(e);
    if (bias === 0) return weight;
    const active = (inFlight.get(e.address) ?? 0) + 1;
    return bias === 1 ? weight / active : weight / active ** bias;
  };

  const weighted = (snapshot: EndpointSnapshot): Endpoint => {
    const endpoints = snapshot.endpoints;
    let s = schedules.get(snapshot);
    if (s === undefined) {
      const of = (i: number) => weightOf(endpoints[i] as Endpoint);
      s = { schedule: new EdfSchedule(endpoints.length, of), weightOf: of };
      schedules.set(snapshot, s);
    }
    return endpoints[s.schedule.pick(s.weightOf)] as Endpoint;
  };

  // Whether the last snapshot picked from has equal weights, kept at hand so the common case reads no map.
  let lastSnapshot: EndpointSnapshot | undefined;
  let lastEqual = true;

  const pick = (snapshot: EndpointSnapshot): Endpoint | undefined => {
    const endpoints = snapshot.endpoints;
    const n = endpoints.length;
    if (n === 0) return undefined;
    if (n === 1) return endpoints[0];
    if (snapshot !== lastSnapshot) {
      lastSnapshot = snapshot;
      lastEqual = equalWeights(snapshot);
    }
    if (!lastEqual || slowStart?.warming === true) return weighted(snapshot);
    let best: Endpoint | undefined;
    let bestActive = Number.POSITIVE_INFINITY;
    for (let i = 0; i < choiceCount; i++) {
      const candidate = endpoints[Math.min(n - 1, Math.floor(rand() * n))] as Endpoint;
      const active = inFlight.get(candidate.address) ?? 0;
      if (active < bestActive) {
        best = candidate;
        bestActive = active;
      }
    }
    return best;
  };

  return Object.assign(pick, {
    started(endpoint: Endpoint): void {
      inFlight.set(endpoint.address, (inFlight.get(endpoint.address) ?? 0) + 1);
    },
    finished(endpoint: Endpoint): void {
      const n = inFlight.get(endpoint.address) ?? 0;
      // Deleting at zero keeps the map to the endpoints with calls in flight.
      if (n <= 1) inFlight.delete(endpoint.address);
      else inFlight.set(endpoint.address, n - 1);
    },
    active(address: string): number {
      return inFlight.get(address) ?? 0;
    },
  });
}
