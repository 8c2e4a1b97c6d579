// Propagation: the W3C and B3 formats weft reads and writes, and Envoy's x-request-id.
import { randomFillSync } from 'node:crypto';
import {
  type Context,
  createContextKey,
  defaultTextMapGetter,
  defaultTextMapSetter,
  diag,
  isSpanContextValid,
  ROOT_CONTEXT,
  type SpanContext,
  type TextMapPropagator,
  trace,
} from '@opentelemetry/api';
import {
  CompositePropagator,
  isTracingSuppressed,
  W3CBaggagePropagator,
  W3CTraceContextPropagator,
} from '@opentelemetry/core';
import { B3Propagator } from '@opentelemetry/propagator-b3';
import type { PropagatorName } from './options.js';
import { hexView, madeByWeft, UnrecordedRoot, writeHex } from './sampling.js';

/** Envoy's request id: made at the edge when a request has none, then carried unchanged by every hop. */
export const REQUEST_ID_HEADER = 'x-request-id';

/** Every header the writer below may set: W3C trace context and baggage, B3 in both forms. */
export const TRACE_HEADER_NAMES: readonly string[] = [
  'traceparent',
  'tracestate',
  'baggage',
  'b3',
  'x-b3-traceid',
  'x-b3-spanid',
  'x-b3-parentspanid',
  'x-b3-sampled',
  'x-b3-flags',
];

const IDS_PER_DRAW = 1024;
const UUID_LENGTH = 36;
const DASH = 0x2d;

/**
 * Random (version 4) UUIDs, as Envoy makes request ids, drawn 1,024 at a time: random bytes with
 * the version and variant bits set, written out as text once, each id a slice of it. Written by
 * hand because `crypto.randomUUID()` builds each id from 36 pieces, a string that is flattened
 * again when the header is written: 0.15 µs a call more, measured.
 */
class RequestIds {
  readonly #words = new Uint16Array(8 * IDS_PER_DRAW);
  readonly #bytes = new Uint8Array(this.#words.buffer);
  readonly #text = Buffer.allocUnsafe(UUID_LENGTH * IDS_PER_DRAW);
  readonly #hex = hexView(this.#text);
  #ids = '';
  #next = IDS_PER_DRAW;

  take(): string {
    if (this.#next === IDS_PER_DRAW) this.#draw();
    const at = this.#next++ * UUID_LENGTH;
    return this.#ids.slice(at, at + UUID_LENGTH);
  }

  #draw(): void {
    const words = randomFillSync(this.#words);
    const bytes = this.#bytes;
    const text = this.#text;
    const hex = this.#hex;
    for (let id = 0; id < IDS_PER_DRAW; id++) {
      const from = id * 16;
      // The version (4) and the variant (10xx) of a random UUID.
      bytes[from + 6] = 0x40 | ((bytes[from + 6] as number) & 0x0f);
      bytes[from + 8] = 0x80 | ((bytes[from + 8] as number) & 0x3f);
      // 8-4-4-4-12 hex digits, from the id's 8 words.
      const at = id * UUID_LENGTH;
      const word = id * 8;
      writeHex(hex, at, words, word, 2);
      text[at + 8] = DASH;
      writeHex(hex, at + 9, words, word + 2, 1);
      text[at + 13] = DASH;
      writeHex(hex, at + 14, words, word + 3, 1);
      text[at + 18] = DASH;
      writeHex(hex, at + 19, words, word + 4, 1);
      text[at + 23] = DASH;
      writeHex(hex, at + 24, words, word + 5, 3);
    }
    this.#ids = text.toString('latin1');
    this.#next = 0;
  }
}

const requestIds = new RequestIds();

/** A new request id, as Envoy makes them (a random UUID). */
export const newRequestId = (): string => requestIds.take();

/** The key @opentelemetry/propagator-b3 keeps a B3 debug flag under (`createContextKey` gives one symbol per name). */
const B3_DEBUG_FLAG_KEY = createContextKey('OpenTelemetry Context Key B3 Debug Flag');

/** The B3 form an inbound call's trace came in (`'b3'` or `'b3multi'`), kept in its context for the calls it makes. */
const B3_RECEIVED_KEY = createContextKey('weft.b3.received');

/**
 * Writes a span's trace into an outbound call's headers in the configured formats: the same
 * headers, byte for byte, as OpenTelemetry's propagators write for the span's context (a property test compares
 * them), from the span context and the context it was started in, so an attempt needs no Context
 * of its own. Written by hand because the propagators, composed, cost a call about 0.5 µs for
 * three one-line formats: each reads the span from a Context and checks both ids again. Baggage
 * is still W3CBaggagePropagator's, asked only when the context carries some.
 */
export class TraceHeaderWriter {
  readonly #traceContext: boolean;
  readonly #b3: boolean;
  readonly #b3multi: boolean;
  readonly #baggage: TextMapPropagator | undefined;
  /**
   * Set when a trace that came in as B3 goes on in B3 too, in the form it came in (the default
   * formats): reads what a caller sent in B3, to check that it carried the trace going on.
   */
  readonly #b3Reader: TextMapPropagator | undefined;

  constructor(names: readonly PropagatorName[], b3AsReceived = false) {
    this.#traceContext = names.includes('tracecontext');
    this.#b3 = names.includes('b3');
    this.#b3multi = names.includes('b3multi');
    this.#baggage = names.includes('baggage') ? new W3CBaggagePropagator() : undefined;
    this.#b3Reader = b3AsReceived && !this.#b3 && !this.#b3multi ? new B3Propagator() : undefined;
  }

  /**
   * The context an inbound call's trace was read into (`extracted`), marked with the B3 form its
   * caller sent, if any and if this writer continues B3 as received: the calls made while handling
   * it then write B3 in that form, so a Zipkin-instrumented caller's peers see one trace.
   */
  received(extracted: Context, headers: Record<string, unknown>): Context {
    const reader = this.#b3Reader;
    if (reader === undefined || extracted === ROOT_CONTEXT) return extracted;
    // The form sent; B3's reader, as the extractor, takes the one header over the several.
    const form = typeof headers.b3 === 'string' ? 'b3' : typeof headers['x-b3-traceid'] === 'string' ? 'b3multi' : '';
    if (form === '') return extracted;
    // Only a B3 trace that could be read and is the one going on (W3C wins when both came and differ):
    // a bare sampling decision (`b3: 0`) or an unreadable header carries no trace to continue.
    const b3 = trace.getSpanContext(reader.extract(ROOT_CONTEXT, headers, defaultTextMapGetter));
    const going = trace.getSpanContext(extracted);
    if (b3 === undefined || !isSpanContextValid(b3) || b3.traceId !== going?.traceId) return extracted;
    return extracted.setValue(B3_RECEIVED_KEY, form);
  }

  /**
   * Writes `span` (the attempt's) as started in `context` (the call's parent: its suppression, B3
   * debug flag, baggage). As the composite propagator, a format that fails is left out with a
   * warning and the others are still written: a call is never failed by its trace headers.
   */
  write(headers: Record<string, unknown>, span: SpanContext, context: Context): void {
    // The root context (a call that starts a trace) holds no suppression, B3 flag or baggage to read.
    const root = context === ROOT_CONTEXT;
    if (!root && isTracingSuppressed(context)) return;
    let b3 = this.#b3;
    let b3multi = this.#b3multi;
    if (this.#b3Reader !== undefined && !root) {
      const form = context.getValue(B3_RECEIVED_KEY);
      b3 = form === 'b3';
      b3multi = form === 'b3multi';
    }
    // A new unsampled trace of weft's carries its traceparent, made with its ids (no trace state).
    const line = span instanceof UnrecordedRoot ? span.line : undefined;
    if (madeByWeft(span) || isSpanContextValid(span)) {
      if (this.#traceContext) {
        try {
          headers.traceparent = line ?? `00-${span.traceId}-${span.spanId}-${traceFlagsHex(span.traceFlags)}`;
          if (span.traceState) headers.tracestate = span.traceState.serialize();
        } catch (error) {
          warn('tracecontext', error);
        }
      }
      if (b3 || b3multi) {
        try {
          const debug = root ? undefined : context.getValue(B3_DEBUG_FLAG_KEY);
          const { traceId, spanId, traceFlags } = span;
          if (b3) {
            // `<trace id>-<span id>-0` is the traceparent without its first three characters and its last.
            headers.b3 =
              line !== undefined && debug === undefined
                ? line.slice(3, line.length - 1)
                : `${traceId}-${spanId}-${debug || traceFlags & 1}`;
          }
          if (b3multi) {
            headers['x-b3-traceid'] = traceId;
            headers['x-b3-spanid'] = spanId;
            // B3: a debug flag stands for the sampling decision and is sent instead of it.
            if (debug === '1') headers['x-b3-flags'] = '1';
            else if (traceFlags !== undefined) headers['x-b3-sampled'] = (traceFlags & 1) === 1 ? '1' : '0';
          }
        } catch (error) {
          warn('b3', error);
        }
      }
      this.#dropStale(headers, b3, b3multi);
    }
    if (this.#baggage !== undefined && !root) {
      try {
        this.#baggage.inject(context, headers, defaultTextMapSetter);
      } catch (error) {
        warn('baggage', error);
      }
    }
  }

  /**
   * A format not written must not go on stale: a caller that forwards its inbound headers would
   * otherwise send its own caller's span as the parent in that format. Unset, not deleted (a
   * deleted name slows every later read of the object); undici skips a header whose value is undefined.
   */
  #dropStale(headers: Record<string, unknown>, b3: boolean, b3multi: boolean): void {
    if (!this.#traceContext) {
      if (headers.traceparent !== undefined) headers.traceparent = undefined;
      if (headers.tracestate !== undefined) headers.tracestate = undefined;
    }
    if (!b3 && headers.b3 !== undefined) headers.b3 = undefined;
    if (!b3multi) {
      if (headers['x-b3-traceid'] !== undefined) headers['x-b3-traceid'] = undefined;
      if (headers['x-b3-spanid'] !== undefined) headers['x-b3-spanid'] = undefined;
      if (headers['x-b3-parentspanid'] !== undefined) headers['x-b3-parentspanid'] = undefined;
      if (headers['x-b3-sampled'] !== undefined) headers['x-b3-sampled'] = undefined;
      if (headers['x-b3-flags'] !== undefined) headers['x-b3-flags'] = undefined;
    }
  }
}

function warn(format: string, error: unknown): void {
  diag.warn(
    `weft: the ${format} trace headers were not written: ${error instanceof Error ? error.message : String(error)}`,
  );
}

/** traceparent's flags field as the W3C propagator writes it. */
function traceFlagsHex(flags: number): string {
  if (flags === 0) return '00';
  if (flags === 1) return '01';
  return `0${Number(flags || 0).toString(16)}`;
}

/**
 * What inbound calls are read with: every format, whichever the caller used. A composite lets
 * the last format found win, so W3C traceparent comes last and wins over B3 when both came.
 * (The B3 propagator reads the single and the multi-header forms alike.)
 */
export function extractor(): TextMapPropagator {
  return new CompositePropagator({
    propagators: [new B3Propagator(), new W3CTraceContextPropagator(), new W3CBaggagePropagator()],
  });
}
