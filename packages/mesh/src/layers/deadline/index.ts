// The deadline layer: gives a call its time limit and fails it with WEFT_ERR_TIMEOUT when the limit passes.

import type { Readable } from 'node:stream';
import { type CallContext, type Handler, type Layer, WeftError, type WeftResponse } from '@weft/core';

export interface DeadlineOptions {
  /** Limit for calls that bring none of their own, in ms; 0 sets none. */
  defaultTimeoutMs: number;
}

function timeoutError(ctx: CallContext, limitMs: number): WeftError {
  const target = ctx.service ?? 'the destination';
  return new WeftError('WEFT_ERR_TIMEOUT', `call to ${target} did not complete within ${limitMs} ms`, {
    service: ctx.service,
    endpoint: ctx.endpoint?.address,
  });
}

/**
 * Sets `ctx.deadline` (the caller's own, else the default) and enforces it over everything
 * below: waiting for a connection, the attempt, and the response body, as Envoy's route
 * timeout does. When it passes, the call in flight is aborted through `ctx.signal` and the
 * caller gets `WEFT_ERR_TIMEOUT`. With no deadline the layer adds nothing to the call:
 * no timer and no AbortController.
 */
export function deadline(options: DeadlineOptions): Layer {
  const { defaultTimeoutMs } = options;
  return {
    role: 'deadline',
    wrap(next: Handler): Handler {
      return (request, ctx) => {
        if (ctx.deadline === Number.POSITIVE_INFINITY) {
          if (defaultTimeoutMs === 0) return next(request, ctx);
          ctx.deadline = Date.now() + defaultTimeoutMs;
        }
        const limitMs = Math.max(0, Math.round(ctx.deadline - Date.now()));
        if (limitMs <= 0) return Promise.reject(timeoutError(ctx, 0));
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
            const error = timeoutError(ctx, limitMs);
            ctx.responseFlags = 'UT';
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
