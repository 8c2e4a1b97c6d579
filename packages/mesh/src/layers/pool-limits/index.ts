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
  /** The destination's limits for this call (its DestinationRule's connectionPool); `undefined`: none. */
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

/** Runs one admitted attempt and gives its slot back when it settles, or when its streamed body closes. */
function admitted(
  limiter: PoolLimiter,
  next: Handler<ClientCallContext>,
  request: WeftRequest,
  ctx: ClientCallContext,
): Promise<WeftResponse> {
  let pending: Promise<WeftResponse>;
  try {
    pending = next(request, ctx);
  } catch (error) {
    limiter.release();
    return Promise.reject(error);
  }
  return pending.then(
    (response) => {
      const body = response.body;
      // Envoy counts the request until the response completes: a streamed body holds the slot until it closes.
      if (isStream(body) && !body.closed) body.once('close', () => limiter.release());
      else limiter.release();
      return response;
    },
    (error: unknown) => {
      limiter.release();
      throw error;
    },
  );
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
  const limiters = new Map<string, PoolLimiter>();
  return {
    role: 'pool-limits',
    wrap(next: Handler<ClientCallContext>): Handler<ClientCallContext> {
      return (request, ctx) => {
        const service = ctx.service;
        const policy = service === undefined ? undefined : policyFor(ctx);
        if (policy === undefined || service === undefined) return next(request, ctx);
        const destination = ctx.snapshot?.service ?? service;
        let limiter = limiters.get(destination);
        if (limiter === undefined) {
          limiter = new PoolLimiter(policy);
          limiters.set(destination, limiter);
        }
        const admission = limiter.acquire(policy, ctx.signal);
        if (admission === true) return admitted(limiter, next, request, ctx);
        if (admission === false) {
          ctx.addResponseFlag('UO');
          return Promise.reject(overflowError(ctx, policy, limiter.state()));
        }
        const l = limiter;
        return admission.then(
          () => admitted(l, next, request, ctx),
          (reason: unknown) => {
            throw abortedCallError(reason, ctx, 'while waiting for a connectionPool slot');
          },
        );
      };
    },
    state(destination) {
      return limiters.get(destination)?.state();
    },
  };
}
