// One reading of an aborted call for every layer that waits (fault delays, pool queues, retry backoff), as the transport reads it.
import { type CallContext, ERROR_CODES, isWeftError, WeftError, type WeftErrorCode } from '@weft/core';

/**
 * The WeftError for a call whose signal fired while it was `waiting` (e.g. `during a fault delay`):
 * our own deadline's WeftError as it is; `AbortSignal.timeout()`'s TimeoutError as WEFT_ERR_TIMEOUT
 * (the caller's own limit); anything else as WEFT_ERR_ABORTED, the reason kept as its cause.
 * Adds the error's flag (UT, DC) to the call.
 */
export function abortedCallError(reason: unknown, ctx: CallContext, waiting: string): WeftError {
  if (isWeftError(reason)) return reason;
  const timedOut = (reason as { name?: unknown } | null)?.name === 'TimeoutError';
  const code: WeftErrorCode = timedOut ? 'WEFT_ERR_TIMEOUT' : 'WEFT_ERR_ABORTED';
  ctx.addResponseFlag(ERROR_CODES[code].flag);
  const target = ctx.service ?? 'the destination';
  const what = timedOut ? "timed out by the caller's signal" : 'was aborted by the caller';
  return new WeftError(code, `call to ${target} ${what} ${waiting}`, {
    service: ctx.service,
    endpoint: ctx.endpoint?.address,
    cause: reason,
  });
}
