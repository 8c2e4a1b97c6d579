// Tracing for the bench's tracing pairs: weft's startTracing (sdk-node, parent-based ratio sampling) with an exporter that drops spans.

/** An exporter that takes every batch and keeps nothing: the cost measured is weft's and the SDK's, not a collector's. */
export const DISCARD = {
  export(_spans, done) {
    done({ code: 0 });
  },
  shutdown: async () => {},
  forceFlush: async () => {},
};

/** `weft-…-traced-1` → 0.01, `weft-…-traced-100` → 1; undefined for a kind without an SDK. */
export function samplingRatioOf(kind) {
  const match = /-traced-(\d+)$/.exec(kind);
  return match === null ? undefined : Number(match[1]) / 100;
}

/** Starts the SDK as an application would (`startTracing`), at the kind's sampling ratio; nothing for other kinds. */
export async function startBenchTracing(kind, service) {
  const samplingRatio = samplingRatioOf(kind);
  if (samplingRatio === undefined) return;
  const { startTracing } = await import('@weft/mesh/tracing');
  const handle = await startTracing({ service, samplingRatio, exporter: DISCARD });
  if (!handle.started) throw new Error('startTracing: a tracer provider was already registered');
}
