// Tests of the pool-limits layer: admission, the FIFO line, overflow, aborts and slot release.
import { PassThrough } from 'node:stream';
import { type Handler, isWeftError, WeftError, type WeftRequest, type WeftResponse } from '@weft/core';
import { describe, expect, it } from 'vitest';
import { ClientCallContext } from '../../client/context.js';
import { getReviews } from '../../testing/fixtures.js';
import { OVERFLOW_CODE, type PoolLimitsPolicy, poolLimits } from './index.js';
import { compilePoolLimits, POOL_LIMITS_DEFAULTS, UNLIMITED } from './policy.js';

const SERVICE = 'reviews.default.svc.cluster.local';

const request = getReviews;

const limits: PoolLimitsPolicy = { maxRequests: 100, maxConnections: 2, maxPending: 1 };

/** A terminal that holds every attempt until the test settles it, recording the order they arrived in. */
function scripted() {
  const calls: { id: string; resolve(r: WeftResponse): void; reject(e: unknown): void }[] = [];
  const handler: Handler<ClientCallContext> = (req) =>
    new Promise((resolve, reject) => {
      calls.push({ id: String(req.headers['x-id']), resolve, reject });
    });
  return { calls, handler };
}

function ctx(signal?: AbortSignal): ClientCallContext {
  const c = new ClientCallContext(Number.POSITIVE_INFINITY, signal);
  c.service = SERVICE;
  return c;
}

const req = (id: string): WeftRequest => ({ ...request, headers: { 'x-id': id } });
const ok = (body: WeftResponse['body'] = null): WeftResponse => ({ status: 200, headers: {}, body });
const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('compilePoolLimits', () => {
  it('maps http2MaxRequests, http1MaxPendingRequests and tcp.maxConnections and keeps one compiled object per settings', () => {
    const settings = { tcp: { maxConnections: 3 }, http: { http2MaxRequests: 10, http1MaxPendingRequests: 5 } };
    const policy = compilePoolLimits(settings);
    expect(policy).toEqual({ maxRequests: 10, maxConnections: 3, maxPending: 5 });
    expect(compilePoolLimits(settings)).toBe(policy);
  });

  it('fills unset and zero thresholds with 2^32-1, as Istio does', () => {
    expect(compilePoolLimits({ http: { http2MaxRequests: 4, http1MaxPendingRequests: 0 } })).toEqual({
      maxRequests: 4,
      maxConnections: UNLIMITED,
      maxPending: UNLIMITED,
    });
    expect(POOL_LIMITS_DEFAULTS.maxRequests).toBe(2 ** 32 - 1);
  });

  it('returns undefined when the connectionPool sets none of the limits', () => {
    expect(compilePoolLimits(undefined)).toBeUndefined();
    expect(compilePoolLimits({ tcp: { connectTimeout: '1s' } })).toBeUndefined();
    expect(
      compilePoolLimits({ http: { idleTimeout: '1s', maxRetries: 3, maxRequestsPerConnection: 1 } }),
    ).toBeUndefined();
  });
});

describe('poolLimits', () => {
  it('lets a 3rd call wait and fails a 4th fast with the overflow code and UO', async () => {
    const terminal = scripted();
    const layer = poolLimits({ policyFor: () => limits });
    const handler = layer.wrap(terminal.handler);
    const first = handler(req('1'), ctx());
    const second = handler(req('2'), ctx());
    const third = handler(req('3'), ctx());
    const fourthCtx = ctx();
    const fourth = await handler(req('4'), fourthCtx).catch((e: unknown) => e);
    expect(terminal.calls.map((c) => c.id)).toEqual(['1', '2']);
    expect(layer.state(SERVICE)).toEqual({ active: 2, pending: 1 });
    expect(isWeftError(fourth)).toBe(true);
    expect(fourth).toMatchObject({ code: OVERFLOW_CODE, status: 503, flag: 'UO', retryable: false, service: SERVICE });
    expect((fourth as Error).message).toContain('tcp.maxConnections 2');
    expect(fourthCtx.responseFlags).toBe('UO');
    for (const c of terminal.calls) c.resolve(ok());
    await tick();
    terminal.calls[2]?.resolve(ok());
    await Promise.all([first, second, third]);
    expect(layer.state(SERVICE)).toEqual({ active: 0, pending: 0 });
  });

  it('hands a freed slot to the waiting calls in the order they came (FIFO)', async () => {
    const terminal = scripted();
    const layer = poolLimits({
      policyFor: () => ({ maxRequests: 100, maxConnections: 1, maxPending: 3 }),
    });
    const handler = layer.wrap(terminal.handler);
    const results = ['a', 'b', 'c', 'd'].map((id) => handler(req(id), ctx()));
    await tick();
    expect(terminal.calls.map((c) => c.id)).toEqual(['a']);
    expect(layer.state(SERVICE)).toEqual({ active: 1, pending: 3 });
    for (let i = 0; i < 4; i++) {
      terminal.calls[i]?.resolve(ok());
      await tick();
    }
    expect(terminal.calls.map((c) => c.id)).toEqual(['a', 'b', 'c', 'd']);
    await Promise.all(results);
    expect(layer.state(SERVICE)).toEqual({ active: 0, pending: 0 });
  });

  it('takes an aborted waiting call out of the line, so it holds no place and gets no slot', async () => {
    const terminal = scripted();
    const layer = poolLimits({
      policyFor: () => ({ maxRequests: 100, maxConnections: 1, maxPending: 2 }),
    });
    const handler = layer.wrap(terminal.handler);
    const first = handler(req('1'), ctx());
    const controller = new AbortController();
    const waiting = handler(req('2'), ctx(controller.signal)).catch((e: unknown) => e);
    const third = handler(req('3'), ctx());
    expect(layer.state(SERVICE)).toMatchObject({ active: 1, pending: 2 });
    controller.abort();
    const error = await waiting;
    expect(isWeftError(error, 'WEFT_ERR_ABORTED')).toBe(true);
    expect(layer.state(SERVICE)).toMatchObject({ active: 1, pending: 1 });
    terminal.calls[0]?.resolve(ok());
    await tick();
    expect(terminal.calls.map((c) => c.id)).toEqual(['1', '3']);
    terminal.calls[1]?.resolve(ok());
    await Promise.all([first, third]);
    expect(layer.state(SERVICE)).toEqual({ active: 0, pending: 0 });
  });

  it("types an abort while waiting as the transport does: the deadline's WeftError as is, a TimeoutError as a timeout, else aborted", async () => {
    const terminal = scripted();
    const handler = poolLimits({ policyFor: () => ({ ...limits, maxConnections: 1 }) }).wrap(terminal.handler);
    void handler(req('1'), ctx());
    const controller = new AbortController();
    const waiting = handler(req('2'), ctx(controller.signal)).catch((e: unknown) => e);
    const reason = new Error('deadline');
    controller.abort(reason);
    expect(isWeftError(await waiting, 'WEFT_ERR_ABORTED')).toBe(true);
    expect(((await waiting) as Error).cause).toBe(reason);
    const timedOut = handler(req('3'), ctx(AbortSignal.abort(new DOMException('late', 'TimeoutError'))));
    expect(isWeftError(await timedOut.catch((e: unknown) => e), 'WEFT_ERR_TIMEOUT')).toBe(true);
    const deadlineError = new WeftError('WEFT_ERR_TIMEOUT', 'call did not complete within 5 ms');
    const late = handler(req('4'), ctx(AbortSignal.abort(deadlineError)));
    expect(await late.catch((e: unknown) => e)).toBe(deadlineError);
  });

  it('releases the slot when the attempt fails', async () => {
    const terminal = scripted();
    const layer = poolLimits({ policyFor: () => ({ ...limits, maxConnections: 1 }) });
    const handler = layer.wrap(terminal.handler);
    const failing = handler(req('1'), ctx()).catch((e: unknown) => e);
    const next = handler(req('2'), ctx());
    terminal.calls[0]?.reject(new Error('reset'));
    expect(await failing).toBeInstanceOf(Error);
    await tick();
    expect(terminal.calls.map((c) => c.id)).toEqual(['1', '2']);
    terminal.calls[1]?.resolve(ok());
    await next;
    expect(layer.state(SERVICE)).toMatchObject({ active: 0, pending: 0 });
  });

  it('holds the slot of a streamed response until its body closes', async () => {
    const terminal = scripted();
    const layer = poolLimits({ policyFor: () => limits });
    const handler = layer.wrap(terminal.handler);
    const pending = handler(req('1'), ctx());
    const body = new PassThrough();
    terminal.calls[0]?.resolve(ok(body));
    const response = await pending;
    expect(response.body).toBe(body);
    expect(layer.state(SERVICE)).toMatchObject({ active: 1 });
    body.end('done');
    body.resume();
    await new Promise((resolve) => body.once('close', resolve));
    expect(layer.state(SERVICE)).toMatchObject({ active: 0 });
  });

  it('releases the slot of a buffered response as soon as the headers arrive', async () => {
    const terminal = scripted();
    const layer = poolLimits({ policyFor: () => limits });
    const pending = layer.wrap(terminal.handler)(req('1'), ctx());
    terminal.calls[0]?.resolve(ok('bytes'));
    await pending;
    expect(layer.state(SERVICE)).toMatchObject({ active: 0 });
  });

  it('calls the same next() directly when the destination has no limits', () => {
    const answer = Promise.resolve(ok());
    const seen: unknown[] = [];
    const next: Handler<ClientCallContext> = (r, c) => {
      seen.push(r, c);
      return answer;
    };
    const layer = poolLimits({ policyFor: () => undefined });
    const c = ctx();
    expect(layer.wrap(next)(request, c)).toBe(answer);
    expect(seen).toEqual([request, c]);
    expect(layer.state(SERVICE)).toBeUndefined();
    const passThrough = new ClientCallContext();
    expect(layer.wrap(next)(request, passThrough)).toBe(answer);
  });
});

describe('pool limits and policy snapshots', () => {
  it('reads the limits once per policy snapshot, and a new snapshot’s from its first call', async () => {
    const terminal = scripted();
    let current: PoolLimitsPolicy | undefined = { maxRequests: 1, maxConnections: 1, maxPending: 0 };
    let reads = 0;
    const layer = poolLimits({
      policyFor: () => {
        reads++;
        return current;
      },
    });
    const handler = layer.wrap(terminal.handler);
    const under = (snapshot: object): ClientCallContext => {
      const c = ctx();
      c.policy = snapshot as ClientCallContext['policy'];
      return c;
    };
    const first = {};
    const held = handler(req('1'), under(first));
    expect(await handler(req('2'), under(first)).catch((e: unknown) => e)).toMatchObject({ code: OVERFLOW_CODE });
    expect(reads).toBe(1);
    // New limits with a new snapshot: the call in flight keeps its slot, the next ones get the new room.
    current = { maxRequests: 2, maxConnections: 2, maxPending: 0 };
    const second = {};
    const more = handler(req('3'), under(second));
    expect(reads).toBe(2);
    expect(layer.state(SERVICE)).toEqual({ active: 2, pending: 0 });
    // No limits under a third snapshot: calls go straight through, uncounted.
    current = undefined;
    const free = handler(req('4'), under({}));
    expect(layer.state(SERVICE)).toEqual({ active: 2, pending: 0 });
    for (const c of terminal.calls) c.resolve(ok());
    await Promise.all([held, more, free]);
    expect(layer.state(SERVICE)).toEqual({ active: 0, pending: 0 });
  });
});

describe('pool limits per destination', () => {
  it('keeps one set of counters per service and per subset, so one full destination overflows alone', async () => {
    const terminal = scripted();
    const one = { maxRequests: 1, maxConnections: 1, maxPending: 0 };
    const layer = poolLimits({ policyFor: () => one });
    const handler = layer.wrap(terminal.handler);
    const to = (destination: string): ClientCallContext => {
      const c = ctx();
      c.snapshot = { service: destination, endpoints: [], version: 1 };
      return c;
    };
    const v1 = handler(req('v1'), to(`${SERVICE}|v1`));
    const whole = handler(req('whole'), to(SERVICE));
    const v2 = handler(req('v2'), to(`${SERVICE}|v2`));
    const overflow = await handler(req('v1 again'), to(`${SERVICE}|v1`)).catch((e: unknown) => e);
    expect(isWeftError(overflow, OVERFLOW_CODE)).toBe(true);
    expect(terminal.calls.map((c) => c.id)).toEqual(['v1', 'whole', 'v2']);
    expect(layer.state(`${SERVICE}|v1`)).toEqual({ active: 1, pending: 0 });
    expect(layer.state(SERVICE)).toEqual({ active: 1, pending: 0 });
    for (const c of terminal.calls) c.resolve(ok());
    await Promise.all([v1, whole, v2]);
  });
});
