// Tests of the least-request picker: power of two choices over attempts in flight.
import { CallContext, type Endpoint, type EndpointSnapshot, isWeftError } from '@weft/core';
import { describe, expect, it } from 'vitest';
import { endpointAt } from '../../testing/fixtures.js';
import { leastRequest } from './least-request.js';

const endpoint = (port: number, weight = 1): Endpoint => endpointAt(port, weight, '10.0.0.1');
const snapshot = (endpoints: Endpoint[]): EndpointSnapshot => ({ service: 'reviews', endpoints, version: 1 });

/** Returns the given numbers in turn, forever. */
function scripted(...values: number[]): () => number {
  let i = 0;
  return () => values[i++ % values.length] as number;
}

describe('leastRequest', () => {
  const [a, b, c] = [endpoint(1), endpoint(2), endpoint(3)] as [Endpoint, Endpoint, Endpoint];
  const snap = snapshot([a, b, c]);

  it('prefers the less loaded of the two endpoints it draws', () => {
    // Draws a (0.1) then b (0.5).
    const pick = leastRequest({ random: scripted(0.1, 0.5) });
    pick.started(a);
    pick.started(a);
    expect(pick(snap, new CallContext())).toBe(b);
    pick.started(b);
    pick.started(b);
    pick.started(b);
    expect(pick(snap, new CallContext())).toBe(a);
  });

  it('takes the first drawn endpoint on a tie', () => {
    const pick = leastRequest({ random: scripted(0.5, 0.1) });
    expect(pick(snap, new CallContext())).toBe(b);
  });

  it('counts attempts in flight through started and finished', () => {
    const pick = leastRequest();
    pick.started(a);
    pick.started(a);
    expect(pick.active(a.address)).toBe(2);
    pick.finished(a);
    pick.finished(a);
    pick.finished(a);
    expect(pick.active(a.address)).toBe(0);
  });

  it('spreads calls that never finish evenly over the endpoints', () => {
    const endpoints = Array.from({ length: 10 }, (_, i) => endpoint(8000 + i));
    let seed = 7;
    const pick = leastRequest({
      random: () => {
        seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
        return seed / 4294967296;
      },
    });
    const snap10 = snapshot(endpoints);
    for (let i = 0; i < 1000; i++) pick.started(pick(snap10, new CallContext()) as Endpoint);
    const loads = endpoints.map((e) => pick.active(e.address));
    // Power of two choices keeps the spread within a few calls of the mean (100).
    expect(Math.max(...loads) - Math.min(...loads)).toBeLessThanOrEqual(4);
  });

  it('gives weighted endpoints shares in proportion to their weights when calls do not overlap', () => {
    const pick = leastRequest();
    const heavy = endpoint(1, 3);
    const light = endpoint(2, 1);
    const snap2 = snapshot([heavy, light]);
    let toHeavy = 0;
    for (let i = 0; i < 400; i++) {
      const e = pick(snap2, new CallContext()) as Endpoint;
      pick.started(e);
      pick.finished(e);
      if (e === heavy) toHeavy++;
    }
    expect(toHeavy).toBe(300);
  });

  it("divides a weighted endpoint's weight by its calls in flight (Envoy: weight / (active + 1))", () => {
    const pick = leastRequest();
    const heavy = endpoint(1, 3);
    const light = endpoint(2, 1);
    const snap2 = snapshot([heavy, light]);
    // Five calls stuck on the heavy endpoint: its weight is 3 / 6 = 0.5 against 1, so it gets a third.
    for (let i = 0; i < 5; i++) pick.started(heavy);
    let toHeavy = 0;
    for (let i = 0; i < 300; i++) {
      const e = pick(snap2, new CallContext()) as Endpoint;
      if (e === heavy) toHeavy++;
    }
    expect(toHeavy).toBeGreaterThanOrEqual(95);
    expect(toHeavy).toBeLessThanOrEqual(105);
  });

  it('rejects a choiceCount below 2 when built', () => {
    try {
      leastRequest({ choiceCount: 1 });
      expect.unreachable();
    } catch (error) {
      expect(isWeftError(error, 'WEFT_ERR_OPTION_VALUE')).toBe(true);
    }
  });

  it('finds nothing in an empty snapshot', () => {
    expect(leastRequest()(snapshot([]), new CallContext())).toBeUndefined();
  });
});
