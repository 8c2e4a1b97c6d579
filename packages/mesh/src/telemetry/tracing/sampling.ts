// What startTracing gives sdk-node for a new trace: its ids, and the root sampler that decides from them.
import { randomFillSync } from 'node:crypto';
import type { Context } from '@opentelemetry/api';
import type { NodeSDKConfiguration } from '@opentelemetry/sdk-node';

type Sampler = NodeSDKConfiguration['sampler'];
type SamplingResult = ReturnType<Sampler['shouldSample']>;
type SamplingDecision = SamplingResult['decision'];
type IdGenerator = NodeSDKConfiguration['idGenerator'];

/** Random bytes drawn at once and hex-encoded at once; ids are slices of the text (48 characters a root span). */
const POOL_BYTES = 4096;
const INVALID_TRACE_ID = '0'.repeat(32);
const INVALID_SPAN_ID = '0'.repeat(16);

/**
 * Trace and span ids from the system's CSPRNG, read in 4 KiB blocks. The SDK's own generator
 * writes Math.random() into a buffer and hex-encodes it for every id: about three times the
 * cost of a span that is not sampled, paid on every call.
 */
export class PooledIdGenerator implements IdGenerator {
  readonly #bytes = Buffer.allocUnsafe(POOL_BYTES);
  #hex = '';
  #offset = 0;

  generateTraceId(): string {
    const id = this.#next(32);
    return id === INVALID_TRACE_ID ? this.generateTraceId() : id;
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
    const low = Number.parseInt(traceId.slice(-8), 16);
    return low < this.#bound ? this.#sampled : this.#dropped;
  }

  toString(): string {
    return `weft.TraceIdRatioSampler{${this.#ratio}}`;
  }
}
