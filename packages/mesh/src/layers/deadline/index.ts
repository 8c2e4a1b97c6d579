// The deadline layer: gives a call its time limit and fails it with WEFT_ERR_TIMEOUT when the limit passes.

import type { Readable } from 'node:stream';
import { type CallContext, type Handler, type Layer, WeftError, type WeftResponse } from '@weft/core';
import { parseDurationMs } from '@weft/policy';
import type { ClientCallContext } from '../../client/context.js';

export interface DeadlineOptions {
  /** Limit for calls that neither bring their own nor have a route timeout, in ms; 0 sets none. */
  defaultTimeoutMs: number;
}

function timeoutError(ctx: CallContext, limitMs: number): WeftError {
  const target = ctx.service ?? 'the destination';
  return new WeftError('WEFT_ERR_TIMEOUT', `call to ${target} did not complete within ${limitMs} ms`, {
    service: ctx.service,
    endpoint: ctx.endpoint?.address,
  });
}

const routeTimeouts = new WeakMap<object, number | undefined>();

/**
 * The call's time limit in ms (0: none), by precedence: the call's own (`ctx.overrides.timeout`)
 * > its route's `timeout` (Istio: `0s` disables; a route with a `fault` has none) > the mesh's.
 * A deadline the caller set directly (axios `timeout`) is already in ctx.deadline and wins.
 */
export function timeoutFor(ctx: CallContext, defaultTimeoutMs: number): number {
  const c = ctx as Partial<ClientCallContext>;
  const own = c.overrides?.timeout;
  if (own !== undefined) return typeof own === 'number' ? own : (parseDurationMs(own) ?? defaultTimeoutMs);
  const route = c.route;
  if (route !== undefined) {
    let ms = routeTimeouts.get(route);
    if (!routeTimeouts.has(route)) {
      const http = route.http;
      ms = http.fault !== undefined || http.timeout === undefined ? undefined : parseDurationMs(http.timeout);
      routeTimeouts.set(route, ms);
    }
    if (ms !== undefined) return ms;
  }
  return defaultTimeoutMs;
}

/**
 * Sets `ctx.deadline` (the caller's own, else the default) and enforces it over everything
 * below: waiting for a connection, the attempt, and the response body, as Envoy's route
 * timeout does. When it passes, the call in flight is aborted through `ctx.signal` and the
 * caller gets `WEFT_ERR_TIMEOUT`. With no deadline the layer adds nothing to the call:
 * no timer and no AbortController.
 */
export function deadline<Ctx extends CallContext = CallContext>(options: DeadlineOptions): Layer<Ctx> {
  const { defaultTimeoutMs } = options;
  return {
    role: 'deadline',
    wrap(next: Handler<Ctx>): Handler<Ctx> {
      return (request, ctx) => {
        // The limit a timeout error states: the one configured (the call's own, a route's, the
        // mesh's), not what was left of it when the timer was set a moment later.
        let statedMs: number | undefined;
        if (ctx.deadline === Number.POSITIVE_INFINITY) {
          const timeoutMs = timeoutFor(ctx, defaultTimeoutMs);
          if (timeoutMs > 0) {
            ctx.deadline = Date.now() + timeoutMs;
            statedMs = timeoutMs;
          }
        } else statedMs = (ctx as Partial<ClientCallContext>).ownLimitMs;
        // What is left of the inbound call this one is made for (deadline propagation) bounds it too.
        const inherited = (ctx as Partial<ClientCallContext>).inheritedDeadline;
        if (inherited !== undefined && inherited < ctx.deadline) {
          ctx.deadline = inherited;
          statedMs = undefined;
        }
        if (ctx.deadline === Number.POSITIVE_INFINITY) return next(request, ctx);
        const limitMs = Math.max(0, Math.round(ctx.deadline - Date.now()));
        if (limitMs <= 0) return Promise.reject(timeoutError(ctx, statedMs ?? 0));
        const controller = new AbortController();
        const callerSignal = ctx.signal;
        if (callerSignal !== undefined) {
          if (callerSignal.aborted) controller.abort(callerSignal.reason);
          else callerSignal.addEventListener('abort', () => controller.abort(callerSignal.reason), { once: true });
        }
        ctx.signal = controller.signal;
        return new Promise<WeftResponse>((resolve, reject) => {
          let body: Readable | undefined;
          const timer = setTimeout(() => {
            const error = timeoutError(ctx, statedMs ?? limitMs);
            ctx.addResponseFlag('UT');
            controller.abort(error);
            if (body !== undefined) body.destroy(error);
            else reject(error);
          }, limitMs);
          next(request, ctx).then(
            (response) => {
              const b = response.body;
              if (b !== null && typeof b === 'object' && 'pipe' in b && !b.destroyed && !b.readableEnded) {
                // The limit covers the body too: keep the timer until the stream is done.
                body = b;
                b.once('close', () => clearTimeout(timer));
              } else {
                clearTimeout(timer);
              }
              resolve(response);
            },
            (error: unknown) => {
              clearTimeout(timer);
              reject(error);
            },
          );
        });
      };
    },
  };
}
