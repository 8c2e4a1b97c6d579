import { describe, expect, it } from 'vitest';
import { backoffDelayMs } from './backoff.js';

const highest = () => 0.999_999;

describe('backoffDelayMs', () => {
  it("doubles Envoy's default 25 ms interval from retry to retry, up to the 250 ms max", () => {
    expect([1, 2, 3, 4, 5, 6, 10].map((n) => backoffDelayMs(n, 25, 250, highest))).toEqual([
      24, 49, 99, 199, 249, 249, 249,
    ]);
  });

  it('waits nothing when the random source gives 0 (full jitter starts at 0)', () => {
    expect([1, 2, 3].map((n) => backoffDelayMs(n, 25, 250, () => 0))).toEqual([0, 0, 0]);
  });

  it('scales the interval by the random number', () => {
    expect([1, 2, 3, 4].map((n) => backoffDelayMs(n, 100, 1000, () => 0.5))).toEqual([50, 100, 200, 400]);
  });

  it('stays in whole ms inside [0, interval) for any random number', () => {
    for (let i = 0; i < 1000; i++) {
      const retry = 1 + (i % 8);
      const delay = backoffDelayMs(retry, 25, 250, Math.random);
      expect(Number.isInteger(delay)).toBe(true);
      expect(delay).toBeGreaterThanOrEqual(0);
      expect(delay).toBeLessThan(Math.min(250, 25 * 2 ** (retry - 1)));
    }
  });

  it('stays inside the interval even if a random source returns 1', () => {
    expect(backoffDelayMs(1, 25, 250, () => 1)).toBe(24);
  });
});
