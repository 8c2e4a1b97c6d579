// Least request: of a few endpoints drawn at random, the one with the fewest calls in flight (Envoy's LEAST_REQUEST).
import { type Endpoint, type EndpointSnapshot, WeftError } from '@weft/core';
import type { Picker } from './index.js';
import { weightedIndex } from './random.js';

export interface LeastRequestOptions {
  /** A source of uniform numbers in [0, 1); `Math.random` by default (tests pass a scripted one). */
  random?: () => number;
  /** How many endpoints are drawn for each pick (Envoy's `choice_count`); 2 by default ("power of two choices"). */
  choiceCount?: number;
}

export const LEAST_REQUEST_DEFAULTS = {
  /** Endpoints drawn per pick. */
  choiceCount: 2,
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
 * Istio's `LEAST_REQUEST`: draws `choiceCount` endpoints at random (with replacement, as Envoy
 * does) and takes the one with the fewest attempts in flight, the first drawn on a tie. When the
 * endpoints' weights differ, the draws follow the weights and the load compared is
 * `(active + 1) / weight`, an approximation of Envoy's weighted variant (which scales each
 * weight by `1 / (active + 1)` and then picks by weighted round robin).
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
  const inFlight = new Map<string, number>();

  const pick = (snapshot: EndpointSnapshot): Endpoint | undefined => {
    const endpoints = snapshot.endpoints;
    if (endpoints.length === 0) return undefined;
    if (endpoints.length === 1) return endpoints[0];
    let best: Endpoint | undefined;
    let bestLoad = Number.POSITIVE_INFINITY;
    for (let i = 0; i < choiceCount; i++) {
      const candidate = endpoints[weightedIndex(snapshot, rand())] as Endpoint;
      const load = ((inFlight.get(candidate.address) ?? 0) + 1) / Math.max(candidate.weight, Number.MIN_VALUE);
      if (load < bestLoad) {
        best = candidate;
        bestLoad = load;
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
