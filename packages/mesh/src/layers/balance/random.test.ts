// Tests of the random picker: weight-proportional picks, checked with a chi-squared test.
import { CallContext, type Endpoint, type EndpointSnapshot } from '@weft/core';
import { describe, expect, it } from 'vitest';
import { endpointAt, seeded } from '../../testing/fixtures.js';
import { random } from './random.js';

const endpoint = (port: number, weight = 1): Endpoint => endpointAt(port, weight, '10.0.0.1');
const snapshot = (endpoints: Endpoint[]): EndpointSnapshot => ({ service: 'reviews', endpoints, version: 1 });

describe('random', () => {
  it('picks endpoints in proportion to their weights (chi-squared, p = 0.001)', () => {
    const weights = [1, 1, 2, 3, 5];
    const snap = snapshot(weights.map((w, i) => endpoint(8000 + i, w)));
    const pick = random({ random: seeded(42) });
    const picks = 10_000;
    const counts = new Map<string, number>();
    for (let i = 0; i < picks; i++) {
      const address = pick(snap, new CallContext())?.address ?? 'none';
      counts.set(address, (counts.get(address) ?? 0) + 1);
    }
    const total = weights.reduce((a, b) => a + b, 0);
    let chi2 = 0;
    snap.endpoints.forEach((e, i) => {
      const expected = (picks * (weights[i] as number)) / total;
      chi2 += ((counts.get(e.address) ?? 0) - expected) ** 2 / expected;
    });
    // Critical value of chi-squared with 4 degrees of freedom at p = 0.001.
    expect(chi2).toBeLessThan(18.467);
    expect(counts.has('none')).toBe(false);
  });

  it('picks uniformly when all weights are equal', () => {
    const snap = snapshot([endpoint(1), endpoint(2), endpoint(3), endpoint(4)]);
    const pick = random({ random: () => 0.6 });
    expect(pick(snap, new CallContext())?.port).toBe(3);
  });

  it('never picks an endpoint of weight 0 next to weighted ones and never runs past the end', () => {
    const snap = snapshot([endpoint(1, 0), endpoint(2, 3)]);
    expect(random({ random: () => 0 })(snap, new CallContext())?.port).toBe(2);
    expect(random({ random: () => 0.9999999 })(snap, new CallContext())?.port).toBe(2);
  });

  it('finds nothing in an empty snapshot', () => {
    expect(random()(snapshot([]), new CallContext())).toBeUndefined();
  });
});
