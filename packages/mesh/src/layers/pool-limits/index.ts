// The pool-limits layer: Envoy's circuit breakers as a DestinationRule's connectionPool sets them, per destination.
import type { Readable } from 'node:stream';
import {
  type Handler,
  type Layer,
  WeftError,
  type WeftErrorCode,
  type WeftRequest,
  type WeftResponse,
} from '@weft/core';
import type { ClientCallContext } from '../../client/context.js';
import { abortedCallError } from '../abort.js';
import { PoolLimiter, type PoolLimitsState } from './limiter.js';
import type { PoolLimitsPolicy } from './policy.js';

export type { PoolLimitsState } from './limiter.js';
export { PoolLimiter } from './limiter.js';
export {
  type ConnectionPoolSettings,
  compilePoolLimits,
  POOL_LIMITS_DEFAULTS,
  type PoolLimitsPolicy,
  UNLIMITED,
} from './policy.js';

/** Envoy's upstream overflow (a circuit breaker tripped): 503, flag UO, not retried. */
export const OVERFLOW_CODE = 'WEFT_ERR_UPSTREAM_OVERFLOW' satisfies WeftErrorCode;

export interface PoolLimitsOptions {
  /**
   * The destination's limits for this call (its DestinationRule's connectionPool); `undefined`: none.
   * Read once per destination (`host`, or `host|subset`) and policy snapshot (`ctx.policy`), so it
   * must depend on nothing else.
   */
  policyFor: (ctx: ClientCallContext) => PoolLimitsPolicy | undefined;
}

export interface PoolLimitsLayer extends Layer<ClientCallContext> {
  /**
   * Active and waiting counts of a destination: `host` for the whole service, `host|subset` for a
   * subset (each its own Istio cluster, with its own limits); `undefined` if no call to it was ever limited.
   */
  state(destination: string): PoolLimitsState | undefined;
}

function overflowError(ctx: ClientCallContext, policy: PoolLimitsPolicy, state: PoolLimitsState): WeftError {
  const target = ctx.service ?? 'the destination';
  return new WeftError(
    OVERFLOW_CODE,
    `${target} is at its connectionPool limit: ${state.active} requests active (http2MaxRequests ${policy.maxRequests}, tcp.maxConnections ${policy.maxConnections}) and ${state.pending} waiting (http1MaxPendingRequests ${policy.maxPending})`,
    { service: ctx.service },
  );
}

function isStream(body: unknown): body is Readable {
  return body !== null && typeof body === 'object' && 'pipe' in body && 'once' in body;
}

/**
 * What the layer keeps per destination: its limits under the last policy snapshot a call carried,
 * its limiter once a call to it was limited, and what settles its attempts, made once so an
 * attempt allocates no callback of its own.
 */
class Destination {
  /** The policy snapshot `policy` was read from: a call with the same snapshot skips the lookup. */
  snapshot: unknown = undefined;
  policy: PoolLimitsPolicy | undefined = undefined;
  limiter: PoolLimiter | undefined = undefined;

  readonly release = (): void => this.limiter?.release();

  readonly answered = (response: WeftResponse): WeftResponse => {
    const body = response.body;
    // Envoy counts the request until the response completes: a streamed body holds the slot until it
    // closes. 'close' comes once, so `on` (no wrapper, unlike `once`) with the shared release does.
    if (isStream(body) && !body.closed) body.on('close', this.release);
    else this.release();
    return response;
  };

  readonly failed = (error: unknown): never => {
    this.release();
    throw error;
  };

  /** Runs one admitted attempt and gives its slot back when it settles, or when its streamed body closes. */
  admitted(next: Handler<ClientCallContext>, request: WeftRequest, ctx: ClientCallContext): Promise<WeftResponse> {
    let pending: Promise<WeftResponse>;
    try {
      pending = next(request, ctx);
    } catch (error) {
      this.release();
      return Promise.reject(error);
    }
    return pending.then(this.answered, this.failed);
  }
}

/**
 * Admission control per destination service, as Envoy's cluster circuit breakers do with the
 * thresholds Istio takes from `connectionPool.http`: at most `maxRequests` attempts in flight;
 * beyond, a call waits in a FIFO line of at most `maxPending` (leaving it if its signal fires,
 * e.g. at the deadline); beyond that it fails at once with `WEFT_ERR_UPSTREAM_OVERFLOW` (503,
 * flag `UO`, not retried). Sits between hedge and balance, so each attempt takes its own slot.
 * A call whose destination has no limits goes straight to the next handler.
 *
 * The limits are per destination as Envoy keeps them per cluster: the service, or one subset of
 * it (`host|subset`, the name of the call's endpoint snapshot), so a subset with its own
 * connectionPool gets its own counters and a saturated destination holds no slot of another.
 */
export function poolLimits(options: PoolLimitsOptions): PoolLimitsLayer {
  const { policyFor } = options;
  const destinations = new Map<string, Destination>();
  return {
    role: 'pool-limits',
    wrap(next: Handler<ClientCallContext>): Handler<ClientCallContext> {
      return (request, ctx) => {
        const service = ctx.service;
        if (service === undefined) return next(request, ctx);
        const name = ctx.snapshot?.service ?? service;
        let destination = destinations.get(name);
        if (destination === undefined) {
          destination = new Destination();
          destinations.set(name, destination);
        }
        let policy = destination.policy;
        if (destination.snapshot !== ctx.policy || ctx.policy === undefined) {
          policy = policyFor(ctx);
          destination.policy = policy;
          destination.snapshot = ctx.policy;
        }
        if (policy === undefined) return next(request, ctx);
        // Made on the first limited call; kept when the limits change, so calls in flight keep their slots.
        let limiter = destination.limiter;
        if (limiter === undefined) {
          limiter = new PoolLimiter(policy);
          destination.limiter = limiter;
        }
        const admission = limiter.acquire(policy, ctx.signal);
        if (admission === true) return destination.admitted(next, request, ctx);
        if (admission === false) {
          ctx.addResponseFlag('UO');
          return Promise.reject(overflowError(ctx, policy, limiter.state()));
        }
        const d = destination;
        return admission.then(
          () => d.admitted(next, request, ctx),
          (reason: unknown) => {
            throw abortedCallError(reason, ctx, 'while waiting for a connectionPool slot');
          },
        );
      };
    },
    state(destination) {
      return destinations.get(destination)?.limiter?.state();
    },
  };
}
