import { describe, expect, it } from 'vitest';
import { LatencyHistogram } from './histogram.js';

describe('LatencyHistogram', () => {
  it('reports quantiles within its bucket precision', () => {
    const h = new LatencyHistogram();
    for (let i = 1; i <= 1000; i++) h.record(i / 10); // 0.1 ms … 100 ms
    expect(h.count).toBe(1000);
    expect(h.quantile(0.5)).toBeGreaterThanOrEqual(50);
    expect(h.quantile(0.5)).toBeLessThan(50 * 1.05);
    expect(h.quantile(0.99)).toBeGreaterThanOrEqual(99);
    expect(h.quantile(0.99)).toBeLessThanOrEqual(100);
    expect(h.maxMs).toBe(100);
  });

  it('answers 0 with no samples', () => {
    expect(new LatencyHistogram().quantile(0.5)).toBe(0);
  });
});
