// A fixed-size log-linear latency histogram: constant memory, no allocation per sample.
//
// Hand-written because the libraries for this (hdr-histogram-js, OpenTelemetry's exponential
// histogram) bring either WebAssembly or an SDK for what is twenty lines here; issue 7's
// Prometheus metrics will use OpenTelemetry's own instruments.

const SUB_BUCKETS = 16; // per power of two: about 4.4 % relative error
const OCTAVES = 32; // 1 µs … ~71 minutes

export class LatencyHistogram {
  readonly #counts = new Float64Array(OCTAVES * SUB_BUCKETS + 1);
  count = 0;
  sumMs = 0;
  maxMs = 0;

  record(ms: number): void {
    const us = ms * 1000;
    let index = 0;
    if (us >= 1) index = Math.min(this.#counts.length - 1, Math.floor(Math.log2(us) * SUB_BUCKETS) + 1);
    this.#counts[index] = (this.#counts[index] as number) + 1;
    this.count++;
    this.sumMs += ms;
    if (ms > this.maxMs) this.maxMs = ms;
  }

  /** The latency below which `q` (0…1) of the samples fall, in ms; 0 with no samples. */
  quantile(q: number): number {
    if (this.count === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let i = 0; i < this.#counts.length; i++) {
      seen += this.#counts[i] as number;
      if (seen >= rank) {
        if (i === 0) return 0.001;
        // Upper edge of the bucket, capped by the largest sample seen.
        return Math.min(this.maxMs, 2 ** (i / SUB_BUCKETS) / 1000);
      }
    }
    return this.maxMs;
  }
}
