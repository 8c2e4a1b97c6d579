// The balance layer: picks the endpoint of the call's service that the attempt goes to.
import {
  type CallContext,
  type Endpoint,
  type EndpointSnapshot,
  type Handler,
  type HeaderValue,
  type Layer,
  WeftError,
  type WeftRequest,
  type WeftResponse,
} from '@weft/core';

/**
 * A balancing strategy: one endpoint of the snapshot, or `undefined` when none can take the call.
 * A strategy that counts load (least request) also has `started` and `finished`, which the balance
 * layer calls around each attempt to the endpoint it picked. A consistent-hash strategy says
 * `consistent`: a retry then keeps to the endpoint the key hashes to.
 */
export type Picker = ((snapshot: EndpointSnapshot, ctx: CallContext) => Endpoint | undefined) & {
  started?(endpoint: Endpoint): void;
  finished?(endpoint: Endpoint): void;
  readonly consistent?: true;
};

/** Which strategy a call's destination uses; called once per attempt. */
export type ChoosePicker = (ctx: CallContext, request: WeftRequest) => Picker;

export { roundRobin } from './round-robin.js';

/** Picks a retry may make to find an endpoint not tried before (Istio's host_selection_retry_max_attempts). */
const MAX_HOST_SELECTION_ATTEMPTS = 5;

/** The response with one more `Set-Cookie`, the ones it had kept. */
function withCookie(response: WeftResponse, cookie: string): WeftResponse {
  const had: HeaderValue | undefined = response.headers['set-cookie'];
  const cookies = had === undefined ? cookie : typeof had === 'string' ? [had, cookie] : [...had, cookie];
  return { ...response, headers: { ...response.headers, 'set-cookie': cookies } };
}

/**
 * Sets `ctx.endpoint` from `ctx.snapshot` with the given strategy. No endpoint to pick fails
 * fast with `WEFT_ERR_NO_HEALTHY_UPSTREAM` (Envoy's flag UH) rather than waiting for one.
 * Pass-through calls (no snapshot) already have their endpoint and go straight on. A cookie the
 * chooser issued for consistent hashing (`ctx.setCookie`) is added to the response.
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
        // predicate, at most 5 picks, as Istio configures it), except under consistent hashing,
        // where Istio leaves the predicate out so the call keeps its endpoint.
        const tried = (ctx as { triedEndpoints?: string[] }).triedEndpoints;
        if (
          tried !== undefined &&
          endpoint !== undefined &&
          pick.consistent !== true &&
          snapshot.endpoints.length > tried.length
        ) {
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
        const cookie = (ctx as { setCookie?: string }).setCookie;
        const finished = pick.finished;
        let answer: Promise<WeftResponse>;
        if (finished === undefined) {
          answer = next(request, ctx);
        } else {
          const chosen = endpoint;
          pick.started?.(chosen);
          answer = next(request, ctx).finally(() => finished.call(pick, chosen));
        }
        return cookie === undefined ? answer : answer.then((response) => withCookie(response, cookie));
      };
    },
  };
}
