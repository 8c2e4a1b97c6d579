// Tracing for the bench's tracing pairs: weft's startTracing (sdk-node, parent-based ratio sampling) with an
// exporter that drops spans, and the clients and the closed loop the tools ab.mjs, tracing-cost.mjs and
// instructions.mjs call with.

/** An exporter that takes every batch and keeps nothing: the cost measured is weft's and the SDK's, not a collector's. */
export const DISCARD = {
  export(_spans, done) {
    done({ code: 0 });
  },
  shutdown: async () => {},
  forceFlush: async () => {},
};

/**
 * The `requestId` option of a bench mesh with tracing option `tracing`: tracing off means no
 * x-request-id either, as before the option existed, so every pair compares what it always did
 * (a client that wants the id with tracing off, like `weft-no-telemetry-ids`, asks for it itself).
 */
export const benchRequestId = (tracing) => tracing !== false;

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

/** A bare undici Pool's call to GET /json (Host `bench`), and its close: the floor the mesh is measured against. */
export async function bareClient(port, concurrency) {
  const { Pool } = await import('undici');
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections: concurrency });
  const send = async () => {
    const { statusCode, body } = await pool.request({ method: 'GET', path: '/json', headers: { host: 'bench' } });
    await body.dump();
    if (statusCode !== 200) throw new Error(`status ${statusCode}`);
  };
  return { send, close: () => pool.close() };
}

/**
 * mesh.request() to GET /json on `bench`, and its close; sdk-node started first through startTracing
 * at `samplingRatio` when one is given, the mesh's `tracing`, `metrics` and `requestId` options as
 * given (`requestId` by default as benchRequestId says).
 */
export async function meshClient({
  port,
  concurrency,
  samplingRatio,
  tracing,
  metrics,
  requestId = benchRequestId(tracing),
}) {
  if (samplingRatio !== undefined) {
    const { startTracing } = await import('@weft/mesh/tracing');
    await startTracing({ service: 'loadgen', samplingRatio, exporter: DISCARD });
  }
  const { createMesh } = await import('@weft/mesh');
  const mesh = await createMesh({
    service: 'loadgen',
    discovery: { static: { bench: [`127.0.0.1:${port}`] } },
    connectionPool: { maxConnectionsPerEndpoint: concurrency },
    logger: false,
    tracing,
    requestId,
    ...(metrics === false ? { metrics: false } : {}),
  });
  const send = async () => {
    const request = { method: 'GET', scheme: 'http', authority: 'bench', path: '/json', headers: {}, body: null };
    const { status, body } = await mesh.request(request);
    await body.dump();
    if (status !== 200) throw new Error(`status ${status}`);
  };
  return { send, close: () => mesh.close() };
}

/** Makes `calls` calls of `send`, `concurrency` at a time, each worker sending its next once its last is answered. */
export async function callsInFlight(send, calls, concurrency) {
  let left = calls;
  const worker = async () => {
    while (left-- > 0) await send();
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}
