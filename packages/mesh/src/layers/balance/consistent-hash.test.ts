// Tests of the ring hash and Maglev pickers: stickiness, spread, and how few keys move on an endpoint change.
import { CallContext, type Endpoint, type EndpointSnapshot, isWeftError } from '@weft/core';
import { describe, expect, it } from 'vitest';
import type { Picker } from './index.js';
import { maglev } from './maglev.js';
import { ringHash } from './ring-hash.js';

/** A call context carrying its precomputed hash key, as the balance layer's caller will set it. */
class KeyedContext extends CallContext {
  constructor(
    readonly hashKey: string | undefined,
    readonly triedEndpoints?: string[],
  ) {
    super();
  }
}
const key = (ctx: CallContext): string | undefined => (ctx as KeyedContext).hashKey;

const endpoint = (i: number, weight = 1): Endpoint => ({
  address: `10.0.${i >> 8}.${i & 255}:8080`,
  host: `10.0.${i >> 8}.${i & 255}`,
  port: 8080,
  labels: {},
  locality: '',
  weight,
});
const snapshot = (endpoints: Endpoint[], version = 1): EndpointSnapshot => ({
  service: 'reviews',
  endpoints,
  version,
});
const ten = Array.from({ length: 10 }, (_, i) => endpoint(i + 1));
const KEYS = 10_000;
const keys = Array.from({ length: KEYS }, (_, i) => `user-${i}`);

function assignments(pick: Picker, snap: EndpointSnapshot): string[] {
  return keys.map((k) => pick(snap, new KeyedContext(k))?.address ?? 'none');
}
function moved(before: string[], after: string[]): number {
  return before.filter((address, i) => address !== after[i]).length;
}

describe.each([
  ['ringHash', () => ringHash({ key })],
  ['maglev', () => maglev({ key })],
] as const)('%s', (_name, make) => {
  it('sends the same key to the same endpoint', () => {
    const pick = make();
    const snap = snapshot(ten);
    const first = pick(snap, new KeyedContext('alice'));
    for (let i = 0; i < 20; i++) expect(pick(snap, new KeyedContext('alice'))).toBe(first);
    // A new snapshot object with the same endpoints builds the same table.
    expect(pick(snapshot([...ten], 2), new KeyedContext('alice'))?.address).toBe(first?.address);
  });

  it('spreads keys over 10 endpoints within ±50% of the mean', () => {
    const counts = new Map<string, number>();
    for (const address of assignments(make(), snapshot(ten))) counts.set(address, (counts.get(address) ?? 0) + 1);
    expect(counts.size).toBe(10);
    for (const n of counts.values()) {
      expect(n).toBeGreaterThanOrEqual(KEYS / 10 / 2);
      expect(n).toBeLessThanOrEqual((KEYS / 10) * 1.5);
    }
  });

  it('moves about 1/N of the keys, no more, when one of N = 10 endpoints is removed', () => {
    const pick = make();
    const before = assignments(pick, snapshot(ten));
    const after = assignments(pick, snapshot(ten.filter((_, i) => i !== 3)));
    // Every key of the removed endpoint has to move; the others should stay.
    expect(moved(before, after)).toBeLessThanOrEqual((1.5 * KEYS) / 10);
  });

  it('moves about 1/N of the keys, no more, when an endpoint is added to N = 10', () => {
    const pick = make();
    const before = assignments(pick, snapshot(ten));
    const after = assignments(pick, snapshot([...ten, endpoint(11)]));
    expect(moved(before, after)).toBeLessThanOrEqual((1.5 * KEYS) / 10);
    expect(after).toContain(endpoint(11).address);
  });

  it('sends calls without a key to a random endpoint', () => {
    const pick = make();
    const seen = new Set<string | undefined>();
    for (let i = 0; i < 200; i++) seen.add(pick(snapshot(ten), new KeyedContext(undefined))?.address);
    expect(seen.size).toBeGreaterThan(1);
  });

  it('sends a retry to the same endpoint, keeping the affinity as Istio does', () => {
    const pick = make();
    const snap = snapshot(ten);
    const first = pick(snap, new KeyedContext('alice'))?.address as string;
    const retry = pick(snap, new KeyedContext('alice', [first]));
    expect(retry?.address).toBe(first);
    expect(pick.consistent).toBe(true);
  });

  it('gives endpoints shares of the keys in proportion to their weights', () => {
    const counts = new Map<string, number>();
    const weighted = [endpoint(1, 3), endpoint(2), endpoint(3)];
    for (const address of assignments(make(), snapshot(weighted))) counts.set(address, (counts.get(address) ?? 0) + 1);
    // 3 : 1 : 1 is 60 %, 20 %, 20 %; hashing spreads within a few points of that.
    expect((counts.get(endpoint(1).address) ?? 0) / KEYS).toBeCloseTo(0.6, 1);
    expect((counts.get(endpoint(2).address) ?? 0) / KEYS).toBeCloseTo(0.2, 1);
  });

  it('finds nothing in an empty snapshot', () => {
    expect(make()(snapshot([]), new KeyedContext('alice'))).toBeUndefined();
  });
});

describe('ringHash', () => {
  it('puts at least minimumRingSize virtual nodes on the ring', () => {
    expect(ringHash({ key }).ringSize(snapshot(ten))).toBeGreaterThanOrEqual(1024);
    expect(ringHash({ key, minimumRingSize: 5000 }).ringSize(snapshot(ten))).toBeGreaterThanOrEqual(5000);
    expect(
      ringHash({ key, minimumRingSize: 7 }).ringSize(snapshot([endpoint(1, 5), endpoint(2)])),
    ).toBeGreaterThanOrEqual(7);
  });

  it('rejects a minimumRingSize that is not a positive integer when built', () => {
    expect(() => ringHash({ key, minimumRingSize: 0 })).toThrow(
      expect.objectContaining({ code: 'WEFT_ERR_OPTION_VALUE' }),
    );
  });
});

describe('maglev', () => {
  it('rejects a table size that is not a prime with WEFT_ERR_OPTION_VALUE', () => {
    for (const tableSize of [65536, 1, 0, 2.5, 100]) {
      try {
        maglev({ key, tableSize });
        expect.unreachable();
      } catch (error) {
        expect(isWeftError(error, 'WEFT_ERR_OPTION_VALUE')).toBe(true);
      }
    }
  });

  it('fills every slot of a prime table', () => {
    const table = maglev({ key, tableSize: 251 }).table(snapshot(ten));
    expect(table.length).toBe(251);
    expect(table.every((owner) => owner < 10)).toBe(true);
  });
});
