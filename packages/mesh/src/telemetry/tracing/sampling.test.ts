import { ROOT_CONTEXT } from '@opentelemetry/api';
import { describe, expect, it } from 'vitest';
import { PooledIdGenerator, TraceIdRatioSampler } from './sampling.js';

/** sdk-trace-base's SamplingDecision values. */
const DECISIONS = { NOT_RECORD: 0, RECORD_AND_SAMPLED: 2 } as const;

describe('PooledIdGenerator', () => {
  it('makes lower-case hex ids of the W3C lengths, all different, across refills of its pool', () => {
    const ids = new PooledIdGenerator();
    const seen = new Set<string>();
    for (let i = 0; i < 1000; i++) {
      const traceId = ids.generateTraceId();
      const spanId = ids.generateSpanId();
      expect(traceId).toMatch(/^[0-9a-f]{32}$/);
      expect(spanId).toMatch(/^[0-9a-f]{16}$/);
      seen.add(traceId);
    }
    expect(seen.size).toBe(1000);
  });
});

describe('TraceIdRatioSampler', () => {
  const decide = (ratio: number, traceId: string) =>
    new TraceIdRatioSampler(ratio, DECISIONS).shouldSample(ROOT_CONTEXT, traceId).decision;

  it('decides from the last 8 hex digits of the trace id', () => {
    expect(decide(0.5, 'ffffffffffffffffffffffff7fffffff')).toBe(DECISIONS.RECORD_AND_SAMPLED);
    expect(decide(0.5, '00000000000000000000000080000000')).toBe(DECISIONS.NOT_RECORD);
  });

  it('samples none at 0 and every trace at 1', () => {
    expect(decide(0, '00000000000000000000000000000001')).toBe(DECISIONS.NOT_RECORD);
    expect(decide(1, 'ffffffffffffffffffffffffffffffff')).toBe(DECISIONS.RECORD_AND_SAMPLED);
  });

  it('samples about the given share of new traces', () => {
    const ids = new PooledIdGenerator();
    const sampler = new TraceIdRatioSampler(0.1, DECISIONS);
    let sampled = 0;
    for (let i = 0; i < 20_000; i++) {
      if (sampler.shouldSample(ROOT_CONTEXT, ids.generateTraceId()).decision === DECISIONS.RECORD_AND_SAMPLED)
        sampled++;
    }
    expect(sampled).toBeGreaterThan(1700);
    expect(sampled).toBeLessThan(2300);
  });

  it('names itself with its ratio', () => {
    expect(String(new TraceIdRatioSampler(0.01, DECISIONS))).toBe('weft.TraceIdRatioSampler{0.01}');
  });
});
