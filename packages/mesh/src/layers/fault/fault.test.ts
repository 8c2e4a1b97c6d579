// Tests of the fault layer: the odds, the delay, the abort and the pass-through, against a scripted inner handler.
import { compose, type Handler, isWeftError, type WeftRequest, type WeftResponse } from '@weft/core';
import type { HTTPRoute } from '@weft/policy';
import { describe, expect, it } from 'vitest';
import { ClientCallContext } from '../../client/context.js';
import type { CompiledRoute } from '../../routing/model.js';
import { compiledRoute, seeded } from '../../testing/fixtures.js';
import { deadline } from '../deadline/index.js';
import { compileFault, fault, NO_FAULT } from './index.js';

const request = (): WeftRequest => ({
  method: 'GET',
  scheme: 'http',
  authority: 'ratings',
  path: '/',
  headers: {},
  body: null,
});

/** A route to ratings with `http` on top; the layer reads only `http` and `virtualService`. */
const routeWith = (http: Partial<HTTPRoute>): CompiledRoute =>
  compiledRoute({ route: [{ destination: { host: 'ratings' } }], ...http }, 'default/ratings');

function contextFor(route: CompiledRoute | undefined, signal?: AbortSignal): ClientCallContext {
  const ctx = new ClientCallContext(Number.POSITIVE_INFINITY, signal);
  ctx.route = route;
  ctx.service = 'ratings.default.svc.cluster.local';
  return ctx;
}

const ok: WeftResponse = { status: 200, headers: {}, body: 'upstream' };

function counting(): Handler<ClientCallContext> & { calls: number } {
  const handler = Object.assign(
    async () => {
      handler.calls++;
      return ok;
    },
    { calls: 0 },
  );
  return handler;
}

describe('compileFault', () => {
  it('applies a fault to every request when it gives no percentage, as Istio documents', () => {
    expect(compileFault({ abort: { httpStatus: 503 } })).toEqual({ abort: { status: 503, fraction: 1 } });
    expect(compileFault({ delay: { fixedDelay: '2s' } })).toEqual({ delay: { ms: 2000, fraction: 1 } });
  });

  it('reads percentage.value as a double and the deprecated integer percent when percentage is absent', () => {
    expect(compileFault({ delay: { fixedDelay: '5ms', percentage: { value: 0.1 } } }).delay?.fraction).toBeCloseTo(
      0.001,
    );
    expect(compileFault({ delay: { fixedDelay: '5ms', percent: 30 } }).delay?.fraction).toBeCloseTo(0.3);
    expect(compileFault({ delay: { fixedDelay: '5ms', percent: 30, percentage: { value: 60 } } }).delay?.fraction).toBe(
      0.6,
    );
  });

  it('injects nothing for a zero percentage, an empty percentage, an exponential delay or a gRPC abort', () => {
    expect(compileFault({ abort: { httpStatus: 500, percentage: { value: 0 } } })).toBe(NO_FAULT);
    expect(compileFault({ abort: { httpStatus: 500, percentage: {} } })).toBe(NO_FAULT);
    expect(compileFault({ delay: { exponentialDelay: '1s' } })).toBe(NO_FAULT);
    expect(compileFault({ abort: { grpcStatus: 'UNAVAILABLE' } })).toBe(NO_FAULT);
    expect(compileFault({ abort: { http2Error: 'REFUSED_STREAM' } })).toBe(NO_FAULT);
    expect(compileFault(undefined)).toBe(NO_FAULT);
  });
});

describe('fault', () => {
  it('passes a call without a route, or whose route has no fault, to the next layer with the same objects', async () => {
    const layer = fault({
      random: () => {
        throw new Error('no draw expected');
      },
    });
    for (const route of [
      undefined,
      routeWith({}),
      routeWith({ fault: { abort: { httpStatus: 500, percentage: {} } } }),
    ]) {
      let seen: [WeftRequest, ClientCallContext] | undefined;
      const handler = layer.wrap(async (req, ctx) => {
        seen = [req, ctx];
        return ok;
      });
      const req = request();
      const ctx = contextFor(route);
      expect(await handler(req, ctx)).toBe(ok);
      expect(seen?.[0]).toBe(req);
      expect(seen?.[1]).toBe(ctx);
      expect(ctx.responseFlags).toBe('');
    }
  });

  it('answers an aborted call with the route status, Envoy body and FI flag, and never calls the next layer', async () => {
    const next = counting();
    const handler = fault().wrap(next);
    const ctx = contextFor(routeWith({ fault: { abort: { httpStatus: 418 } } }));
    const res = await handler(request(), ctx);
    expect(res).toEqual({
      status: 418,
      headers: { 'content-type': 'text/plain', 'x-weft-fault': 'abort' },
      body: 'fault filter abort',
    });
    expect(ctx.responseFlags).toBe('FI');
    expect(next.calls).toBe(0);
  });

  it('aborts every request when the abort gives no percentage', async () => {
    const next = counting();
    const layer = fault({ random: seeded(1) });
    const handler = layer.wrap(next);
    const route = routeWith({ fault: { abort: { httpStatus: 503 } } });
    for (let i = 0; i < 1_000; i++) expect((await handler(request(), contextFor(route))).status).toBe(503);
    expect(next.calls).toBe(0);
    expect(layer.abortsInjected).toBe(1_000);
  });

  it('delays and aborts the shares of requests their percentages ask for, each drawn independently', async () => {
    const n = 10_000;
    const layer = fault({ random: seeded(42) });
    const handler = layer.wrap(counting());
    const route = routeWith({
      fault: {
        delay: { fixedDelay: '1ms', percentage: { value: 25 } },
        abort: { httpStatus: 500, percentage: { value: 10 } },
      },
    });
    const contexts = Array.from({ length: n }, () => contextFor(route));
    await Promise.all(contexts.map((ctx) => handler(request(), ctx)));
    const flagged = (flag: string) => contexts.filter((c) => c.responseFlags.split(',').includes(flag)).length;
    const both = contexts.filter((c) => c.responseFlags === 'DI,FI').length;
    // Binomial bounds of about 4.5 standard deviations: sqrt(n·p·(1−p)) is 43, 30 and 16.
    expect(Math.abs(flagged('DI') - 2_500)).toBeLessThan(200);
    expect(Math.abs(flagged('FI') - 1_000)).toBeLessThan(135);
    expect(Math.abs(both - 250)).toBeLessThan(70);
    expect(layer.delaysInjected).toBe(flagged('DI'));
    expect(layer.abortsInjected).toBe(flagged('FI'));
  });

  it('waits the whole fixed delay, flags the call DI and then calls the next layer', async () => {
    const next = counting();
    const handler = fault().wrap(next);
    const ctx = contextFor(routeWith({ fault: { delay: { fixedDelay: '50ms' } } }));
    const started = performance.now();
    const res = await handler(request(), ctx);
    expect(performance.now() - started).toBeGreaterThanOrEqual(50);
    expect(res).toBe(ok);
    expect(next.calls).toBe(1);
    expect(ctx.responseFlags).toBe('DI');
  });

  it("stops a delay when the caller's signal aborts, with WEFT_ERR_ABORTED, at once", async () => {
    const next = counting();
    const handler = fault().wrap(next);
    const caller = new AbortController();
    const ctx = contextFor(routeWith({ fault: { delay: { fixedDelay: '10s' } } }), caller.signal);
    const started = Date.now();
    const pending = handler(request(), ctx).catch((e: unknown) => e);
    setTimeout(() => caller.abort(new Error('user gave up')), 10);
    const error = await pending;
    expect(isWeftError(error, 'WEFT_ERR_ABORTED')).toBe(true);
    expect((error as Error).cause).toEqual(new Error('user gave up'));
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(next.calls).toBe(0);
    expect(ctx.responseFlags).toBe('DI,DC');
  });

  it('refuses at once a delayed call whose signal has already aborted', async () => {
    const caller = new AbortController();
    caller.abort(new Error('gone'));
    const next = counting();
    const ctx = contextFor(routeWith({ fault: { delay: { fixedDelay: '10s' } } }), caller.signal);
    const error = await fault()
      .wrap(next)(request(), ctx)
      .catch((e: unknown) => e);
    expect(isWeftError(error, 'WEFT_ERR_ABORTED')).toBe(true);
    expect(next.calls).toBe(0);
  });

  it('lets the deadline above fail a delay that outlives it with WEFT_ERR_TIMEOUT', async () => {
    const next = counting();
    const handler = compose<ClientCallContext>([deadline({ defaultTimeoutMs: 30 }), fault()], next);
    const ctx = contextFor(routeWith({ fault: { delay: { fixedDelay: '10s' } } }));
    const started = Date.now();
    const error = await handler(request(), ctx).catch((e: unknown) => e);
    expect(isWeftError(error, 'WEFT_ERR_TIMEOUT')).toBe(true);
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(next.calls).toBe(0);
    expect(ctx.responseFlags.split(',')).toEqual(expect.arrayContaining(['UT', 'DI']));
  });

  it('checks its options when it is made', () => {
    expect(() => fault({ random: 0.5 as unknown as () => number })).toThrow(
      expect.objectContaining({ code: 'WEFT_ERR_OPTION_TYPE' }),
    );
  });
});
