// What startTracing gives sdk-node for a new trace (its ids, the root sampler), and the spans weft makes without it when they are not recorded.
import { randomFillSync } from 'node:crypto';
import { type Context, type Span, type SpanContext, TraceFlags, trace } from '@opentelemetry/api';
import { isTracingSuppressed } from '@opentelemetry/core';
import type { NodeSDKConfiguration } from '@opentelemetry/sdk-node';

type Sampler = NodeSDKConfiguration['sampler'];
type SamplingResult = ReturnType<Sampler['shouldSample']>;
type SamplingDecision = SamplingResult['decision'];
type IdGenerator = NodeSDKConfiguration['idGenerator'];

/**
 * Random bytes drawn at once and hex-encoded at once; ids are slices of the text (48 characters a
 * root span). A draw costs about 1.7 µs before its first byte (measured), so it is a large one.
 */
const POOL_BYTES = 32 * 1024;
const INVALID_TRACE_ID = '0'.repeat(32);
const INVALID_SPAN_ID = '0'.repeat(16);

/**
 * Trace and span ids from the system's CSPRNG, read in 32 KiB blocks. The SDK's own generator
 * writes Math.random() into a buffer and hex-encodes it for every id: about three times the
 * cost of a span that is not sampled, paid on every call.
 */
export class PooledIdGenerator implements IdGenerator {
  readonly #bytes = Buffer.allocUnsafe(POOL_BYTES);
  #hex = '';
  #offset = 0;
  /** A trace id drawn and decided on already, handed out by the next generateTraceId(). */
  #drawn: string | undefined = undefined;
  /** The last 8 hex digits of the trace id drawn last, as a number, read from its bytes. */
  lastTraceWord = 0;

  generateTraceId(): string {
    const drawn = this.#drawn;
    if (drawn !== undefined) {
      this.#drawn = undefined;
      return drawn;
    }
    const id = this.#next(32);
    this.lastTraceWord = this.#bytes.readUInt32BE(this.#offset / 2 - 4);
    return id === INVALID_TRACE_ID ? this.generateTraceId() : id;
  }

  /** Makes `traceId` the next trace id handed out (the one a sampling decision was made on). */
  handOutNext(traceId: string): void {
    this.#drawn = traceId;
  }

  generateSpanId(): string {
    const id = this.#next(16);
    return id === INVALID_SPAN_ID ? this.generateSpanId() : id;
  }

  #next(length: number): string {
    if (this.#offset + length > this.#hex.length) {
      this.#hex = randomFillSync(this.#bytes).toString('hex');
      this.#offset = 0;
    }
    const id = this.#hex.slice(this.#offset, this.#offset + length);
    this.#offset += length;
    return id;
  }
}

/**
 * The context of a span weft made from ids it drew itself (valid by construction), so writing it
 * into headers skips the id checks a span context from elsewhere gets.
 */
export class OwnSpanContext implements SpanContext {
  constructor(
    readonly traceId: string,
    readonly spanId: string,
    readonly traceFlags: number,
    readonly traceState: SpanContext['traceState'],
  ) {}
}

/**
 * Samples `ratio` of new traces, from the trace id's last 8 hex digits (the random part W3C
 * trace context level 2 asks for), so every service deciding on the same id decides the same.
 * sdk-trace-base's TraceIdRatioBasedSampler checks the id's format and folds all 32 digits
 * for the same kind of decision, at five times the cost. Its answers are shared, frozen objects.
 */
export class TraceIdRatioSampler implements Sampler {
  readonly #bound: number;
  readonly #ratio: number;
  readonly #sampled: SamplingResult;
  readonly #dropped: SamplingResult;

  /** `decisions`: sdk-trace-base's SamplingDecision, as the SDK that asks was built with. */
  constructor(ratio: number, decisions: { NOT_RECORD: SamplingDecision; RECORD_AND_SAMPLED: SamplingDecision }) {
    this.#ratio = ratio;
    this.#bound = ratio * 2 ** 32;
    this.#sampled = Object.freeze({ decision: decisions.RECORD_AND_SAMPLED });
    this.#dropped = Object.freeze({ decision: decisions.NOT_RECORD });
  }

  shouldSample(_context: Context, traceId: string): SamplingResult {
    return this.sampled(traceId) ? this.#sampled : this.#dropped;
  }

  sampled(traceId: string): boolean {
    return this.sampledWord(Number.parseInt(traceId.slice(-8), 16));
  }

  /** The same decision from the trace id's last 8 hex digits as a number (PooledIdGenerator.lastTraceWord). */
  sampledWord(word: number): boolean {
    return word < this.#bound;
  }

  toString(): string {
    return `weft.TraceIdRatioSampler{${this.#ratio}}`;
  }
}

/**
 * The sampling of the SDK startTracing started (parent-based, `root` for new traces, `ids` for
 * every id), known to weft's layers so that a span it would not record is made without it.
 * That is every call of an unsampled trace (99 % at Istio's 1 %), and it costs the SDK about
 * 2-3 µs a span in a busy process (id generation, sampler, options and links handling) for
 * what is only a span context to pass on.
 */
export class OwnSampling {
  constructor(
    readonly ids: PooledIdGenerator,
    readonly root: TraceIdRatioSampler,
  ) {}

  /**
   * The span the SDK would return for a span started under `parent`, when it would not record
   * it, as sdk-trace-base makes it: a non-recording span whose context has a new span id, the
   * parent's trace id and trace state (or a new trace id), and no sampled flag. `undefined` when
   * the SDK must make the span: it will be recorded (the trace id drawn for a new trace is then
   * handed to the SDK, which decides the same on it), or tracing is suppressed.
   */
  unrecorded(parent: Context): Span | undefined {
    if (isTracingSuppressed(parent)) return undefined;
    const from = trace.getSpanContext(parent);
    if (from === undefined || !(from instanceof OwnSpanContext || trace.isSpanContextValid(from))) {
      const ids = this.ids;
      const traceId = ids.generateTraceId();
      if (this.root.sampledWord(ids.lastTraceWord)) {
        ids.handOutNext(traceId);
        return undefined;
      }
      return trace.wrapSpanContext(new OwnSpanContext(traceId, ids.generateSpanId(), TraceFlags.NONE, undefined));
    }
    // Parent-based with its defaults: a child of a sampled parent is recorded, any other is not.
    if ((from.traceFlags & TraceFlags.SAMPLED) !== 0) return undefined;
    return trace.wrapSpanContext(
      new OwnSpanContext(from.traceId, this.ids.generateSpanId(), TraceFlags.NONE, from.traceState),
    );
  }
}

/** The sampling of the SDK startTracing started and registered as the global tracer provider, while it runs. */
export const startedSampling: { current: OwnSampling | undefined } = { current: undefined };
