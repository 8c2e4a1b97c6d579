// The fault layer: Istio's per-route fault injection, a delay and/or an aborted answer for a share of the requests.
import { type CallContext, type Handler, type Layer, WeftError, type WeftResponse } from '@weft/core';
import type { ClientCallContext } from '../../client/context.js';
import { abortedCallError } from '../abort.js';
import { faultPolicyOf, NO_FAULT } from './policy.js';

export { compileFault, type FaultPolicy, faultPolicyOf, NO_FAULT } from './policy.js';

export interface FaultOptions {
  /** Source of uniform draws in [0, 1); `Math.random` by default. Tests inject a seeded one. */
  random?: () => number;
}

/** Envoy's body for an aborted request (`sendLocalReply(…, "fault filter abort", …)`). */
const ABORT_BODY = 'fault filter abort';

/** Adds an Envoy response flag to the call, comma-separated after any already set, once. */

/**
 * A timer that never fires early: Node's timers run on libuv's cached loop clock and can fire
 * up to a millisecond before `ms` have passed, so a short firing is topped up.
 */
function delayTimer(ms: number, done: () => void): { cancel(): void } {
  const until = performance.now() + ms;
  let timer: NodeJS.Timeout;
  const check = (): void => {
    const left = until - performance.now();
    if (left > 0) timer = setTimeout(check, left);
    else done();
  };
  timer = setTimeout(check, ms);
  return { cancel: () => clearTimeout(timer) };
}

/**
 * Waits `ms`. Without a signal (no deadline, no caller signal) it is a plain timer; with one,
 * an abort (the caller's, or the deadline layer's when the limit passes) clears the timer and
 * rejects at once, so no timer outlives its call.
 */
function sleep(ms: number, ctx: CallContext): Promise<void> {
  const signal = ctx.signal;
  if (signal === undefined) return new Promise((resolve) => delayTimer(ms, resolve));
  if (signal.aborted) return Promise.reject(abortedCallError(signal.reason, ctx, 'during a fault delay'));
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      timer.cancel();
      reject(abortedCallError(signal.reason, ctx, 'during a fault delay'));
    };
    const timer = delayTimer(ms, () => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    });
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Injects the faults of the call's route (`ctx.route.http.fault`), as Envoy's fault filter does
 * in an Istio sidecar:
 * - the delay is decided first and the abort after it, each with its own draw, so a request
 *   can be both delayed and aborted (Istio: "Delay and abort faults are independent");
 * - a delayed call carries the flag `DI` (set when the delay starts, as Envoy does) and then
 *   goes on; an abort or deadline during the delay ends it with the abort's WeftError;
 * - an aborted call never reaches the layers below (no mirror, no retry, no connection): it is
 *   answered with the route's status, Envoy's body `fault filter abort` and the flag `FI`.
 * It sits below the deadline layer, so a delay counts against the call's time limit, and above
 * mirror and retry, as Envoy's fault filter runs before the router that mirrors and retries.
 * Calls without a route, or whose route injects nothing, go straight to the next layer.
 */
export class FaultLayer implements Layer<ClientCallContext> {
  readonly role = 'fault';
  readonly #random: () => number;
  #delaysInjected = 0;
  #abortsInjected = 0;

  constructor(options: FaultOptions = {}) {
    const random = options.random ?? Math.random;
    if (typeof random !== 'function') {
      throw new WeftError('WEFT_ERR_OPTION_TYPE', 'fault: `random` must be a function returning a number in [0, 1)');
    }
    this.#random = random;
  }

  /** Requests delayed so far (Envoy's `fault.delays_injected`). */
  get delaysInjected(): number {
    return this.#delaysInjected;
  }

  /** Requests aborted so far (Envoy's `fault.aborts_injected`). */
  get abortsInjected(): number {
    return this.#abortsInjected;
  }

  wrap(next: Handler<ClientCallContext>): Handler<ClientCallContext> {
    const random = this.#random;
    // A share of 1 needs no draw; Envoy's check is `random % denominator < numerator`, the same odds.
    const drawn = (fraction: number): boolean => fraction >= 1 || random() < fraction;
    const abort = (ctx: ClientCallContext, status: number): Promise<WeftResponse> => {
      this.#abortsInjected++;
      ctx.addResponseFlag('FI');
      return Promise.resolve({
        status,
        headers: { 'content-type': 'text/plain', 'x-weft-fault': 'abort' },
        body: ABORT_BODY,
      });
    };
    return (request, ctx) => {
      const route = ctx.route;
      if (route === undefined || route.http.fault === undefined) return next(request, ctx);
      const policy = faultPolicyOf(route);
      if (policy === NO_FAULT) return next(request, ctx);
      const { delay, abort: abortPolicy } = policy;
      if (delay !== undefined && drawn(delay.fraction)) {
        this.#delaysInjected++;
        ctx.addResponseFlag('DI');
        return sleep(delay.ms, ctx).then(
          () => {
            if (abortPolicy !== undefined && drawn(abortPolicy.fraction)) {
              return abort(ctx, abortPolicy.status);
            }
            return next(request, ctx);
          },
          (error: WeftError) => {
            // DI again: a layer above may have replaced the flags when it aborted the delay.
            ctx.addResponseFlag('DI');
            ctx.addResponseFlag(error.flag);
            throw error;
          },
        );
      }
      if (abortPolicy !== undefined && drawn(abortPolicy.fraction)) {
        return abort(ctx, abortPolicy.status);
      }
      return next(request, ctx);
    };
  }
}

/** The fault layer; see {@link FaultLayer}. */
export function fault(options?: FaultOptions): FaultLayer {
  return new FaultLayer(options);
}
