// The balance layer: picks the endpoint of the call's service that the attempt goes to.
import {
  type CallContext,
  type Endpoint,
  type EndpointSnapshot,
  type Handler,
  type Layer,
  WeftError,
  type WeftRequest,
} from '@weft/core';

/**
 * A balancing strategy: one endpoint of the snapshot, or `undefined` when none can take the call.
 * A strategy that counts load (least request) also has `started` and `finished`, which the balance
 * layer calls around each attempt to the endpoint it picked.
 */
export type Picker = ((snapshot: EndpointSnapshot, ctx: CallContext) => Endpoint | undefined) & {
  started?(endpoint: Endpoint): void;
  finished?(endpoint: Endpoint): void;
};

/** Which strategy a call's destination uses; called once per attempt. */
export type ChoosePicker = (ctx: CallContext, request: WeftRequest) => Picker;

export { roundRobin } from './round-robin.js';

/** Picks a retry may make to find an endpoint not tried before (Istio's host_selection_retry_max_attempts). */
const MAX_HOST_SELECTION_ATTEMPTS = 5;

/**
 * Sets `ctx.endpoint` from `ctx.snapshot` with the given strategy. No endpoint to pick fails
 * fast with `WEFT_ERR_NO_HEALTHY_UPSTREAM` (Envoy's flag UH) rather than waiting for one.
 * Pass-through calls (no snapshot) already have their endpoint and go straight on.
 */
export function balance<Ctx extends CallContext = CallContext>(
  strategy: Picker | { choose: ChoosePicker },
): Layer<Ctx> {
  const choose: ChoosePicker = typeof strategy === 'function' ? () => strategy : strategy.choose;
  return {
    role: 'balance',
    wrap(next: Handler<Ctx>): Handler<Ctx> {
      return (request, ctx) => {
        const snapshot = ctx.snapshot;
        if (snapshot === undefined) return next(request, ctx);
        const pick = choose(ctx, request);
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
        const finished = pick.finished;
        if (finished === undefined) return next(request, ctx);
        const chosen = endpoint;
        pick.started?.(chosen);
        return next(request, ctx).finally(() => finished.call(pick, chosen));
      };
    },
  };
}
