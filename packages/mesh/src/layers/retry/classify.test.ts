import { CallContext, WeftError, type WeftErrorCode, type WeftHeaders } from '@weft/core';
import { describe, expect, it } from 'vitest';
import { errorRetryCondition, maySendAgain, responseRetryCondition, shouldRetry } from './classify.js';
import { applyOverrides, compileHttpRetry, ISTIO_DEFAULT_RETRY_POLICY, type RetryPolicy } from './policy.js';

const on = (retryOn: string): RetryPolicy => compileHttpRetry({ attempts: 2, retryOn });
const response = (status: number, headers: WeftHeaders = {}) => ({ status, headers });
const error = (code: WeftErrorCode) => new WeftError(code, code);
const live = () => new CallContext(Date.now() + 10_000);

describe('responseRetryCondition', () => {
  it("does not retry a 503 under Istio's default policy", () => {
    expect(responseRetryCondition(response(503), ISTIO_DEFAULT_RETRY_POLICY)).toBeUndefined();
  });

  it('retries any 5xx under 5xx, and nothing below 500', () => {
    expect(responseRetryCondition(response(500), on('5xx'))).toBe('5xx');
    expect(responseRetryCondition(response(599), on('5xx'))).toBe('5xx');
    expect(responseRetryCondition(response(499), on('5xx'))).toBeUndefined();
    expect(responseRetryCondition(response(200), on('5xx'))).toBeUndefined();
  });

  it('retries only 502, 503 and 504 under gateway-error', () => {
    expect([500, 501, 502, 503, 504, 505].map((s) => responseRetryCondition(response(s), on('gateway-error')))).toEqual(
      [undefined, undefined, 'gateway-error', 'gateway-error', 'gateway-error', undefined],
    );
  });

  it('retries only 409 under retriable-4xx', () => {
    expect(responseRetryCondition(response(409), on('retriable-4xx'))).toBe('retriable-4xx');
    expect(responseRetryCondition(response(429), on('retriable-4xx'))).toBeUndefined();
  });

  it('retries exactly the bare codes of retryOn', () => {
    expect(responseRetryCondition(response(503), on('503,429'))).toBe('retriable-status-codes');
    expect(responseRetryCondition(response(429), on('503,429'))).toBe('retriable-status-codes');
    expect(responseRetryCondition(response(500), on('503,429'))).toBeUndefined();
  });

  it('reads grpc-status for the gRPC conditions', () => {
    const policy = ISTIO_DEFAULT_RETRY_POLICY;
    expect(responseRetryCondition(response(200, { 'grpc-status': '14' }), policy)).toBe('unavailable');
    expect(responseRetryCondition(response(200, { 'grpc-status': ['1'] }), policy)).toBe('cancelled');
    expect(responseRetryCondition(response(200, { 'grpc-status': '8' }), policy)).toBeUndefined();
    expect(responseRetryCondition(response(200, { 'grpc-status': '8' }), on('resource-exhausted'))).toBe(
      'resource-exhausted',
    );
    expect(responseRetryCondition(response(200, { 'grpc-status': '4' }), on('deadline-exceeded'))).toBe(
      'deadline-exceeded',
    );
    expect(responseRetryCondition(response(200, { 'grpc-status': '13' }), on('internal'))).toBe('internal');
    expect(responseRetryCondition(response(200, { 'grpc-status': '0' }), policy)).toBeUndefined();
  });

  it('retries a response an upstream Envoy rate-limited only under envoy-ratelimited', () => {
    const limited = response(503, { 'x-envoy-ratelimited': 'true' });
    expect(responseRetryCondition(limited, on('5xx'))).toBeUndefined();
    expect(responseRetryCondition(limited, on('envoy-ratelimited'))).toBe('envoy-ratelimited');
    expect(responseRetryCondition(response(429, { 'x-envoy-ratelimited': '' }), on('envoy-ratelimited'))).toBe(
      'envoy-ratelimited',
    );
  });
});

describe('errorRetryCondition', () => {
  it('retries a refused connection under connect-failure, reset-before-request, reset, 5xx and gateway-error', () => {
    for (const c of ['connect-failure', 'reset-before-request', 'reset', '5xx', 'gateway-error']) {
      expect(errorRetryCondition(error('WEFT_ERR_UPSTREAM_CONNECT'), on(c), live())).toBe(c);
    }
  });

  it('retries a reset under reset, 5xx and gateway-error, not connect-failure or reset-before-request', () => {
    const reset = error('WEFT_ERR_UPSTREAM_RESET');
    expect(errorRetryCondition(reset, on('reset'), live())).toBe('reset');
    expect(errorRetryCondition(reset, on('5xx'), live())).toBe('5xx');
    expect(errorRetryCondition(reset, on('gateway-error'), live())).toBe('gateway-error');
    expect(errorRetryCondition(reset, on('connect-failure,reset-before-request'), live())).toBeUndefined();
    expect(errorRetryCondition(reset, ISTIO_DEFAULT_RETRY_POLICY, live())).toBeUndefined();
  });

  it('never matches a bare status code against a typed error, though the error answers 503', () => {
    expect(errorRetryCondition(error('WEFT_ERR_UPSTREAM_CONNECT'), on('503'), live())).toBeUndefined();
    expect(errorRetryCondition(error('WEFT_ERR_UPSTREAM_RESET'), on('503'), live())).toBeUndefined();
  });

  it('never matches refused-stream over HTTP/1', () => {
    expect(errorRetryCondition(error('WEFT_ERR_UPSTREAM_RESET'), on('refused-stream'), live())).toBeUndefined();
    expect(errorRetryCondition(error('WEFT_ERR_UPSTREAM_CONNECT'), on('refused-stream'), live())).toBeUndefined();
  });

  it('retries a per-try timeout as a reset, but never the overall deadline', () => {
    expect(errorRetryCondition(error('WEFT_ERR_TIMEOUT'), on('5xx'), live())).toBe('5xx');
    expect(errorRetryCondition(error('WEFT_ERR_TIMEOUT'), on('reset'), live())).toBe('reset');
    expect(errorRetryCondition(error('WEFT_ERR_TIMEOUT'), ISTIO_DEFAULT_RETRY_POLICY, live())).toBeUndefined();
    expect(errorRetryCondition(error('WEFT_ERR_TIMEOUT'), on('5xx'), new CallContext(Date.now() - 1))).toBeUndefined();
  });

  it('never retries an abort, a closed mesh, REGISTRY_ONLY, no healthy upstream, a protocol failure or an untyped error', () => {
    const every = on('5xx,gateway-error,reset,reset-before-request,connect-failure,retriable-4xx,503');
    for (const code of [
      'WEFT_ERR_ABORTED',
      'WEFT_ERR_CLOSED',
      'WEFT_ERR_REGISTRY_ONLY',
      'WEFT_ERR_NO_HEALTHY_UPSTREAM',
      'WEFT_ERR_UPSTREAM_FAILURE',
      'WEFT_ERR_REQUEST_INVALID',
    ] as const) {
      expect(errorRetryCondition(error(code), every, live())).toBeUndefined();
    }
    expect(errorRetryCondition(Object.assign(new Error('x'), { code: 'ECONNREFUSED' }), every, live())).toBeUndefined();
  });
});

describe('shouldRetry', () => {
  it('retries a POST after a connect failure, since nothing was sent', () => {
    expect(shouldRetry(error('WEFT_ERR_UPSTREAM_CONNECT'), on('5xx'), live(), 'POST')).toBe(true);
  });

  it('does not retry a POST after a reset or a 503 it may have acted on', () => {
    expect(shouldRetry(error('WEFT_ERR_UPSTREAM_RESET'), on('5xx'), live(), 'POST')).toBe(false);
    expect(shouldRetry(response(503), on('5xx'), live(), 'POST')).toBe(false);
    expect(shouldRetry(response(503), on('5xx'), live(), 'PATCH')).toBe(false);
  });

  it('retries idempotent methods after a reset', () => {
    for (const method of ['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']) {
      expect(shouldRetry(error('WEFT_ERR_UPSTREAM_RESET'), on('reset'), live(), method)).toBe(true);
    }
  });

  it('retries a POST after a reset when the policy allows non-idempotent retries', () => {
    const policy = applyOverrides(on('reset'), { retryNonIdempotent: true });
    expect(shouldRetry(error('WEFT_ERR_UPSTREAM_RESET'), policy, live(), 'POST')).toBe(true);
    expect(maySendAgain(response(503), policy, 'POST')).toBe(true);
  });

  it("does not retry once the call's signal has fired", () => {
    const controller = new AbortController();
    const ctx = new CallContext(Number.POSITIVE_INFINITY, controller.signal);
    expect(shouldRetry(response(503), on('5xx'), ctx, 'GET')).toBe(true);
    controller.abort();
    expect(shouldRetry(response(503), on('5xx'), ctx, 'GET')).toBe(false);
    expect(shouldRetry(error('WEFT_ERR_UPSTREAM_CONNECT'), on('5xx'), ctx, 'GET')).toBe(false);
  });
});
