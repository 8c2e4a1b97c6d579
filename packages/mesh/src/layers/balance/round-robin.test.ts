// Tests of round robin: plain turns with equal weights, earliest-deadline-first shares with different ones, slow start.
import { CallContext, type Endpoint, type EndpointSnapshot } from '@weft/core';
import { describe, expect, it } from 'vitest';
import { endpointAt } from '../../testing/fixtures.js';
import { roundRobin } from './round-robin.js';
import { EndpointBirths, SlowStart } from './slow-start.js';

const endpoint = (port: number, weight = 1): Endpoint => endpointAt(port, weight, '10.0.0.1');
const snapshot = (endpoints: Endpoint[], version = 1): EndpointSnapshot => ({
  service: 'reviews',
  endpoints,
  version,
});

function counts(pick: (s: EndpointSnapshot) => Endpoint | undefined, snap: EndpointSnapshot, n: number) {
  const out = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    const port = pick(snap)?.port ?? -1;
    out.set(port, (out.get(port) ?? 0) + 1);
  }
  return out;
}

describe('roundRobin with weights', () => {
  it('gives each endpoint turns in exact proportion to its weight', () => {
    const pick = roundRobin();
    const snap = snapshot([endpoint(1, 5), endpoint(2, 3), endpoint(3, 2)]);
    const ctx = new CallContext();
    const c = counts((s) => pick(s, ctx), snap, 1000);
    expect([c.get(1), c.get(2), c.get(3)]).toEqual([500, 300, 200]);
  });

  it('keeps the shares in every short stretch of calls, not only in the long run', () => {
    const pick = roundRobin();
    const snap = snapshot([endpoint(1, 3), endpoint(2), endpoint(3)]);
    const order = Array.from({ length: 40 }, () => pick(snap, new CallContext())?.port);
    // Any 5 calls in a row: 3 ± 1 to the endpoint of weight 3 (not 5 and then none, as a naive expansion would).
    for (let i = 0; i + 5 <= order.length; i++) {
      const heavy = order.slice(i, i + 5).filter((p) => p === 1).length;
      expect(Math.abs(heavy - 3), order.join('')).toBeLessThanOrEqual(1);
    }
    expect(order.filter((p) => p === 1).length).toBe(24);
  });

  it('still takes equal endpoints strictly in turn', () => {
    const pick = roundRobin();
    const snap = snapshot([endpoint(1, 4), endpoint(2, 4), endpoint(3, 4)]);
    expect(Array.from({ length: 6 }, () => pick(snap, new CallContext())?.port)).toEqual([1, 2, 3, 1, 2, 3]);
  });
});

describe('roundRobin with slow start', () => {
  it('gives a new endpoint a share that grows from the floor to a full share over the window', () => {
    let now = 1_000_000;
    const slowStart = new SlowStart(
      { windowMs: 10_000, minimumFraction: 0.1, aggression: 1 },
      new EndpointBirths(),
      () => now,
    );
    const pick = roundRobin({ slowStart });
    const old = [endpoint(1), endpoint(2), endpoint(3)];
    const first = snapshot(old);
    slowStart.begin(first);
    // Endpoint 4 arrives after the first snapshot: it warms.
    const grown = snapshot([...old, endpoint(4)], 2);
    const shareOfNew = (): number => {
      // A fresh snapshot object each time, so the schedule starts from the weights of this moment.
      const snap = snapshot(grown.endpoints as Endpoint[], 2);
      let mine = 0;
      for (let i = 0; i < 400; i++) {
        slowStart.begin(snap);
        if (pick(snap, new CallContext())?.port === 4) mine++;
      }
      return mine / 400;
    };
    slowStart.begin(grown);
    now += 500; // 5 % of the window: the 10 % floor
    const early = shareOfNew();
    now += 4_500; // half the window
    const middle = shareOfNew();
    now += 6_000; // past it
    const late = shareOfNew();
    // Weight 0.1 against 3 × 1 is 3 %; 0.5 is 14 %; a full share is 25 %.
    expect(early).toBeGreaterThan(0.02);
    expect(early).toBeLessThan(0.05);
    expect(middle).toBeGreaterThan(0.12);
    expect(middle).toBeLessThan(0.16);
    expect(late).toBe(0.25);
  });

  it('does not warm the endpoints of the first snapshot it sees', () => {
    const slowStart = new SlowStart({ windowMs: 60_000, minimumFraction: 0.1, aggression: 1 }, new EndpointBirths());
    const pick = roundRobin({ slowStart });
    const snap = snapshot([endpoint(1), endpoint(2)]);
    slowStart.begin(snap);
    expect(slowStart.warming).toBe(false);
    expect(Array.from({ length: 4 }, () => pick(snap, new CallContext())?.port)).toEqual([1, 2, 1, 2]);
  });
});
