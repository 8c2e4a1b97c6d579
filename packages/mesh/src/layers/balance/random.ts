// Random: each call to an endpoint drawn at random, in proportion to the endpoints' weights.
import type { Endpoint, EndpointSnapshot } from '@weft/core';
import type { Picker } from './index.js';

export interface RandomOptions {
  /** A source of uniform numbers in [0, 1); `Math.random` by default (tests pass a seeded one). */
  random?: () => number;
}

/**
 * Vose's alias table of a snapshot whose weights differ: slot i keeps its own index with
 * probability `keep[i]` and gives the pick to `alias[i]` otherwise, so a weighted draw is one
 * uniform number and two array reads. `null` when all weights are equal (a plain uniform pick).
 * Built once per snapshot: snapshots are immutable.
 */
interface AliasTable {
  readonly keep: Float64Array;
  readonly alias: Uint32Array;
}

const aliasTables = new WeakMap<EndpointSnapshot, AliasTable | null>();

/** Whether every endpoint of `snapshot` has the same weight (an empty one: yes). Cached per snapshot. */
export function equalWeights(snapshot: EndpointSnapshot): boolean {
  return aliasOf(snapshot) === null;
}

function aliasOf(snapshot: EndpointSnapshot): AliasTable | null {
  let table = aliasTables.get(snapshot);
  if (table !== undefined) return table;
  table = buildAlias(snapshot.endpoints);
  aliasTables.set(snapshot, table);
  return table;
}

function buildAlias(endpoints: readonly Endpoint[]): AliasTable | null {
  const n = endpoints.length;
  const first = endpoints[0]?.weight;
  let total = 0;
  let equal = true;
  for (let i = 0; i < n; i++) {
    const w = (endpoints[i] as Endpoint).weight;
    if (w !== first) equal = false;
    total += Math.max(0, w);
  }
  if (equal || total <= 0) return null;
  const keep = new Float64Array(n);
  const alias = new Uint32Array(n);
  // Work lists of slots under and over the mean, kept in one array from both ends.
  const work = new Uint32Array(n);
  let small = 0;
  let large = n;
  for (let i = 0; i < n; i++) {
    keep[i] = (Math.max(0, (endpoints[i] as Endpoint).weight) * n) / total;
    if ((keep[i] as number) < 1) work[small++] = i;
    else work[--large] = i;
  }
  while (small > 0 && large < n) {
    const s = work[--small] as number;
    const l = work[large++] as number;
    alias[s] = l;
    keep[l] = (keep[l] as number) + (keep[s] as number) - 1;
    if ((keep[l] as number) < 1) work[small++] = l;
    else work[--large] = l;
  }
  // What is left is 1 up to rounding.
  while (small > 0) keep[work[--small] as number] = 1;
  while (large < n) keep[work[large++] as number] = 1;
  return { keep, alias };
}

/** The index of a weight-proportional random endpoint of a non-empty snapshot, from `r` in [0, 1); O(1). */
export function weightedIndex(snapshot: EndpointSnapshot, r: number): number {
  const n = snapshot.endpoints.length;
  const x = r * n;
  const i = Math.min(n - 1, Math.floor(x));
  const table = aliasOf(snapshot);
  if (table === null) return i;
  // The fraction left of `x` is a second uniform number, independent enough of `i` for a draw.
  return x - i < (table.keep[i] as number) ? i : (table.alias[i] as number);
}

/** Istio's `RANDOM`: an endpoint drawn at random, an endpoint of weight 2 twice as often as one of weight 1. */
export function random(options: RandomOptions = {}): Picker {
  const rand = options.random ?? Math.random;
  return (snapshot: EndpointSnapshot): Endpoint | undefined => {
    if (snapshot.endpoints.length === 0) return undefined;
    return snapshot.endpoints[weightedIndex(snapshot, rand())];
  };
}
