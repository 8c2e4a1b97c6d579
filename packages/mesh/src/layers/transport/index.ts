// The transport: the end of the client pipeline, where a call leaves the process on a pooled keep-alive connection.
import {
  type CallContext,
  type Endpoint,
  type Handler,
  isWeftError,
  WeftError,
  type WeftHeaders,
  type WeftRequest,
  type WeftResponse,
} from '@weft/core';
import { Pool } from 'undici';
import { toWeftError } from './errors.js';

export interface TransportOptions {
  /** Most connections open to one endpoint at once; further calls queue. */
  maxConnectionsPerEndpoint: number;
  /** How long an idle connection is kept for reuse, in ms. */
  idleTimeoutMs: number;
  /** Time allowed to open a connection, in ms. */
  connectTimeoutMs: number;
  /** Limit on waiting for response headers when the call has no deadline, in ms. */
  noDeadlineHeadersTimeoutMs: number;
  /** This workload as `service.namespace`, sent with a propagated deadline. */
  peer: string;
}

/** Envoy's header for the time the caller will wait, in ms; weft reads and writes it. */
export const DEADLINE_HEADER = 'x-envoy-expected-rq-timeout-ms';
/**
 * Sent with the deadline: which weft workload (`service.namespace`) makes the call, so a weft
 * server configured to trust only the mesh's deadlines can tell them apart. Until mTLS
 * identities (issue 6) it is a claim, not a proof.
 */
export const PEER_HEADER = 'x-weft-peer';

// Hop-by-hop headers (RFC 9110 §7.6.1) belong to one connection and are never forwarded;
// undici refuses most of them outright.
const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer'];

/**
 * The headers as they go on the wire. The request's own object is used (a request belongs to
 * the pipeline once sent), with the logical authority as its Host, as a sidecar keeps it:
 * the server sees `reviews`, not an IP. Copied only when a hop-by-hop header must go.
 * (undici itself skips headers whose value is undefined.)
 */
function forwardable(headers: WeftHeaders, authority: string, remainingMs: number, peer: string): WeftHeaders {
  let out = headers;
  for (const name of HOP_BY_HOP) {
    if (out[name] !== undefined) {
      if (out === headers) out = { ...headers };
      delete out[name];
    }
  }
  if (out.host === undefined) out.host = authority;
  // The time left travels with the call (Envoy's header), so a weft server and the calls it
  // makes while handling it can keep within it.
  if (remainingMs !== Number.POSITIVE_INFINITY) {
    out[DEADLINE_HEADER] = String(Math.max(1, Math.floor(remainingMs)));
    out[PEER_HEADER] = peer;
  }
  return out;
}

/** Our own aborts carry a WeftError (the deadline's); anything else is the caller's. */
function abortReason(reason: unknown): unknown {
  if (isWeftError(reason)) return reason;
  // AbortSignal.timeout() aborts with a TimeoutError: the caller's own deadline, not a cancel.
  const name = (reason as { name?: unknown } | null)?.name === 'TimeoutError' ? 'TimeoutError' : 'AbortError';
  return Object.assign(new Error(`aborted by the caller's signal`, { cause: reason }), { name });
}

/**
 * Sends the request to `ctx.endpoint` over a per-endpoint undici Pool (keep-alive, bounded
 * connections) and maps every failure to a WeftError. Pools are made on first use and
 * closed by `close()`; they outlive endpoint changes, so a returning endpoint reuses them.
 */
export class Transport {
  readonly #pools = new Map<string, Pool>();
  /** The pool of each endpoint object, so a call to a known endpoint builds no origin string. */
  #byEndpoint = new WeakMap<Endpoint, Pool>();
  readonly #options: TransportOptions;
  #closed = false;

  constructor(options: TransportOptions) {
    this.#options = options;
  }

  #pool(origin: string): Pool {
    let pool = this.#pools.get(origin);
    if (pool === undefined) {
      const o = this.#options;
      pool = new Pool(origin, {
        connections: o.maxConnectionsPerEndpoint,
        keepAliveTimeout: o.idleTimeoutMs,
        keepAliveMaxTimeout: Math.max(o.idleTimeoutMs, 600_000),
        connectTimeout: o.connectTimeoutMs,
        pipelining: 1,
      });
      this.#pools.set(origin, pool);
    }
    return pool;
  }

  readonly handler: Handler = (request: WeftRequest, ctx: CallContext): Promise<WeftResponse> => {
    const endpoint = ctx.endpoint;
    if (this.#closed || endpoint === undefined) {
      return Promise.reject(
        this.#closed
          ? new WeftError('WEFT_ERR_CLOSED', 'the mesh is closed', { service: ctx.service })
          : new WeftError('WEFT_ERR_NO_HEALTHY_UPSTREAM', 'no endpoint was chosen for the call', {
              service: ctx.service,
            }),
      );
    }
    let pool = this.#byEndpoint.get(endpoint);
    if (pool === undefined) {
      pool = this.#pool(request.scheme === 'http' ? `http://${endpoint.address}` : `https://${endpoint.address}`);
      if (request.scheme === 'http') this.#byEndpoint.set(endpoint, pool);
    }
    const remaining = ctx.remainingMs();
    const waitMs =
      remaining === Number.POSITIVE_INFINITY ? this.#options.noDeadlineHeadersTimeoutMs : Math.max(1, remaining);
    return pool
      .request({
        method: request.method as 'GET',
        path: request.path,
        headers: forwardable(request.headers, request.authority, remaining, this.#options.peer) as Record<
          string,
          string | string[]
        >,
        body: request.body,
        signal: ctx.signal,
        headersTimeout: waitMs,
        bodyTimeout: waitMs,
      })
      .then(
        (res): WeftResponse => ({
          status: res.statusCode,
          headers: res.headers as WeftHeaders,
          body: res.body,
        }),
        (error: unknown) => {
          throw toWeftError(ctx.signal?.aborted ? abortReason(ctx.signal.reason) : error, ctx);
        },
      );
  };

  /** Endpoints with an open pool, and what each pool holds. */
  pools(): { origin: string; connected: number; running: number; pending: number }[] {
    return [...this.#pools].map(([origin, pool]) => ({
      origin,
      connected: pool.stats.connected,
      running: pool.stats.running,
      pending: pool.stats.pending,
    }));
  }

  /** Lets calls in flight finish, then closes every connection. */
  async close(): Promise<void> {
    this.#closed = true;
    const pools = [...this.#pools.values()];
    this.#pools.clear();
    this.#byEndpoint = new WeakMap();
    await Promise.all(pools.map((p) => p.close()));
  }

  /** Cuts every connection now; calls in flight fail with WEFT_ERR_CLOSED. */
  async destroy(): Promise<void> {
    this.#closed = true;
    const pools = [...this.#pools.values()];
    this.#pools.clear();
    this.#byEndpoint = new WeakMap();
    await Promise.all(pools.map((p) => p.destroy()));
  }
}
