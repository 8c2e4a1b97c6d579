// The retry decision, apart from the loop: is this attempt's outcome retried under the policy, and is it safe to send again?
import { type CallContext, isWeftError, type WeftError, type WeftHeaders } from '@weft/core';
import { GRPC_CONDITIONS, type RetryPolicy } from './policy.js';

/** What an attempt answered: a response as it came off the wire (its body is not read). */
export interface ResponseOutcome {
  readonly status: number;
  readonly headers: WeftHeaders;
}

/** Methods whose request may be sent twice with the effect of once (RFC 9110 §9.2.2). */
export const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

const GRPC_CONDITION_BY_STATUS = new Map<number, string>(
  Object.entries(GRPC_CONDITIONS).map(([condition, status]) => [status, condition]),
);

// Envoy's wouldRetryFromReset: a failed connection is retried under connect-failure, and under
// reset-before-request (nothing was sent); every reset, connect failures and per-try timeouts
// included, under reset, 5xx and gateway-error ("we count an upstream reset as a 5xx").
const ON_CONNECT_FAILURE = ['connect-failure', 'reset-before-request', 'reset', '5xx', 'gateway-error'] as const;
const ON_RESET = ['reset', '5xx', 'gateway-error'] as const;

function firstOf(conditions: ReadonlySet<string>, candidates: readonly string[]): string | undefined {
  for (const c of candidates) if (conditions.has(c)) return c;
  return undefined;
}

function headerText(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/**
 * The condition under which Envoy would retry this response, or `undefined`. A response carrying
 * `x-envoy-ratelimited` (an upstream Envoy rate-limited it) is retried only under
 * `envoy-ratelimited`, whatever its status, as Envoy does. gRPC conditions read `grpc-status`
 * from the response headers (a trailers-only answer).
 */
export function responseRetryCondition(response: ResponseOutcome, policy: RetryPolicy): string | undefined {
  const c = policy.conditions;
  const status = response.status;
  let match: string | undefined;
  if (status >= 500 && status <= 599 && c.has('5xx')) match = '5xx';
  else if ((status === 502 || status === 503 || status === 504) && c.has('gateway-error')) match = 'gateway-error';
  else if (status === 409 && c.has('retriable-4xx')) match = 'retriable-4xx';
  else if (policy.retriableStatusCodes.has(status) && c.has('retriable-status-codes')) match = 'retriable-status-codes';
  else if (policy.grpcStatusCodes.size > 0) {
    const grpc = headerText(response.headers['grpc-status']);
    if (grpc !== undefined) {
      const code = Number(grpc);
      if (policy.grpcStatusCodes.has(code)) match = GRPC_CONDITION_BY_STATUS.get(code);
    }
  }
  if (match === undefined && !c.has('envoy-ratelimited')) return undefined;
  if (response.headers['x-envoy-ratelimited'] !== undefined) {
    return c.has('envoy-ratelimited') ? 'envoy-ratelimited' : undefined;
  }
  return match;
}

/**
 * The condition under which Envoy would retry this failure, or `undefined`. Only failures of the
 * attempt itself are retried: a refused connection, a reset, a per-try timeout (a timeout while the
 * overall deadline still has time). Never: the caller's abort, the overall deadline, REGISTRY_ONLY,
 * a closed mesh, no healthy endpoint (Envoy answers 503 UH without retrying), an upstream protocol
 * failure, or anything that is not a WeftError. A bare status code (`503`) never matches an error:
 * it matches only a real upstream response. `refused-stream` is HTTP/2's and never matches over
 * weft's HTTP/1 transport.
 */
export function errorRetryCondition(error: unknown, policy: RetryPolicy, ctx: CallContext): string | undefined {
  if (!isWeftError(error)) return undefined;
  switch (error.code) {
    case 'WEFT_ERR_UPSTREAM_CONNECT':
    case 'WEFT_ERR_PEER_IDENTITY':
      return firstOf(policy.conditions, ON_CONNECT_FAILURE);
    case 'WEFT_ERR_UPSTREAM_RESET':
      return firstOf(policy.conditions, ON_RESET);
    case 'WEFT_ERR_TIMEOUT':
      return ctx.remainingMs() > 0 ? firstOf(policy.conditions, ON_RESET) : undefined;
    default:
      return undefined;
  }
}

/** Whether a failed connection is the outcome: nothing was sent, so even a POST may be sent again. */
function nothingSent(outcome: ResponseOutcome | WeftError | unknown): boolean {
  return isWeftError(outcome, 'WEFT_ERR_UPSTREAM_CONNECT');
}

/**
 * Whether the request may be sent again after this outcome: always when nothing was sent (the
 * connection failed); otherwise only for an idempotent method, or when the policy allows
 * non-idempotent retries explicitly. (Envoy retries a POST as readily as a GET; Istio users
 * found their POSTs duplicated by the default policy, istio/istio#13851, so weft does not.)
 */
export function maySendAgain(
  outcome: ResponseOutcome | WeftError | unknown,
  policy: RetryPolicy,
  method: string,
): boolean {
  return policy.retryNonIdempotent || IDEMPOTENT_METHODS.has(method) || nothingSent(outcome);
}

/**
 * The whole decision for one attempt: a response or a failure is retried when a condition of the
 * policy matches it, the request may be sent again, and the call itself is still live (its signal,
 * which the deadline layer aborts when the overall limit passes, is not aborted). Whether a retry
 * is left, and whether there is time to wait for it, is the loop's business.
 */
export function shouldRetry(
  outcome: ResponseOutcome | WeftError | unknown,
  policy: RetryPolicy,
  ctx: CallContext,
  method: string,
): boolean {
  const condition = isResponse(outcome)
    ? responseRetryCondition(outcome, policy)
    : errorRetryCondition(outcome, policy, ctx);
  return condition !== undefined && ctx.signal?.aborted !== true && maySendAgain(outcome, policy, method);
}

/** A response, not an error (a WeftError has a `status` too, so that is ruled out first). */
export function isResponse(outcome: unknown): outcome is ResponseOutcome {
  return (
    typeof outcome === 'object' &&
    outcome !== null &&
    !(outcome instanceof Error) &&
    typeof (outcome as ResponseOutcome).status === 'number' &&
    typeof (outcome as ResponseOutcome).headers === 'object'
  );
}
