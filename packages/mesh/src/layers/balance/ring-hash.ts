// Ring hash: consistent hashing of a per-call key onto a ring of virtual nodes (Istio's consistentHash.ringHash).
import { type CallContext, type Endpoint, type EndpointSnapshot, WeftError } from '@weft/core';
import { murmur3 } from './hash.js';
import type { Picker } from './index.js';
import { weightedIndex } from './random.js';

export interface RingHashOptions {
  /** Fewest virtual nodes on the ring (Istio's `ringHash.minimumRingSize`); 1024 by default, as Envoy. */
  minimumRingSize?: number;
  /** The call's hash key (see `hashKeyOf`); `undefined` means no key, and the call goes to a random endpoint. */
  key: (ctx: CallContext) => string | undefined;
  /** A source of uniform numbers in [0, 1) for calls without a key; `Math.random` by default. */
  random?: () => number;
}

export const RING_HASH_DEFAULTS = {
  /** Virtual nodes, at least (Envoy's `minimum_ring_size`). */
  minimumRingSize: 1024,
  /** Virtual nodes, at most (Envoy's `maximum_ring_size`). */
  maximumRingSize: 8 * 1024 * 1024,
} as const;

/** Endpoint indexes are packed under the hash in one float64 (2^32 × 2^21 < 2^53), so one typed sort orders both. */
const INDEX_BITS = 2 ** 21;

/** A built ring: sorted positions, and the endpoint index at each position. */
interface Ring {
  readonly hashes: Uint32Array;
  readonly owners: Uint32Array;
}

function nextPowerOfTwo(n: number): number {
  return n <= 1 ? 1 : 2 ** Math.ceil(Math.log2(n));
}

/**
 * Builds the ring of a snapshot: endpoint `e` gets `ceil(weight(e) × k)` virtual nodes at
 * `murmur3("address_i")`, i = 0, 1, … .
 *
 * Departure from Envoy, on purpose: Envoy takes `k = minimumRingSize / totalWeight`, so every
 * endpoint added or removed changes every other endpoint's node count and moves noticeably more
 * than 1/N of the keys. weft rounds `k` up to a power of two, so node counts (and hence keys)
 * stay put unless the total weight crosses a power-of-two boundary; the ring is then between
 * `minimumRingSize` and twice that.
 */
function buildRing(snapshot: EndpointSnapshot, minimumRingSize: number): Ring {
  const endpoints = snapshot.endpoints;
  if (endpoints.length >= INDEX_BITS) {
    throw new WeftError('WEFT_ERR_OPTION_VALUE', `ringHash: ${snapshot.service} has too many endpoints for a ring`, {
      service: snapshot.service,
    });
  }
  let totalWeight = 0;
  for (const e of endpoints) totalWeight += Math.max(1, e.weight);
  let k = nextPowerOfTwo(minimumRingSize / totalWeight);
  while (k > 1 && totalWeight * k > RING_HASH_DEFAULTS.maximumRingSize) k /= 2;
  const counts = endpoints.map((e) => Math.ceil(Math.max(1, e.weight) * k));
  const size = counts.reduce((a, b) => a + b, 0);
  const packed = new Float64Array(size);
  let at = 0;
  for (let i = 0; i < endpoints.length; i++) {
    const address = (endpoints[i] as Endpoint).address;
    for (let v = 0; v < (counts[i] as number); v++) packed[at++] = murmur3(`${address}_${v}`) * INDEX_BITS + i;
  }
  packed.sort();
  const hashes = new Uint32Array(size);
  const owners = new Uint32Array(size);
  for (let j = 0; j < size; j++) {
    const p = packed[j] as number;
    const owner = p % INDEX_BITS;
    owners[j] = owner;
    hashes[j] = (p - owner) / INDEX_BITS;
  }
  return { hashes, owners };
}

/** Index of the first ring position at or after `hash`, wrapping to 0. */
function positionOf(ring: Ring, hash: number): number {
  const hashes = ring.hashes;
  let lo = 0;
  let hi = hashes.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((hashes[mid] as number) < hash) lo = mid + 1;
    else hi = mid;
  }
  return lo === hashes.length ? 0 : lo;
}

/** Rings, one per snapshot object; a new snapshot (an endpoint change) gets a new ring. */
type RingCache = WeakMap<EndpointSnapshot, Ring>;

function ringOf(cache: RingCache, snapshot: EndpointSnapshot, minimumRingSize: number): Ring {
  let ring = cache.get(snapshot);
  if (ring === undefined) {
    ring = buildRing(snapshot, minimumRingSize);
    cache.set(snapshot, ring);
  }
  return ring;
}

export interface RingHashPicker extends Picker {
  /** Virtual nodes on the ring of `snapshot` (built if need be); for tests and diagnostics. */
  ringSize(snapshot: EndpointSnapshot): number;
}

/** Checks a positive integer option when the picker is built, never on the first call. */
export function positiveIntegerOption(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new WeftError('WEFT_ERR_OPTION_VALUE', `${name} ${String(value)} is not a positive integer`);
  }
  return value;
}

/**
 * Istio's `consistentHash` with `ringHash`: the same key goes to the same endpoint while the
 * endpoints stay the same, and when one of N endpoints comes or goes about 1/N of keys move.
 *
 * A retry hashes to the same endpoint: Istio leaves out the previous-hosts retry predicate for
 * consistent-hash destinations, to keep the affinity (`consistent` tells the balance layer so).
 */
export function ringHash(options: RingHashOptions): RingHashPicker {
  const minimumRingSize = positiveIntegerOption(
    'ringHash: minimumRingSize',
    options.minimumRingSize ?? RING_HASH_DEFAULTS.minimumRingSize,
  );
  if (minimumRingSize > RING_HASH_DEFAULTS.maximumRingSize) {
    throw new WeftError(
      'WEFT_ERR_OPTION_VALUE',
      `ringHash: minimumRingSize ${minimumRingSize} is above the maximum ring size ${RING_HASH_DEFAULTS.maximumRingSize}`,
    );
  }
  const { key } = options;
  const rand = options.random ?? Math.random;
  const cache: RingCache = new WeakMap();

  const pick = (snapshot: EndpointSnapshot, ctx: CallContext): Endpoint | undefined => {
    const endpoints = snapshot.endpoints;
    if (endpoints.length === 0) return undefined;
    const k = key(ctx);
    if (k === undefined) return endpoints[weightedIndex(snapshot, rand())];
    const ring = ringOf(cache, snapshot, minimumRingSize);
    return endpoints[ring.owners[positionOf(ring, murmur3(k))] as number];
  };

  return Object.assign(pick, {
    consistent: true as const,
    ringSize(snapshot: EndpointSnapshot): number {
      return snapshot.endpoints.length === 0 ? 0 : ringOf(cache, snapshot, minimumRingSize).hashes.length;
    },
  });
}
