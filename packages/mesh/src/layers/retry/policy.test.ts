import { isWeftError } from '@weft/core';
import { describe, expect, it } from 'vitest';
import { type CallOverrides, ClientCallContext } from '../../client/context.js';
import type { CompiledRoute } from '../../routing/model.js';
import { compiledRoute } from '../../testing/fixtures.js';
import { ISTIO_DEFAULT_RETRY_POLICY, parseRetryOn, type RetryCallOverrides, retryPolicyFor } from './policy.js';

const routeWith = (http: Record<string, unknown>): CompiledRoute => compiledRoute(http);

function callTo(route?: CompiledRoute, retries?: RetryCallOverrides): ClientCallContext {
  const ctx = new ClientCallContext();
  ctx.service = 'reviews.default.svc.cluster.local';
  ctx.route = route;
  if (retries !== undefined) ctx.overrides = { retries } as CallOverrides;
  return ctx;
}

describe('retryPolicyFor', () => {
  it("gives a call whose host has no VirtualService Istio's default: 2 retries on connect-failure, refused-stream, unavailable, cancelled", () => {
    const policy = retryPolicyFor(callTo());
    expect(policy.attempts).toBe(2);
    expect([...policy.conditions].sort()).toEqual(['cancelled', 'connect-failure', 'refused-stream', 'unavailable']);
    expect(policy.retriableStatusCodes.size).toBe(0);
    expect(policy.perTryTimeoutMs).toBeUndefined();
    expect(policy.ignorePreviousHosts).toBe(true);
    expect(policy.retryNonIdempotent).toBe(false);
    expect([policy.backoffBaseMs, policy.backoffMaxMs]).toEqual([25, 250]);
  });

  it('does not retry 503 by default, as current Istio (EXCLUDE_UNSAFE_503_FROM_DEFAULT_RETRY)', () => {
    const policy = retryPolicyFor(callTo(routeWith({})));
    expect(policy).toBe(ISTIO_DEFAULT_RETRY_POLICY);
    expect(policy.retriableStatusCodes.has(503)).toBe(false);
    expect(policy.conditions.has('5xx')).toBe(false);
  });

  it('does not retry pass-through calls (no service, no route)', () => {
    const ctx = new ClientCallContext();
    expect(retryPolicyFor(ctx).attempts).toBe(0);
  });

  it("compiles the route's retries: bare codes become retriable status codes and imply retriable-status-codes", () => {
    const policy = retryPolicyFor(callTo(routeWith({ retries: { attempts: 3, retryOn: 'reset,503,504' } })));
    expect(policy.attempts).toBe(3);
    expect([...policy.conditions].sort()).toEqual(['reset', 'retriable-status-codes']);
    expect([...policy.retriableStatusCodes]).toEqual([503, 504]);
  });

  it("keeps Istio's default conditions when the route gives attempts but no retryOn", () => {
    const policy = retryPolicyFor(callTo(routeWith({ retries: { attempts: 4 } })));
    expect(policy.attempts).toBe(4);
    expect(policy.conditions).toEqual(ISTIO_DEFAULT_RETRY_POLICY.conditions);
  });

  it('turns retries off when the route sets retries without attempts, or attempts: 0, as pilot does', () => {
    expect(retryPolicyFor(callTo(routeWith({ retries: { retryOn: '5xx' } }))).attempts).toBe(0);
    expect(retryPolicyFor(callTo(routeWith({ retries: { attempts: 0 } }))).attempts).toBe(0);
  });

  it('reads perTryTimeout, backoff (max = 10 × base), retryIgnorePreviousHosts and retryRemoteLocalities', () => {
    const policy = retryPolicyFor(
      callTo(
        routeWith({
          retries: {
            attempts: 1,
            perTryTimeout: '1.5s',
            backoff: '100ms',
            retryIgnorePreviousHosts: false,
            retryRemoteLocalities: true,
          },
        }),
      ),
    );
    expect(policy.perTryTimeoutMs).toBe(1500);
    expect([policy.backoffBaseMs, policy.backoffMaxMs]).toEqual([100, 1000]);
    expect(policy.ignorePreviousHosts).toBe(false);
    expect(policy.retryRemoteLocalities).toBe(true);
  });

  it('gives a route with a client-side fault no retries, even with retries written', () => {
    const route = routeWith({ fault: { abort: { httpStatus: 503 } }, retries: { attempts: 3, retryOn: '5xx' } });
    expect(retryPolicyFor(callTo(route)).attempts).toBe(0);
  });

  it('compiles a route once and returns the same policy object on every call', () => {
    const route = routeWith({ retries: { attempts: 3, retryOn: '5xx' } });
    expect(retryPolicyFor(callTo(route))).toBe(retryPolicyFor(callTo(route)));
  });

  it("lets the call's overrides win field by field over the route", () => {
    const route = routeWith({ retries: { attempts: 3, retryOn: '5xx', perTryTimeout: '2s' } });
    const policy = retryPolicyFor(callTo(route, { perTryTimeout: 200, retryNonIdempotent: true }));
    expect(policy.attempts).toBe(3);
    expect(policy.conditions.has('5xx')).toBe(true);
    expect(policy.perTryTimeoutMs).toBe(200);
    expect(policy.retryNonIdempotent).toBe(true);
    const other = retryPolicyFor(callTo(route, { attempts: 1, perTryTimeout: '250ms', retryOn: 'gateway-error,409' }));
    expect(other.attempts).toBe(1);
    expect(other.perTryTimeoutMs).toBe(250);
    expect([...other.conditions].sort()).toEqual(['gateway-error', 'retriable-status-codes']);
    expect([...other.retriableStatusCodes]).toEqual([409]);
  });

  it('turns retries off for one call with attempts: 0', () => {
    expect(retryPolicyFor(callTo(undefined, { attempts: 0 })).attempts).toBe(0);
  });

  it('lets an explicit override retry a call on a route with a fault', () => {
    const route = routeWith({ fault: { delay: { fixedDelay: '1s' } } });
    expect(retryPolicyFor(callTo(route, { attempts: 2 })).attempts).toBe(2);
  });

  it('merges an override object again when it was changed in place', () => {
    const retries: RetryCallOverrides = { attempts: 1 };
    const ctx = callTo(undefined, retries);
    expect(retryPolicyFor(ctx).attempts).toBe(1);
    expect(retryPolicyFor(ctx)).toBe(retryPolicyFor(ctx));
    retries.attempts = 5;
    expect(retryPolicyFor(ctx).attempts).toBe(5);
  });

  it('refuses a malformed override with WEFT_ERR_REQUEST_INVALID, naming the field', () => {
    for (const [bad, field] of [
      [{ attempts: -1 }, 'attempts'],
      [{ attempts: 1.5 }, 'attempts'],
      [{ perTryTimeout: '2 seconds' }, 'perTryTimeout'],
      [{ perTryTimeout: 0 }, 'perTryTimeout'],
      [{ retryOn: '5xx,connect_failure' }, 'retryOn'],
    ] as const) {
      let error: unknown;
      try {
        retryPolicyFor(callTo(undefined, bad as RetryCallOverrides));
      } catch (e) {
        error = e;
      }
      expect(isWeftError(error, 'WEFT_ERR_REQUEST_INVALID')).toBe(true);
      expect((error as Error).message).toContain(field);
    }
  });
});

describe('parseRetryOn', () => {
  it('splits conditions from bare codes and reports what it does not know', () => {
    const parsed = parseRetryOn('5xx, 503 ,cancelled,bogus');
    expect([...parsed.conditions].sort()).toEqual(['5xx', 'cancelled', 'retriable-status-codes']);
    expect([...parsed.codes]).toEqual([503]);
    expect(parsed.unknown).toEqual(['bogus']);
  });
});
