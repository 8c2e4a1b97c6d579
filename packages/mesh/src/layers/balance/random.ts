// Random: each call to an endpoint drawn at random, in proportion to the endpoints' weights.
import type { Endpoint, EndpointSnapshot } from '@weft/core';
import type { Picker } from './index.js';

export interface RandomOptions {
  /** A source of uniform numbers in [0, 1); `Math.random` by default (tests pass a seeded one). */
  random?: () => number;
}

/**
 * Running sums of the weights of a snapshot whose weights differ, `null` when they are all
 * equal (a plain uniform pick then). Built once per snapshot: snapshots are immutable.
 */
const cumulativeWeights = new WeakMap<EndpointSnapshot, Float64Array | null>();

function cumulativeOf(snapshot: EndpointSnapshot): Float64Array | null {
  let sums = cumulativeWeights.get(snapshot);
  if (sums !== undefined) return sums;
  const endpoints = snapshot.endpoints;
  const first = endpoints[0]?.weight;
  if (endpoints.every((e) => e.weight === first)) {
    sums = null;
  } else {
    sums = new Float64Array(endpoints.length);
    let total = 0;
    for (let i = 0; i < endpoints.length; i++) {
      total += Math.max(0, (endpoints[i] as Endpoint).weight);
      sums[i] = total;
    }
  }
  cumulativeWeights.set(snapshot, sums);
  return sums;
}

/** The index of a weight-proportional random endpoint of a non-empty snapshot, from `r` in [0, 1). */
export function weightedIndex(snapshot: EndpointSnapshot, r: number): number {
  const n = snapshot.endpoints.length;
  const sums = cumulativeOf(snapshot);
  if (sums === null) return Math.min(n - 1, Math.floor(r * n));
  const target = r * (sums[n - 1] as number);
  // First index whose running sum exceeds the target.
  let lo = 0;
  let hi = n - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((sums[mid] as number) > target) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** Istio's `RANDOM`: an endpoint drawn at random, an endpoint of weight 2 twice as often as one of weight 1. */
export function random(options: RandomOptions = {}): Picker {
  const rand = options.random ?? Math.random;
  return (snapshot: EndpointSnapshot): Endpoint | undefined => {
    if (snapshot.endpoints.length === 0) return undefined;
    return snapshot.endpoints[weightedIndex(snapshot, rand())];
  };
}
