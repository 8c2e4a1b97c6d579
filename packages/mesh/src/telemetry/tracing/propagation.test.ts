import {
  type Context,
  defaultTextMapGetter,
  defaultTextMapSetter,
  propagation,
  ROOT_CONTEXT,
  type SpanContext,
  type TextMapPropagator,
  trace,
} from '@opentelemetry/api';
import {
  CompositePropagator,
  suppressTracing,
  TraceState,
  W3CBaggagePropagator,
  W3CTraceContextPropagator,
} from '@opentelemetry/core';
import { B3InjectEncoding, B3Propagator } from '@opentelemetry/propagator-b3';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PROPAGATOR_NAMES, type PropagatorName } from './options.js';
import { newRequestId, TraceHeaderWriter } from './propagation.js';
import { PooledIdGenerator } from './sampling.js';

/** The reference: each format's OpenTelemetry propagator, composed in the configured order. */
function injector(names: readonly PropagatorName[]): TextMapPropagator {
  const of = (name: PropagatorName): TextMapPropagator => {
    switch (name) {
      case 'tracecontext':
        return new W3CTraceContextPropagator();
      case 'baggage':
        return new W3CBaggagePropagator();
      case 'b3':
        return new B3Propagator({ injectEncoding: B3InjectEncoding.SINGLE_HEADER });
      case 'b3multi':
        return new B3Propagator({ injectEncoding: B3InjectEncoding.MULTI_HEADER });
    }
  };
  return new CompositePropagator({ propagators: names.map(of) });
}

const hex = (length: number) =>
  fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: length, maxLength: length });

const ids = new PooledIdGenerator();

/**
 * Span contexts as they come: valid ones, all-zero and malformed ids, every flag, with and without
 * trace state, and the new unsampled roots weft draws (which carry their traceparent).
 */
const spanContexts: fc.Arbitrary<SpanContext> = fc.oneof(
  fc.nat().map((): SpanContext => ids.newRoot()),
  fc.record({
    traceId: fc.oneof(hex(32), fc.constant('0'.repeat(32)), fc.constant('not-hex'), hex(31)),
    spanId: fc.oneof(hex(16), fc.constant('0'.repeat(16)), hex(15)),
    traceFlags: fc.constantFrom(0, 1, 2, 3, 255),
    traceState: fc.option(
      fc.constantFrom('vendor=a', 'a=1,b=2').map((s) => new TraceState(s)),
      { nil: undefined },
    ),
  }),
);

/** The contexts a span is started in: empty, with baggage, suppressed, or read from a B3 header with its debug flag. */
const parents: fc.Arbitrary<Context> = fc.oneof(
  fc.constant(ROOT_CONTEXT),
  fc.constant(propagation.setBaggage(ROOT_CONTEXT, propagation.createBaggage({ tenant: { value: 'acme' } }))),
  fc.constant(suppressTracing(ROOT_CONTEXT)),
  fc.constant(
    new B3Propagator().extract(
      ROOT_CONTEXT,
      { 'x-b3-traceid': 'a'.repeat(32), 'x-b3-spanid': 'b'.repeat(16), 'x-b3-flags': '1' },
      defaultTextMapGetter,
    ),
  ),
  fc.constant(
    new B3Propagator().extract(ROOT_CONTEXT, { b3: `${'a'.repeat(32)}-${'b'.repeat(16)}-d` }, defaultTextMapGetter),
  ),
);

const formats = fc.subarray([...PROPAGATOR_NAMES] as PropagatorName[]);

describe('TraceHeaderWriter', () => {
  it("writes exactly the headers OpenTelemetry's propagators write, for every format, span and context", () => {
    fc.assert(
      fc.property(formats, spanContexts, parents, (names, span, parent) => {
        const written: Record<string, unknown> = {};
        new TraceHeaderWriter(names).write(written, span, parent);
        const expected: Record<string, unknown> = {};
        injector(names).inject(trace.setSpanContext(parent, span), expected, defaultTextMapSetter);
        expect(written).toEqual(expected);
      }),
      { numRuns: 2000 },
    );
  });

  it('writes the B3 debug flag a caller sent instead of a sampling decision', () => {
    const parent = new B3Propagator().extract(
      ROOT_CONTEXT,
      { 'x-b3-traceid': 'a'.repeat(32), 'x-b3-spanid': 'b'.repeat(16), 'x-b3-flags': '1' },
      defaultTextMapGetter,
    );
    const headers: Record<string, unknown> = {};
    const span = { traceId: 'a'.repeat(32), spanId: 'c'.repeat(16), traceFlags: 1 };
    new TraceHeaderWriter(['b3multi', 'b3']).write(headers, span, parent);
    expect(headers).toEqual({
      'x-b3-traceid': 'a'.repeat(32),
      'x-b3-spanid': 'c'.repeat(16),
      'x-b3-flags': '1',
      b3: `${'a'.repeat(32)}-${'c'.repeat(16)}-1`,
    });
  });

  it('leaves out a format it cannot write, with the others still written, and never throws', () => {
    // A lone surrogate cannot be percent-encoded: W3CBaggagePropagator throws on it.
    const parent = propagation.setBaggage(ROOT_CONTEXT, propagation.createBaggage({ tenant: { value: 'a\ud800' } }));
    const headers: Record<string, unknown> = {};
    const span = { traceId: 'a'.repeat(32), spanId: 'b'.repeat(16), traceFlags: 1 };
    expect(() => new TraceHeaderWriter(['tracecontext', 'baggage']).write(headers, span, parent)).not.toThrow();
    expect(headers).toEqual({ traceparent: `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01` });
  });

  it('unsets the headers of formats it does not write, so a forwarded inbound header does not go on stale', () => {
    const headers: Record<string, unknown> = {
      accept: 'text/plain',
      'x-b3-traceid': 'c'.repeat(32),
      'x-b3-spanid': 'd'.repeat(16),
      'x-b3-parentspanid': 'e'.repeat(16),
      'x-b3-sampled': '1',
      traceparent: `00-${'c'.repeat(32)}-${'d'.repeat(16)}-01`,
    };
    const span = { traceId: 'a'.repeat(32), spanId: 'b'.repeat(16), traceFlags: 0 };
    new TraceHeaderWriter(['tracecontext', 'b3']).write(headers, span, ROOT_CONTEXT);
    expect(headers).toEqual({
      accept: 'text/plain',
      traceparent: `00-${'a'.repeat(32)}-${'b'.repeat(16)}-00`,
      b3: `${'a'.repeat(32)}-${'b'.repeat(16)}-0`,
    });
    expect(Object.keys(headers)).toContain('x-b3-traceid');
  });
});

describe('the default formats: B3 goes on as it came in', () => {
  const TRACE = 'a'.repeat(32);
  const CALLER = 'b'.repeat(16);
  const OURS = 'c'.repeat(16);
  const span = { traceId: TRACE, spanId: OURS, traceFlags: 1 };
  const read = (headers: Record<string, string>) => {
    const writer = new TraceHeaderWriter(['tracecontext', 'baggage'], true);
    const extracted = new CompositePropagator({
      propagators: [new B3Propagator(), new W3CTraceContextPropagator(), new W3CBaggagePropagator()],
    }).extract(ROOT_CONTEXT, headers, defaultTextMapGetter);
    return { writer, context: writer.received(extracted, headers) };
  };

  it('writes W3C only for a trace that starts here or came in as W3C', () => {
    const root: Record<string, unknown> = {};
    new TraceHeaderWriter(['tracecontext', 'baggage'], true).write(root, span, ROOT_CONTEXT);
    expect(root).toEqual({ traceparent: `00-${TRACE}-${OURS}-01` });
    const { writer, context } = read({ traceparent: `00-${TRACE}-${CALLER}-01` });
    const headers: Record<string, unknown> = {};
    writer.write(headers, span, context);
    expect(headers).toEqual({ traceparent: `00-${TRACE}-${OURS}-01` });
  });

  it('continues a trace that came in as one b3 header in that header as well', () => {
    const { writer, context } = read({ b3: `${TRACE}-${CALLER}-1` });
    const headers: Record<string, unknown> = {};
    writer.write(headers, span, context);
    expect(headers).toEqual({ traceparent: `00-${TRACE}-${OURS}-01`, b3: `${TRACE}-${OURS}-1` });
  });

  it('continues a trace that came in as x-b3-* headers in those headers, even when W3C came too', () => {
    const { writer, context } = read({
      traceparent: `00-${TRACE}-${CALLER}-01`,
      'x-b3-traceid': TRACE,
      'x-b3-spanid': CALLER,
      'x-b3-sampled': '1',
    });
    const headers: Record<string, unknown> = {};
    writer.write(headers, span, context);
    expect(headers).toEqual({
      traceparent: `00-${TRACE}-${OURS}-01`,
      'x-b3-traceid': TRACE,
      'x-b3-spanid': OURS,
      'x-b3-sampled': '1',
    });
  });

  it('writes no B3 for a B3 header that carries no trace, or another trace than the W3C one that won', () => {
    const cases: Record<string, string>[] = [
      { traceparent: `00-${TRACE}-${CALLER}-01`, b3: '0' },
      { traceparent: `00-${TRACE}-${CALLER}-01`, b3: 'not-a-trace' },
      { traceparent: `00-${TRACE}-${CALLER}-01`, b3: `${'d'.repeat(32)}-${CALLER}-1` },
      { traceparent: `00-${TRACE}-${CALLER}-01`, 'x-b3-traceid': TRACE },
    ];
    for (const came of cases) {
      const { writer, context } = read(came);
      const headers: Record<string, unknown> = {};
      writer.write(headers, span, context);
      expect(headers).toEqual({ traceparent: `00-${TRACE}-${OURS}-01` });
    }
  });

  it('writes a list given explicitly exactly, whatever came in', () => {
    const writer = new TraceHeaderWriter(['tracecontext'], false);
    const headers: Record<string, string> = { b3: `${TRACE}-${CALLER}-1` };
    const context = writer.received(new B3Propagator().extract(ROOT_CONTEXT, headers, defaultTextMapGetter), headers);
    const out: Record<string, unknown> = { ...headers };
    writer.write(out, span, context);
    expect(out).toEqual({ traceparent: `00-${TRACE}-${OURS}-01`, b3: undefined });
  });
});

describe('newRequestId', () => {
  it('makes random (version 4) UUIDs, all different, across draws of its pool', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 3000; i++) {
      const id = newRequestId();
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      seen.add(id);
    }
    expect(seen.size).toBe(3000);
  });
});
