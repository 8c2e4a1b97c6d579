// Tests of slow start: Envoy's ramp formula and when an endpoint counts as new.
import type { Endpoint, EndpointSnapshot } from '@weft/core';
import { describe, expect, it } from 'vitest';
import { endpointAt } from '../../testing/fixtures.js';
import { EndpointBirths, SlowStart, slowStartFactor, slowStartSettings } from './slow-start.js';

const snapshot = (endpoints: Endpoint[]): EndpointSnapshot => ({ service: 'reviews', endpoints, version: 1 });

describe('slowStartFactor', () => {
  const linear = { windowMs: 10_000, minimumFraction: 0.1, aggression: 1 };

  it('ramps linearly from the floor to 1 over the window', () => {
    expect(slowStartFactor(0, linear)).toBe(0.1);
    expect(slowStartFactor(5_000, linear)).toBe(0.5);
    expect(slowStartFactor(10_000, linear)).toBe(1);
  });

  it('ramps faster at first with a higher aggression (time ^ 1/aggression)', () => {
    expect(slowStartFactor(2_500, { ...linear, aggression: 2 })).toBeCloseTo(0.5, 10);
  });
});

describe('slowStartSettings', () => {
  it('reads warmup with Istio defaults, and the older warmupDurationSecs', () => {
    expect(slowStartSettings({ warmup: { duration: '30s' } })).toEqual({
      windowMs: 30_000,
      minimumFraction: 0.1,
      aggression: 1,
    });
    expect(slowStartSettings({ warmupDurationSecs: '5s' })?.windowMs).toBe(5_000);
    expect(slowStartSettings({ warmup: { duration: '1m', minimumPercent: 30, aggression: 2 } })).toEqual({
      windowMs: 60_000,
      minimumFraction: 0.3,
      aggression: 2,
    });
    expect(slowStartSettings({})).toBeUndefined();
  });

  it('rejects an aggression of 0 when the picker is built', () => {
    expect(() => slowStartSettings({ warmup: { duration: '1s', aggression: 0 } })).toThrow(
      expect.objectContaining({ code: 'WEFT_ERR_OPTION_VALUE' }),
    );
  });
});

describe('SlowStart', () => {
  it('scales only endpoints that appeared after the first snapshot of their service', () => {
    let now = 0;
    const s = new SlowStart({ windowMs: 1_000, minimumFraction: 0.1, aggression: 1 }, new EndpointBirths(), () => now);
    const a = endpointAt(1, 4);
    const b = endpointAt(2, 4);
    s.begin(snapshot([a]));
    now = 100;
    s.begin(snapshot([a, b]));
    now = 600;
    s.begin(snapshot([a, b]));
    expect(s.warming).toBe(true);
    expect(s.weight(a)).toBe(4);
    expect(s.weight(b)).toBeCloseTo(2, 10);
    now = 1_200;
    s.begin(snapshot([a, b]));
    expect(s.warming).toBe(false);
    expect(s.weight(b)).toBe(4);
  });
});
