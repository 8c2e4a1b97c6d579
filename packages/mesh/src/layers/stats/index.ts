// The stats layer: counts and times calls per service and endpoint, for mesh.stats() and the example's summary.
import { type CallContext, type Handler, isWeftError, type Layer } from '@weft/core';
import { LatencyHistogram } from './histogram.js';

export interface EndpointStatsView {
  address: string;
  labels: Readonly<Record<string, string>>;
  requests: number;
}

export interface ServiceStatsView {
  /** Fully qualified service, `passthrough` for hosts outside the mesh, or this workload's own for inbound. */
  service: string;
  requests: number;
  /** Responses by status code (as sent on the wire; a typed error counts under its `status`). */
  statuses: Record<string, number>;
  /** Failures of the mesh, by code. */
  errors: Record<string, number>;
  latencyMs: { p50: number; p90: number; p99: number; max: number; mean: number };
  endpoints: EndpointStatsView[];
}

class ServiceStats {
  requests = 0;
  readonly statuses = new Map<number, number>();
  readonly errors = new Map<string, number>();
  readonly latency = new LatencyHistogram();
  readonly endpoints = new Map<string, EndpointStatsView>();
}

/** Counters for one direction of traffic (outbound or inbound) of one mesh. */
export class TrafficStats {
  readonly #services = new Map<string, ServiceStats>();

  #service(name: string): ServiceStats {
    let s = this.#services.get(name);
    if (s === undefined) {
      s = new ServiceStats();
      this.#services.set(name, s);
    }
    return s;
  }

  record(ctx: CallContext, name: string, status: number, errorCode: string | undefined): void {
    const s = this.#service(name);
    s.requests++;
    s.statuses.set(status, (s.statuses.get(status) ?? 0) + 1);
    if (errorCode !== undefined) s.errors.set(errorCode, (s.errors.get(errorCode) ?? 0) + 1);
    s.latency.record(performance.now() - ctx.startedAt);
    const endpoint = ctx.endpoint;
    if (endpoint !== undefined) {
      let e = s.endpoints.get(endpoint.address);
      if (e === undefined) {
        e = { address: endpoint.address, labels: endpoint.labels, requests: 0 };
        s.endpoints.set(endpoint.address, e);
      }
      e.requests++;
    }
  }

  view(): ServiceStatsView[] {
    return [...this.#services].map(([service, s]) => ({
      service,
      requests: s.requests,
      statuses: Object.fromEntries(s.statuses),
      errors: Object.fromEntries(s.errors),
      latencyMs: {
        p50: s.latency.quantile(0.5),
        p90: s.latency.quantile(0.9),
        p99: s.latency.quantile(0.99),
        max: s.latency.maxMs,
        mean: s.latency.count === 0 ? 0 : s.latency.sumMs / s.latency.count,
      },
      endpoints: [...s.endpoints.values()].map((e) => ({ ...e })),
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
            into.record(ctx, name(ctx), response.status, undefined);
            return response;
          },
          (error: unknown) => {
            into.record(
              ctx,
              name(ctx),
              isWeftError(error) ? error.status : 500,
              isWeftError(error) ? error.code : 'UNTYPED',
            );
            throw error;
          },
        );
    },
  };
}
