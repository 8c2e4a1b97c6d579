// The pool-limits layer: Envoy's circuit breakers as a DestinationRule's connectionPool sets them, per destination.
import type { Readable } from 'node:stream';
import {
  ERROR_CODES,
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

/**
 * Envoy's upstream overflow (circuit breaker tripped). Not yet in core's ERROR_CODES, where it
 * belongs as { status: 503, flag: 'UO', retryable: false }; until then `overflowError` sets its spec.
 */
export const OVERFLOW_CODE = 'WEFT_ERR_UPSTREAM_OVERFLOW';

export interface PoolLimitsOptions {
  /** The destination's limits for this call (its DestinationRule's connectionPool); `undefined`: none. */
  policyFor: (ctx: ClientCallContext) => PoolLimitsPolicy | undefined;
}

export interface PoolLimitsLayer extends Layer<ClientCallContext> {
  /** Active, waiting and retrying counts of a destination; `undefined` if no call to it was ever limited. */
  state(service: string): PoolLimitsState | undefined;
  /** The destination's limiter (for the retry layer's `tryRetry`/`retryDone`); `undefined` as for `state`. */
  limiter(service: string): PoolLimiter | undefined;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

function overflowError(ctx: ClientCallContext, policy: PoolLimitsPolicy, state: PoolLimitsState): WeftError {
  const target = ctx.service ?? 'the destination';
  const known = OVERFLOW_CODE in ERROR_CODES;
  // Until core's table has the code, WeftError's constructor cannot look it up: build the error
  // under a stand-in code, then give it the overflow code and its spec.
  const error = new WeftError(
    (known ? OVERFLOW_CODE : 'WEFT_ERR_UPSTREAM_CONNECT') as WeftErrorCode,
    `${target} is at its connectionPool limit: ${state.active} requests active (http2MaxRequests ${policy.maxRequests}, tcp.maxConnections ${policy.maxConnections}) and ${state.pending} waiting (http1MaxPendingRequests ${policy.maxPending})`,
    { service: ctx.service },
  );
  if (!known) {
    const e = error as Mutable<WeftError>;
    e.code = OVERFLOW_CODE as WeftErrorCode;
    e.status = 503;
    e.flag = 'UO';
    e.retryable = false;
  }
  return error;
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
        let limiter = limiters.get(service);
        if (limiter === undefined) {
          limiter = new PoolLimiter(policy);
          limiters.set(service, limiter);
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
    state(service) {
      return limiters.get(service)?.state();
    },
    limiter(service) {
      return limiters.get(service);
    },
  };
}
