// The balance layer: picks the endpoint of the call's service that the attempt goes to.
import {
  type CallContext,
  type Endpoint,
  type EndpointSnapshot,
  type Handler,
  type Layer,
  WeftError,
} from '@weft/core';

/** A balancing strategy: one endpoint of the snapshot, or `undefined` when none can take the call. */
export type Picker = (snapshot: EndpointSnapshot, ctx: CallContext) => Endpoint | undefined;

export { roundRobin } from './round-robin.js';

/** Picks a retry may make to find an endpoint not tried before (Istio's host_selection_retry_max_attempts). */
const MAX_HOST_SELECTION_ATTEMPTS = 5;

/**
 * Sets `ctx.endpoint` from `ctx.snapshot` with the given strategy. No endpoint to pick fails
 * fast with `WEFT_ERR_NO_HEALTHY_UPSTREAM` (Envoy's flag UH) rather than waiting for one.
 * Pass-through calls (no snapshot) already have their endpoint and go straight on.
 */
export function balance<Ctx extends CallContext = CallContext>(pick: Picker): Layer<Ctx> {
  return {
    role: 'balance',
    wrap(next: Handler<Ctx>): Handler<Ctx> {
      return (request, ctx) => {
        const snapshot = ctx.snapshot;
        if (snapshot === undefined) return next(request, ctx);
        let endpoint = pick(snapshot, ctx);
        // A retry goes to an endpoint not tried yet when there is one (Envoy's previous-hosts
        // predicate, at most 5 picks, as Istio configures it).
        const tried = (ctx as { triedEndpoints?: string[] }).triedEndpoints;
        if (tried !== undefined && endpoint !== undefined && snapshot.endpoints.length > tried.length) {
          for (let i = 1; i < MAX_HOST_SELECTION_ATTEMPTS && tried.includes(endpoint.address); i++) {
            endpoint = pick(snapshot, ctx) ?? endpoint;
          }
        }
        if (endpoint === undefined) {
          ctx.addResponseFlag('UH');
          return Promise.reject(
            new WeftError(
              'WEFT_ERR_NO_HEALTHY_UPSTREAM',
              `no healthy endpoint of ${snapshot.service} can take the call (${snapshot.endpoints.length} known)`,
              { service: snapshot.service },
            ),
          );
        }
        ctx.endpoint = endpoint;
        return next(request, ctx);
      };
    },
  };
}
