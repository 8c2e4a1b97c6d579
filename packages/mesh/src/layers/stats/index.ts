// The stats layer: counts and times calls per service and endpoint, for mesh.stats() and the example's summary.
import {
  type CallContext,
  type Handler,
  isWeftError,
  type Layer,
  type WeftRequest,
  type WeftResponse,
} from '@weft/core';
import type { CallSink } from '../../telemetry/metrics/istio.js';
import { LatencyHistogram } from './histogram.js';

export interface LatencyView {
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

export interface EndpointStatsView {
  address: string;
  labels: Readonly<Record<string, string>>;
  requests: number;
  /** Calls that ended in a typed error rather than an answer. */
  failed: number;
  latencyMs: LatencyView;
}

export interface ServiceStatsView {
  /** Fully qualified service, `passthrough` for hosts outside the mesh, or this workload's own for inbound. */
  service: string;
  requests: number;
  /** Answers by status code, as they came off the wire. */
  statuses: Record<string, number>;
  /** Calls that got no answer but a typed error, by code; not counted in `statuses`. */
  errors: Record<string, number>;
  latencyMs: LatencyView;
  endpoints: EndpointStatsView[];
}

class EndpointStats {
  requests = 0;
  failed = 0;
  readonly latency = new LatencyHistogram();
  constructor(
    readonly address: string,
    readonly labels: Readonly<Record<string, string>>,
  ) {}
}

function latencyView(h: LatencyHistogram): LatencyView {
  return {
    p50: h.quantile(0.5),
    p90: h.quantile(0.9),
    p99: h.quantile(0.99),
    max: h.maxMs,
    mean: h.count === 0 ? 0 : h.sumMs / h.count,
  };
}

class ServiceStats {
  requests = 0;
  readonly statuses = new Map<number, number>();
  readonly errors = new Map<string, number>();
  readonly latency = new LatencyHistogram();
  readonly endpoints = new Map<string, EndpointStats>();
}

/** Counters for one direction of traffic (outbound or inbound) of one mesh. */
export class TrafficStats {
  readonly #services = new Map<string, ServiceStats>();
  readonly #sink: CallSink | undefined;

  /** `sink` (the mesh's metrics) is told of each call too, with its request and answer. */
  constructor(sink?: CallSink) {
    this.#sink = sink;
  }

  #service(name: string): ServiceStats {
    let s = this.#services.get(name);
    if (s === undefined) {
      s = new ServiceStats();
      this.#services.set(name, s);
    }
    return s;
  }

  /** One finished call: its answer's `status`, or the code of the typed error it ended in. */
  record(
    ctx: CallContext,
    name: string,
    status: number,
    errorCode: string | undefined,
    request?: WeftRequest,
    response?: WeftResponse,
  ): void {
    const s = this.#service(name);
    const ms = performance.now() - ctx.startedAt;
    if (this.#sink !== undefined && request !== undefined)
      this.#sink.record(ctx, ms, status, errorCode, request, response);
    s.requests++;
    if (errorCode === undefined) s.statuses.set(status, (s.statuses.get(status) ?? 0) + 1);
    else s.errors.set(errorCode, (s.errors.get(errorCode) ?? 0) + 1);
    s.latency.record(ms);
    const endpoint = ctx.endpoint;
    if (endpoint !== undefined) {
      let e = s.endpoints.get(endpoint.address);
      if (e === undefined) {
        e = new EndpointStats(endpoint.address, endpoint.labels);
        s.endpoints.set(endpoint.address, e);
      }
      e.requests++;
      if (errorCode !== undefined) e.failed++;
      e.latency.record(ms);
    }
  }

  /** A latency quantile (0…1) of one service's calls so far, in ms; undefined before `minCalls` calls. */
  latencyQuantile(name: string, q: number, minCalls = 20): number | undefined {
    const s = this.#services.get(name);
    return s === undefined || s.latency.count < minCalls ? undefined : s.latency.quantile(q);
  }

  view(): ServiceStatsView[] {
    return [...this.#services].map(([service, s]) => ({
      service,
      requests: s.requests,
      statuses: Object.fromEntries(s.statuses),
      errors: Object.fromEntries(s.errors),
      latencyMs: latencyView(s.latency),
      endpoints: [...s.endpoints.values()].map((e) => ({
        address: e.address,
        labels: e.labels,
        requests: e.requests,
        failed: e.failed,
        latencyMs: latencyView(e.latency),
      })),
    }));
  }
}

/**
 * Records each call once it has an answer: its status (or error code), its latency up to
 * the response headers, and the endpoint that served it. Outermost, so calls the mesh itself
 * refuses are counted too. `name` says which service a call is filed under.
 */
export function stats<Ctx extends CallContext>(into: TrafficStats, name: (ctx: Ctx) => string): Layer<Ctx> {
  return {
    role: 'stats',
    wrap(next: Handler<Ctx>): Handler<Ctx> {
      return (request, ctx) =>
        next(request, ctx).then(
          (response) => {
            into.record(ctx, name(ctx), response.status, undefined, request, response);
            return response;
          },
          (error: unknown) => {
            into.record(
              ctx,
              name(ctx),
              isWeftError(error) ? error.status : 500,
              isWeftError(error) ? error.code : 'UNTYPED',
              request,
            );
            throw error;
          },
        );
    },
  };
}
