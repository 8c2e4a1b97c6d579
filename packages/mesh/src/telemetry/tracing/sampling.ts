// What startTracing gives sdk-node for a new trace (its ids, the root sampler), and the spans weft makes without it when they are not recorded.
import { randomFillSync } from 'node:crypto';
import {
  type Context,
  ROOT_CONTEXT,
  type Span,
  type SpanContext,
  type SpanStatus,
  TraceFlags,
  trace,
} from '@opentelemetry/api';
import { isTracingSuppressed } from '@opentelemetry/core';
import type { NodeSDKConfiguration } from '@opentelemetry/sdk-node';

type Sampler = NodeSDKConfiguration['sampler'];
type SamplingResult = ReturnType<Sampler['shouldSample']>;
type SamplingDecision = SamplingResult['decision'];
type IdGenerator = NodeSDKConfiguration['idGenerator'];

/**
 * Random bytes drawn at once, 24 an entry: 341 new roots. A draw costs about 1.7 µs before its
 * first byte (measured), 5 ns a call at this size. Not larger: the text of a draw lives until its
 * last entry is taken, and a busy client's young generation is collected every 1,000–1,500 calls;
 * 32 KiB (a 75 KiB text lasting 1,365 calls) often outlived two collections and went to the old
 * generation, 25–30 bytes a call more there than now (`node --trace-gc-nvp`, 200,000 calls at 1 %).
 */
const POOL_BYTES = 8 * 1024;
const ENTRY_BYTES = 24;
const ENTRIES = Math.floor(POOL_BYTES / ENTRY_BYTES);
/** An entry as text: `00-<trace id>-<span id>-00`, a root's traceparent, and one spare character. */
const ENTRY_CHARS = 56;
const TRACE_AT = 3;
const SPAN_AT = 36;
const LINE_LENGTH = 55;
/** Each byte's two hex digits as one little-endian 16-bit value, the first digit in its lower byte. */
const HEX_PAIRS = new Uint16Array(256);
for (let byte = 0; byte < 256; byte++) {
  const digits = byte.toString(16).padStart(2, '0');
  HEX_PAIRS[byte] = digits.charCodeAt(0) | (digits.charCodeAt(1) << 8);
}

/** A view for writeHex over all of `chars` (a Buffer may sit inside a larger ArrayBuffer). */
export const hexView = (chars: Buffer): DataView => new DataView(chars.buffer, chars.byteOffset, chars.byteLength);

/** Whether this machine keeps a 16-bit value's low byte first (x64, arm64): the order writeHex reads two bytes in. */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Writes `count` words of `words` from index `from` (each two random bytes, in memory order) as
 * lower-case hex into `chars` (a hexView) at `at`: one read, two table reads and one 32-bit store a
 * word, at any alignment (the id pools' text). Reading the bytes two at a time took a fifth less
 * than one at a time (18 against 22 ns an entry of 24 bytes); a 16-bit store a byte took longer still (66 ns).
 */
export const writeHex = LITTLE_ENDIAN ? writeHexLowFirst : writeHexHighFirst;

export function writeHexLowFirst(chars: DataView, at: number, words: Uint16Array, from: number, count: number): void {
  for (let j = 0; j < count; j++) {
    const word = words[from + j] as number;
    chars.setUint32(at + 4 * j, (HEX_PAIRS[word & 0xff] as number) | ((HEX_PAIRS[word >> 8] as number) << 16), true);
  }
}

export function writeHexHighFirst(chars: DataView, at: number, words: Uint16Array, from: number, count: number): void {
  for (let j = 0; j < count; j++) {
    const word = words[from + j] as number;
    chars.setUint32(at + 4 * j, (HEX_PAIRS[word >> 8] as number) | ((HEX_PAIRS[word & 0xff] as number) << 16), true);
  }
}

/**
 * `id` as a string of its own, for a value a recorded span keeps until its batch is exported: a
 * pooled id or request id is a slice of its pool's text, and V8 keeps a slice's whole parent
 * alive (see PooledIdGenerator). Prefixing makes a new string, and cutting the prefix off leaves
 * a slice of that one (V8 flattens the two parts into a new string first); the text is unchanged.
 */
export const unshared = (id: string): string => ` ${id}`.slice(1);

/**
 * Trace and span ids from the system's CSPRNG, drawn 8 KiB at a time and written out once as
 * entries of text, `00-<trace id>-<span id>-00`: a new root's traceparent is then one slice of
 * one string (its ids and B3 header are cut from it when read), with nothing to concatenate or
 * flatten per call. The SDK's own generator writes Math.random() into a buffer and hex-encodes it
 * for every id: about three times the cost of a span that is not sampled, paid on every call.
 *
 * The ids the SDK asks for (generateTraceId, generateSpanId) are copies, not slices: a slice
 * keeps the whole text (19 KiB) alive, and the SDK keeps a recorded span until its batch is
 * exported, by which time the text has been promoted to the old generation. With slices, the
 * 1 % of calls that are sampled kept nearly every text the client drew alive: 290 bytes a call
 * reached the old generation of a busy client, against 213 with copies and 173 with telemetry off
 * (`node --trace-gc-nvp`), and full collections came that much more often. A copy costs about
 * 0.1 µs, paid by recorded spans only.
 */
export class PooledIdGenerator implements IdGenerator {
  /** The random bytes of a draw, read two at a time by writeHex and four at a time (big-endian) by #entry. */
  readonly #words = new Uint16Array((ENTRIES * ENTRY_BYTES) / 2);
  readonly #random = new DataView(this.#words.buffer);
  readonly #chars = Buffer.allocUnsafe(ENTRIES * ENTRY_CHARS);
  readonly #hex = hexView(this.#chars);
  #text = '';
  #next = ENTRIES;
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
    const at = this.#entry() * ENTRY_CHARS + TRACE_AT;
    return this.#chars.toString('latin1', at, at + 32);
  }

  /** Makes `traceId` (a new root's, which a sampling decision was made on) the next trace id handed out. */
  handOutNext(traceId: string): void {
    this.#drawn = unshared(traceId);
  }

  generateSpanId(): string {
    const at = this.#entry() * ENTRY_CHARS + SPAN_AT;
    return this.#chars.toString('latin1', at, at + 16);
  }

  /** A span id for a span weft makes and does not record: a slice of the text, for the call's life only. */
  nextSpanId(): string {
    const at = this.#entry() * ENTRY_CHARS;
    return this.#text.slice(at + SPAN_AT, at + SPAN_AT + 16);
  }

  /** A new trace's span, not recorded: its traceparent, from which its ids are cut when read. */
  newRoot(): UnrecordedRoot {
    const at = this.#entry() * ENTRY_CHARS;
    return new UnrecordedRoot(this.#text.slice(at, at + LINE_LENGTH));
  }

  /** The next entry with valid ids (neither all zeros), its trace id's last word in lastTraceWord. */
  #entry(): number {
    for (;;) {
      if (this.#next === ENTRIES) this.#draw();
      const i = this.#next++;
      const random = this.#random;
      const at = i * ENTRY_BYTES;
      const word = random.getUint32(at + 12);
      const zeroTrace =
        word === 0 && (random.getUint32(at) | random.getUint32(at + 4) | random.getUint32(at + 8)) === 0;
      const zeroSpan = random.getUint32(at + 16) === 0 && random.getUint32(at + 20) === 0;
      if (zeroTrace || zeroSpan) continue;
      this.lastTraceWord = word;
      return i;
    }
  }

  #draw(): void {
    const words = randomFillSync(this.#words);
    const chars = this.#chars;
    const hex = this.#hex;
    let out = 0;
    for (let i = 0; i < ENTRIES; i++) {
      chars[out] = 0x30; // 0
      chars[out + 1] = 0x30;
      chars[out + 2] = 0x2d; // -
      chars[out + 35] = 0x2d;
      chars[out + 52] = 0x2d;
      chars[out + 53] = 0x30;
      chars[out + 54] = 0x30;
      chars[out + 55] = 0x0a; // spare
      const from = (i * ENTRY_BYTES) / 2;
      writeHex(hex, out + TRACE_AT, words, from, 8);
      writeHex(hex, out + SPAN_AT, words, from + 8, 4);
      out += ENTRY_CHARS;
    }
    this.#text = chars.toString('latin1');
    this.#next = 0;
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
 * A new trace's span that is not recorded (99 % of new traces at 1 %), made by weft without the
 * SDK: one object, the span and its own context (valid by construction, flags NONE, no trace
 * state), holding only its traceparent (`line`, which is also its B3 header from the fourth
 * character on). Its ids are cut from the line when something reads them, which the writer of
 * trace headers does not: the span of a new trace costs one object and one slice.
 */
export class UnrecordedRoot implements Span, SpanContext {
  constructor(readonly line: string) {}
  get traceId(): string {
    return this.line.slice(TRACE_AT, TRACE_AT + 32);
  }
  get spanId(): string {
    return this.line.slice(SPAN_AT, SPAN_AT + 16);
  }
  get traceFlags(): number {
    return TraceFlags.NONE;
  }
  get traceState(): undefined {
    return undefined;
  }
  /** Its context is itself: serialized (an application logging it), it gives the context's fields. */
  spanContext(): SpanContext {
    return this;
  }
  toJSON(): SpanContext {
    return { traceId: this.traceId, spanId: this.spanId, traceFlags: TraceFlags.NONE };
  }
  setAttribute(): this {
    return this;
  }
  setAttributes(): this {
    return this;
  }
  addEvent(): this {
    return this;
  }
  addLink(): this {
    return this;
  }
  addLinks(): this {
    return this;
  }
  setStatus(_status: SpanStatus): this {
    return this;
  }
  updateName(): this {
    return this;
  }
  end(): void {}
  isRecording(): boolean {
    return false;
  }
  recordException(): void {}
}

/** Whether `sc` is a context weft made from its own ids: valid by construction, no check of its ids needed. */
export const madeByWeft = (sc: SpanContext): boolean => sc instanceof OwnSpanContext || sc instanceof UnrecordedRoot;

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
    // A call that starts a trace (the root context holds no suppression and no span): checked first.
    if (parent === ROOT_CONTEXT) return this.#newRoot();
    if (isTracingSuppressed(parent)) return undefined;
    const from = trace.getSpanContext(parent);
    if (from === undefined || !(madeByWeft(from) || trace.isSpanContextValid(from))) {
      return this.#newRoot();
    }
    // Parent-based with its defaults: a child of a sampled parent is recorded, any other is not.
    if ((from.traceFlags & TraceFlags.SAMPLED) !== 0) return undefined;
    return trace.wrapSpanContext(
      new OwnSpanContext(from.traceId, this.ids.nextSpanId(), TraceFlags.NONE, from.traceState),
    );
  }

  /** A new trace: its span when it is not sampled, else `undefined` (its trace id then goes to the SDK). */
  #newRoot(): Span | undefined {
    const ids = this.ids;
    const root = ids.newRoot();
    if (!this.root.sampledWord(ids.lastTraceWord)) return root;
    ids.handOutNext(root.traceId);
    return undefined;
  }
}

/** The sampling of the SDK startTracing started and registered as the global tracer provider, while it runs. */
export const startedSampling: { current: OwnSampling | undefined } = { current: undefined };
