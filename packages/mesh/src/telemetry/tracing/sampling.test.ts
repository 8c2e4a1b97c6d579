import {
  type Context,
  isSpanContextValid,
  propagation,
  ROOT_CONTEXT,
  type Span,
  TraceFlags,
  trace,
} from '@opentelemetry/api';
import { suppressTracing, TraceState } from '@opentelemetry/core';
import { BasicTracerProvider, ParentBasedSampler } from '@opentelemetry/sdk-trace-base';
import { describe, expect, it } from 'vitest';
import {
  hexView,
  OwnSampling,
  PooledIdGenerator,
  TraceIdRatioSampler,
  writeHex,
  writeHexHighFirst,
  writeHexLowFirst,
} from './sampling.js';

/** sdk-trace-base's SamplingDecision values. */
const DECISIONS = { NOT_RECORD: 0, RECORD_AND_SAMPLED: 2 } as const;

describe('writeHex', () => {
  it("writes bytes as Buffer's own lower-case hex, at odd and even offsets", () => {
    const bytes = Buffer.from([0x00, 0x0f, 0xf0, 0xff, 0x4a, 0xb7, 0x09, 0xc3]);
    // The bytes in memory order, read two at a time, whatever this machine's byte order.
    const words = new Uint16Array(4);
    Buffer.from(words.buffer).set(bytes);
    for (const at of [0, 1, 3]) {
      const chars = Buffer.alloc(at + 16, '.');
      writeHex(hexView(chars), at, words, 0, 4);
      expect(chars.toString('latin1')).toBe(`${'.'.repeat(at)}${bytes.toString('hex')}`);
    }
    // A Buffer inside a larger ArrayBuffer: the view starts where the Buffer does.
    const inside = Buffer.from(new ArrayBuffer(64), 8, 16).fill('.');
    writeHex(hexView(inside), 0, words, 0, 4);
    expect(inside.toString('latin1')).toBe(bytes.toString('hex'));
    // From a later word.
    const tail = Buffer.alloc(4, '.');
    writeHex(hexView(tail), 0, words, 3, 1);
    expect(tail.toString('latin1')).toBe('09c3');
  });

  it('reads a word in the byte order of the machine it runs on, either way', () => {
    // The words as each kind of machine reads the bytes 4a b7 09 c3 from memory.
    const cases = [
      { write: writeHexLowFirst, words: Uint16Array.of(0xb74a, 0xc309) },
      { write: writeHexHighFirst, words: Uint16Array.of(0x4ab7, 0x09c3) },
    ];
    for (const { write, words } of cases) {
      const chars = Buffer.alloc(8, '.');
      write(hexView(chars), 0, words, 0, 2);
      expect(chars.toString('latin1')).toBe('4ab709c3');
    }
  });
});

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

  it('draws new roots whose traceparent is made of their own ids, unsampled, across refills', () => {
    const ids = new PooledIdGenerator();
    for (let i = 0; i < 3000; i++) {
      const root = ids.newRoot();
      expect(root.line).toBe(`00-${root.traceId}-${root.spanId}-00`);
      expect(root.traceFlags).toBe(TraceFlags.NONE);
      expect(ids.lastTraceWord).toBe(Number.parseInt(root.traceId.slice(-8), 16));
    }
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

describe('OwnSampling', () => {
  /** weft's sampling, and sdk-trace-base's tracer using the same sampler and ids, as startTracing sets them up. */
  function setUp(ratio: number) {
    const sampling = new OwnSampling(new PooledIdGenerator(), new TraceIdRatioSampler(ratio, DECISIONS));
    const provider = new BasicTracerProvider({
      sampler: new ParentBasedSampler({ root: sampling.root }),
      idGenerator: sampling.ids,
    });
    return { sampling, tracer: provider.getTracer('test') };
  }
  const parent = (traceFlags: TraceFlags): Context =>
    trace.setSpanContext(ROOT_CONTEXT, {
      traceId: '0af7651916cd43dd8448eb211c80319c',
      spanId: 'b7ad6b7169203331',
      traceFlags,
      traceState: new TraceState('vendor=value'),
      isRemote: true,
    });

  it('makes the span of a new trace it does not sample: new ids, no sampled flag, not recording', () => {
    const { sampling } = setUp(0);
    const span = sampling.unrecorded(ROOT_CONTEXT);
    expect(span?.isRecording()).toBe(false);
    const sc = span?.spanContext();
    expect(sc?.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(sc?.spanId).toMatch(/^[0-9a-f]{16}$/);
    expect(sc?.traceFlags).toBe(TraceFlags.NONE);
    expect(sc?.traceState).toBeUndefined();
    // As an application logging it would see it.
    expect(JSON.parse(JSON.stringify(sc))).toEqual({ traceId: sc?.traceId, spanId: sc?.spanId, traceFlags: 0 });
  });

  it('leaves a new trace it samples to the SDK, which gets the trace id it decided on', () => {
    const { sampling, tracer } = setUp(0.5);
    let leftToSdk = 0;
    for (let i = 0; i < 400; i++) {
      if (sampling.unrecorded(ROOT_CONTEXT) !== undefined) continue;
      leftToSdk++;
      const decidedOn = sampling.ids.lastTraceWord;
      const span = tracer.startSpan('call', {}, ROOT_CONTEXT);
      expect(span.isRecording()).toBe(true);
      expect(Number.parseInt(span.spanContext().traceId.slice(-8), 16)).toBe(decidedOn);
      expect(sampling.root.sampled(span.spanContext().traceId)).toBe(true);
    }
    expect(leftToSdk).toBeGreaterThan(100);
    expect(leftToSdk).toBeLessThan(300);
  });

  it("makes a child of an unsampled parent as the SDK does: the parent's trace id and trace state, a new span id", () => {
    const { sampling, tracer } = setUp(1);
    const ours = sampling.unrecorded(parent(TraceFlags.NONE))?.spanContext();
    const sdks = tracer.startSpan('call', {}, parent(TraceFlags.NONE)).spanContext();
    expect(ours).toEqual({ ...sdks, spanId: ours?.spanId });
    expect(ours?.traceId).toBe('0af7651916cd43dd8448eb211c80319c');
    expect(ours?.traceState?.serialize()).toBe('vendor=value');
    expect(ours?.spanId).not.toBe('b7ad6b7169203331');
  });

  it("continues its own new trace (a server's, for the calls it makes): the root's trace id, a new span id", () => {
    const { sampling } = setUp(0);
    const root = sampling.unrecorded(ROOT_CONTEXT) as Span;
    const child = sampling.unrecorded(trace.setSpan(ROOT_CONTEXT, root))?.spanContext();
    expect(child?.traceId).toBe(root.spanContext().traceId);
    expect(child?.spanId).toMatch(/^[0-9a-f]{16}$/);
    expect(child?.spanId).not.toBe(root.spanContext().spanId);
    expect(child?.traceFlags).toBe(TraceFlags.NONE);
  });

  it('starts a new trace under a context that carries something other than a span (baggage)', () => {
    const { sampling } = setUp(0);
    const withBaggage = propagation.setBaggage(ROOT_CONTEXT, propagation.createBaggage({ tenant: { value: 'a' } }));
    const sc = sampling.unrecorded(withBaggage)?.spanContext();
    expect(sc === undefined ? false : isSpanContextValid(sc)).toBe(true);
    expect(sc?.traceFlags).toBe(TraceFlags.NONE);
  });

  it('leaves a child of a sampled parent, and any span under suppression, to the SDK', () => {
    const { sampling } = setUp(0);
    expect(sampling.unrecorded(parent(TraceFlags.SAMPLED))).toBeUndefined();
    expect(sampling.unrecorded(suppressTracing(ROOT_CONTEXT))).toBeUndefined();
  });
});
