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

/**
 * Sets `ctx.endpoint` from `ctx.snapshot` with the given strategy. No endpoint to pick fails
 * fast with `WEFT_ERR_NO_HEALTHY_UPSTREAM` (Envoy's flag UH) rather than waiting for one.
 * Pass-through calls (no snapshot) already have their endpoint and go straight on.
 */
export function balance(pick: Picker): Layer {
  return {
    role: 'balance',
    wrap(next: Handler): Handler {
      return (request, ctx) => {
        const snapshot = ctx.snapshot;
        if (snapshot === undefined) return next(request, ctx);
        const endpoint = pick(snapshot, ctx);
        if (endpoint === undefined) {
          ctx.responseFlags = 'UH';
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
