import { randomBytes } from 'node:crypto';
import { PassThrough, Readable } from 'node:stream';
import {
  compose,
  type Endpoint,
  ERROR_CODES,
  type Handler,
  isWeftError,
  type Layer,
  type RequestBody,
  WeftError,
  type WeftErrorCode,
  type WeftRequest,
  type WeftResponse,
} from '@weft/core';
import { describe, expect, it } from 'vitest';
import { type CallOverrides, ClientCallContext } from '../../client/context.js';
import type { CompiledRoute } from '../../routing/model.js';
import { compiledRoute } from '../../testing/fixtures.js';
import { type RetryCallOverrides, RetryLimit, retry } from './index.js';

const request = (method = 'GET', body: RequestBody = null): WeftRequest => ({
  method,
  scheme: 'http',
  authority: 'reviews:9080',
  path: '/reviews/1',
  headers: {},
  body,
});

const endpoint = (address: string): Endpoint => {
  const [host, port] = address.split(':') as [string, string];
  return { address, host, port: Number(port), labels: {}, locality: '', weight: 1 };
};
const ENDPOINTS = ['10.0.0.1:9080', '10.0.0.2:9080', '10.0.0.3:9080', '10.0.0.4:9080'].map(endpoint);

/** A stand-in for the balancer: the first endpoint not yet tried, as the real one will pick. */
const fakeBalance: Layer<ClientCallContext> = {
  role: 'balance',
  wrap: (next) => (req, ctx) => {
    ctx.endpoint = ENDPOINTS.find((e) => !ctx.triedEndpoints?.includes(e.address)) ?? ENDPOINTS[0];
    return next(req, ctx);
  },
};

/** What one attempt does: fail with a code, answer a status, or run a function. */
type Step = WeftErrorCode | number | Handler<ClientCallContext>;

interface Seen {
  attempt: number;
  endpoint: string | undefined;
  signal: AbortSignal | undefined;
  deadline: number;
  body: Buffer | undefined;
}

async function readAll(body: RequestBody): Promise<Buffer | undefined> {
  if (body === null) return undefined;
  if (typeof body === 'string') return Buffer.from(body);
  if (body instanceof Uint8Array) return Buffer.from(body);
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks);
}

/** An inner handler that plays `steps` in order (the last one repeats) and records every attempt it sees. */
function scripted(steps: Step[]): { handler: Handler<ClientCallContext>; seen: Seen[] } {
  const seen: Seen[] = [];
  const handler: Handler<ClientCallContext> = async (req, ctx) => {
    const step = steps[Math.min(seen.length, steps.length - 1)] as Step;
    const record: Seen = {
      attempt: ctx.attempt,
      endpoint: ctx.endpoint?.address,
      signal: ctx.signal,
      deadline: ctx.deadline,
      body: undefined,
    };
    seen.push(record);
    if (typeof step === 'function') return step(req, ctx);
    record.body = await readAll(req.body);
    if (typeof step === 'number') return { status: step, headers: {}, body: null };
    // As the transport does: a typed error, and its flag added to the call's.
    ctx.addResponseFlag(ERROR_CODES[step].flag);
    throw new WeftError(step, `scripted ${step}`, { endpoint: ctx.endpoint?.address });
  };
  return { handler, seen };
}

const routeWith = (http: Record<string, unknown>): CompiledRoute => compiledRoute(http);

function call(options: {
  route?: CompiledRoute;
  retries?: RetryCallOverrides;
  deadline?: number;
  signal?: AbortSignal;
}) {
  const ctx = new ClientCallContext(options.deadline, options.signal);
  ctx.service = 'reviews.default.svc.cluster.local';
  ctx.route = options.route;
  if (options.retries !== undefined) ctx.overrides = { retries: options.retries } as CallOverrides;
  return ctx;
}

/** The layer under test over the fake balancer, with no backoff wait unless a random source is given. */
function pipeline(inner: Handler<ClientCallContext>, random: () => number = () => 0): Handler<ClientCallContext> {
  return compose([retry({ random }), fakeBalance], inner);
}

const failure = (promise: Promise<unknown>): Promise<unknown> =>
  promise.then(
    () => {
      throw new Error('expected the call to fail');
    },
    (e: unknown) => e,
  );

describe("maxRetries (Envoy's retry circuit breaker)", () => {
  it('answers with the last outcome, flagged UO, when the destination already has maxRetries retries outstanding', async () => {
    const limit = new RetryLimit(1);
    const layer = compose(
      [retry({ random: () => 0, retryLimitFor: () => limit }), fakeBalance],
      scripted([503]).handler,
    );
    // The first call's retry holds the only place while it waits on a slow answer.
    let answer: (r: WeftResponse) => void = () => {};
    const slow = scripted([503, () => new Promise<WeftResponse>((resolve) => (answer = resolve))]);
    const holder = compose([retry({ random: () => 0, retryLimitFor: () => limit }), fakeBalance], slow.handler);
    const first = holder(request(), call({ retries: { attempts: 1, retryOn: '5xx' } }));
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(limit.outstanding).toBe(1);
    const ctx = call({ retries: { attempts: 3, retryOn: '5xx' } });
    const refused = await layer(request(), ctx);
    expect(refused.status).toBe(503);
    expect(ctx.responseFlags).toBe('UO');
    answer({ status: 200, headers: {}, body: null });
    expect((await first).status).toBe(200);
    expect(limit.outstanding).toBe(0);
    // With the place free again, a call retries as its policy says.
    const after = scripted([503, 200]);
    const again = compose([retry({ random: () => 0, retryLimitFor: () => limit }), fakeBalance], after.handler);
    expect((await again(request(), call({ retries: { attempts: 3, retryOn: '5xx' } }))).status).toBe(200);
    expect(after.seen).toHaveLength(2);
  });

  it('holds one place per call however many retries it makes, and gives it back when the call ends', async () => {
    const limit = new RetryLimit(1);
    const { handler, seen } = scripted([503, 503, 503, 200]);
    const layer = compose([retry({ random: () => 0, retryLimitFor: () => limit }), fakeBalance], handler);
    const ctx = call({ retries: { attempts: 3, retryOn: '5xx' } });
    expect((await layer(request(), ctx)).status).toBe(200);
    expect(seen).toHaveLength(4);
    expect(ctx.responseFlags).toBe('');
    expect(limit.outstanding).toBe(0);
  });
});

describe('retry', () => {
  it('retries refused connections and answers with the attempt that worked, on endpoints it had not tried', async () => {
    const { handler, seen } = scripted(['WEFT_ERR_UPSTREAM_CONNECT', 'WEFT_ERR_UPSTREAM_CONNECT', 200]);
    const ctx = call({});
    const response = await pipeline(handler)(request(), ctx);
    expect(response.status).toBe(200);
    expect(seen.map((s) => [s.attempt, s.endpoint])).toEqual([
      [1, '10.0.0.1:9080'],
      [2, '10.0.0.2:9080'],
      [3, '10.0.0.3:9080'],
    ]);
    expect(ctx.attempt).toBe(3);
    expect(ctx.triedEndpoints).toEqual(['10.0.0.1:9080', '10.0.0.2:9080']);
    // The failed attempts' UF is not the call's outcome once a retry answered.
    expect(ctx.responseFlags).toBe('');
  });

  it("does not retry a 503 under Istio's default policy", async () => {
    const { handler, seen } = scripted([503, 200]);
    const ctx = call({});
    expect((await pipeline(handler)(request(), ctx)).status).toBe(503);
    expect(seen).toHaveLength(1);
    expect(ctx.triedEndpoints).toBeUndefined();
    expect(ctx.responseFlags).toBe('');
  });

  it('retries a 503 under 5xx, gateway-error and a bare 503, and not under retriable-4xx', async () => {
    for (const retryOn of ['5xx', 'gateway-error', '503']) {
      const { handler, seen } = scripted([503, 200]);
      const response = await pipeline(handler)(
        request(),
        call({ route: routeWith({ retries: { attempts: 2, retryOn } }) }),
      );
      expect([retryOn, response.status, seen.length]).toEqual([retryOn, 200, 2]);
    }
    const { handler, seen } = scripted([503, 200]);
    const ctx = call({ route: routeWith({ retries: { attempts: 2, retryOn: 'retriable-4xx' } }) });
    expect((await pipeline(handler)(request(), ctx)).status).toBe(503);
    expect(seen).toHaveLength(1);
  });

  it('answers with the last 503 itself, body intact, when the retries run out, flagged URX', async () => {
    const bodies: PassThrough[] = [];
    const answer503: Handler<ClientCallContext> = async () => {
      const body = new PassThrough();
      body.end(`try ${bodies.length + 1}`);
      bodies.push(body);
      return { status: 503, headers: { 'content-type': 'text/plain' }, body };
    };
    const { handler, seen } = scripted([answer503]);
    const ctx = call({ retries: { attempts: 2, retryOn: '5xx' } });
    const response = await pipeline(handler)(request(), ctx);
    expect(seen).toHaveLength(3);
    expect(response.status).toBe(503);
    expect((await readAll(response.body as Readable))?.toString()).toBe('try 3');
    // The retried answers were let go (no Content-Length: destroyed, as Envoy resets the stream).
    expect(bodies.slice(0, 2).map((b) => b.destroyed)).toEqual([true, true]);
    expect(ctx.responseFlags).toBe('URX');
  });

  it('drains a retried answer with a small Content-Length instead of destroying it, so its connection is kept', async () => {
    const bodies: PassThrough[] = [];
    const answer503: Handler<ClientCallContext> = async () => {
      const body = new PassThrough();
      body.end('unavailable');
      bodies.push(body);
      return { status: 503, headers: { 'content-length': '11' }, body };
    };
    const { handler } = scripted([answer503, 200]);
    await pipeline(handler)(request(), call({ retries: { retryOn: '5xx' } }));
    await new Promise((resolve) => setImmediate(resolve));
    expect(bodies[0]?.readableEnded).toBe(true);
  });

  it('throws the last typed error when the retries run out, flagged UF,URX', async () => {
    const { handler, seen } = scripted(['WEFT_ERR_UPSTREAM_CONNECT']);
    const ctx = call({});
    const error = await failure(pipeline(handler)(request(), ctx));
    expect(isWeftError(error, 'WEFT_ERR_UPSTREAM_CONNECT')).toBe(true);
    expect((error as WeftError).endpoint).toBe('10.0.0.3:9080');
    expect(seen).toHaveLength(3);
    expect(ctx.responseFlags).toBe('UF,URX');
  });

  it('does not retry a POST after a reset, since the server may have acted on it', async () => {
    const { handler, seen } = scripted(['WEFT_ERR_UPSTREAM_RESET', 200]);
    const ctx = call({ retries: { retryOn: 'reset,5xx' } });
    const error = await failure(pipeline(handler)(request('POST', '{"stars":5}'), ctx));
    expect(isWeftError(error, 'WEFT_ERR_UPSTREAM_RESET')).toBe(true);
    expect(seen).toHaveLength(1);
    expect(ctx.responseFlags).toBe('UC');
  });

  it('retries a POST after a connect failure, since nothing was sent', async () => {
    const { handler, seen } = scripted(['WEFT_ERR_UPSTREAM_CONNECT', 201]);
    const response = await pipeline(handler)(request('POST', '{"stars":5}'), call({}));
    expect(response.status).toBe(201);
    expect(seen.map((s) => s.body?.toString())).toEqual(['{"stars":5}', '{"stars":5}']);
  });

  it('retries a POST after a reset when the call allows non-idempotent retries', async () => {
    const { handler, seen } = scripted(['WEFT_ERR_UPSTREAM_RESET', 201]);
    const ctx = call({ retries: { retryOn: 'reset', retryNonIdempotent: true } });
    expect((await pipeline(handler)(request('POST', 'x'), ctx)).status).toBe(201);
    expect(seen).toHaveLength(2);
  });

  it('aborts a slow attempt at its per-try timeout and answers from the next one', async () => {
    const hang: Handler<ClientCallContext> = (_req, ctx) =>
      new Promise((_resolve, reject) => {
        const signal = ctx.signal as AbortSignal;
        signal.addEventListener('abort', () => reject(signal.reason));
      });
    const { handler, seen } = scripted([hang, 200]);
    const caller = new AbortController();
    const ctx = call({ retries: { perTryTimeout: '30ms', retryOn: 'reset' }, signal: caller.signal });
    const started = Date.now();
    const response = await pipeline(handler)(request(), ctx);
    expect(response.status).toBe(200);
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(seen).toHaveLength(2);
    // The slow attempt had its own signal, aborted with a typed per-try timeout …
    expect(seen[0]?.signal).not.toBe(caller.signal);
    expect(seen[0]?.signal?.aborted).toBe(true);
    expect(isWeftError(seen[0]?.signal?.reason, 'WEFT_ERR_TIMEOUT')).toBe(true);
    expect(String(seen[0]?.signal?.reason)).toContain('per-try timeout of 30 ms');
    // … and the call's own signal is back in place, untouched.
    expect(ctx.signal).toBe(caller.signal);
    expect(caller.signal.aborted).toBe(false);
    expect(ctx.responseFlags).toBe('');
  });

  it("narrows the call's deadline to the attempt's limit while the attempt runs, and puts it back after", async () => {
    const { handler, seen } = scripted([200]);
    const callDeadline = Date.now() + 10_000;
    const ctx = call({ retries: { perTryTimeout: '500ms' }, deadline: callDeadline });
    const before = Date.now();
    await pipeline(handler)(request(), ctx);
    // What the transport reads (and sends as x-envoy-expected-rq-timeout-ms) is the per-try limit.
    expect(seen[0]?.deadline).toBeGreaterThanOrEqual(before + 500);
    expect(seen[0]?.deadline).toBeLessThanOrEqual(Date.now() + 500);
    expect(ctx.deadline).toBe(callDeadline);
  });

  it('flags a per-try timeout UT and, once the retries run out, URX', async () => {
    const hang: Handler<ClientCallContext> = (_req, ctx) =>
      new Promise((_resolve, reject) => {
        const signal = ctx.signal as AbortSignal;
        signal.addEventListener('abort', () => reject(signal.reason));
      });
    const { handler, seen } = scripted([hang]);
    const ctx = call({ retries: { attempts: 1, perTryTimeout: 20, retryOn: '5xx' } });
    const error = await failure(pipeline(handler)(request(), ctx));
    expect(isWeftError(error, 'WEFT_ERR_TIMEOUT')).toBe(true);
    expect(seen).toHaveLength(2);
    expect(ctx.responseFlags).toBe('UT,URX');
  });

  it('keeps the flags set above it (a fault delay) through its retries', async () => {
    const { handler } = scripted(['WEFT_ERR_UPSTREAM_CONNECT', 200]);
    const ctx = call({});
    ctx.addResponseFlag('DI');
    await pipeline(handler)(request(), ctx);
    expect(ctx.responseFlags).toBe('DI');
  });

  it("passes the caller's abort to an attempt running under a per-try timeout", async () => {
    const hang: Handler<ClientCallContext> = (_req, ctx) =>
      new Promise((_resolve, reject) => {
        const signal = ctx.signal as AbortSignal;
        signal.addEventListener('abort', () => reject(new WeftError('WEFT_ERR_ABORTED', 'aborted')));
      });
    const { handler, seen } = scripted([hang]);
    const caller = new AbortController();
    const ctx = call({ retries: { perTryTimeout: 5_000, retryOn: 'reset' }, signal: caller.signal });
    setTimeout(() => caller.abort(), 20);
    const error = await failure(pipeline(handler)(request(), ctx));
    expect(isWeftError(error, 'WEFT_ERR_ABORTED')).toBe(true);
    expect(seen).toHaveLength(1);
  });

  it('does not retry a per-try timeout under the default policy (Envoy retries it only under 5xx, gateway-error, reset)', async () => {
    const { handler, seen } = scripted(['WEFT_ERR_TIMEOUT', 200]);
    const error = await failure(pipeline(handler)(request(), call({})));
    expect(isWeftError(error, 'WEFT_ERR_TIMEOUT')).toBe(true);
    expect(seen).toHaveLength(1);
  });

  it('sets no per-try limit that would outlast the overall deadline', async () => {
    const { handler, seen } = scripted([200]);
    const caller = new AbortController();
    const ctx = call({ retries: { perTryTimeout: '10s' }, deadline: Date.now() + 5_000, signal: caller.signal });
    await pipeline(handler)(request(), ctx);
    expect(seen[0]?.signal).toBe(caller.signal);
  });

  it('stops retrying when the backoff would pass the overall deadline, without URX', async () => {
    const { handler, seen } = scripted(['WEFT_ERR_UPSTREAM_CONNECT', 200]);
    const route = routeWith({ retries: { attempts: 5, retryOn: 'connect-failure', backoff: '1s' } });
    const ctx = call({ route, deadline: Date.now() + 200 });
    const started = Date.now();
    const error = await failure(pipeline(handler, () => 0.99)(request(), ctx));
    expect(isWeftError(error, 'WEFT_ERR_UPSTREAM_CONNECT')).toBe(true);
    expect(seen).toHaveLength(1);
    expect(Date.now() - started).toBeLessThan(150);
    expect(ctx.responseFlags).toBe('UF');
  });

  it('does not retry once the overall deadline has passed', async () => {
    const late: Handler<ClientCallContext> = async (_req, ctx) => {
      ctx.deadline = Date.now() - 1;
      throw new WeftError('WEFT_ERR_TIMEOUT', 'the overall deadline passed');
    };
    const { handler, seen } = scripted([late, 200]);
    const error = await failure(pipeline(handler)(request(), call({ retries: { retryOn: '5xx' } })));
    expect(isWeftError(error, 'WEFT_ERR_TIMEOUT')).toBe(true);
    expect(seen).toHaveLength(1);
  });

  it('waits the jittered backoff between attempts', async () => {
    const { handler } = scripted(['WEFT_ERR_UPSTREAM_CONNECT', 'WEFT_ERR_UPSTREAM_CONNECT', 200]);
    const route = routeWith({ retries: { attempts: 2, retryOn: 'connect-failure', backoff: '40ms' } });
    const started = Date.now();
    await pipeline(handler, () => 0.99)(request(), call({ route }));
    // 0.99 × 40 = 39 ms, then 0.99 × 80 = 79 ms.
    expect(Date.now() - started).toBeGreaterThanOrEqual(110);
  });

  it('ends the call with WEFT_ERR_ABORTED when the caller gives up during the backoff', async () => {
    const { handler, seen } = scripted(['WEFT_ERR_UPSTREAM_CONNECT', 200]);
    const caller = new AbortController();
    const route = routeWith({ retries: { attempts: 2, retryOn: 'connect-failure', backoff: '5s' } });
    const ctx = call({ route, signal: caller.signal });
    setTimeout(() => caller.abort(), 20);
    const started = Date.now();
    const error = await failure(pipeline(handler, () => 0.99)(request(), ctx));
    expect(isWeftError(error, 'WEFT_ERR_ABORTED')).toBe(true);
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(seen).toHaveLength(1);
    expect(ctx.responseFlags).toBe('DC');
  });

  it('records no tried endpoints when the route does not ask to avoid them', async () => {
    const { handler, seen } = scripted(['WEFT_ERR_UPSTREAM_CONNECT', 200]);
    const route = routeWith({ retries: { attempts: 2, retryIgnorePreviousHosts: false } });
    const ctx = call({ route });
    await pipeline(handler)(request(), ctx);
    expect(seen.map((s) => s.endpoint)).toEqual(['10.0.0.1:9080', '10.0.0.1:9080']);
    expect(ctx.triedEndpoints).toBeUndefined();
    expect(ctx.attempt).toBe(2);
  });

  it('buffers a streamed body and replays it byte for byte', async () => {
    const payload = randomBytes(40 * 1024);
    const source = Readable.from(
      (function* () {
        for (let i = 0; i < payload.length; i += 1000) yield payload.subarray(i, i + 1000);
      })(),
    );
    const { handler, seen } = scripted(['WEFT_ERR_UPSTREAM_RESET', 'WEFT_ERR_UPSTREAM_RESET', 204]);
    const ctx = call({ retries: { retryOn: 'reset' } });
    expect((await pipeline(handler)(request('PUT', source), ctx)).status).toBe(204);
    expect(seen).toHaveLength(3);
    for (const s of seen) expect(s.body?.equals(payload)).toBe(true);
    expect(ctx.replayable).toBe(true);
  });

  it('sends a body over the 64 KiB cap once, whole, and does not retry it', async () => {
    const payload = randomBytes(200 * 1024 + 7);
    const source = new PassThrough();
    // Written slowly, in pieces that do not line up with the cap.
    (async () => {
      for (let i = 0; i < payload.length; i += 3000) {
        source.write(payload.subarray(i, i + 3000));
        if (i % 30_000 === 0) await new Promise((resolve) => setImmediate(resolve));
      }
      source.end();
    })();
    const { handler, seen } = scripted(['WEFT_ERR_UPSTREAM_CONNECT', 200]);
    const ctx = call({});
    const error = await failure(pipeline(handler)(request('PUT', source), ctx));
    expect(isWeftError(error, 'WEFT_ERR_UPSTREAM_CONNECT')).toBe(true);
    expect(seen).toHaveLength(1);
    expect(seen[0]?.body?.length).toBe(payload.length);
    expect(seen[0]?.body?.equals(payload)).toBe(true);
    expect(ctx.replayable).toBe(false);
  });

  it('passes a streamed body through untouched when no retry is possible', async () => {
    const source = Readable.from([Buffer.from('abc')]);
    let seenBody: RequestBody | undefined;
    const handler: Handler<ClientCallContext> = async (req) => {
      seenBody = req.body;
      return { status: 200, headers: {}, body: null };
    };
    await pipeline(handler)(request('PUT', source), call({ retries: { attempts: 0 } }));
    expect(seenBody).toBe(source);
  });

  it('fails with WEFT_ERR_REQUEST_INVALID when the streamed body errors before it is sent', async () => {
    const source = new PassThrough();
    setTimeout(() => source.destroy(new Error('client went away')), 5);
    const { handler, seen } = scripted([200]);
    const error = await failure(pipeline(handler)(request('PUT', source), call({})));
    expect(isWeftError(error, 'WEFT_ERR_REQUEST_INVALID')).toBe(true);
    expect(seen).toHaveLength(0);
  });

  it('makes exactly one call when attempts is 0', async () => {
    const { handler, seen } = scripted(['WEFT_ERR_UPSTREAM_CONNECT', 200]);
    const ctx = call({ retries: { attempts: 0 } });
    const error = await failure(pipeline(handler)(request(), ctx));
    expect(isWeftError(error, 'WEFT_ERR_UPSTREAM_CONNECT')).toBe(true);
    expect(seen).toHaveLength(1);
    expect(ctx.responseFlags).toBe('UF');
  });

  it('does not retry a route with a client-side fault', async () => {
    const { handler, seen } = scripted(['WEFT_ERR_UPSTREAM_CONNECT', 200]);
    const route = routeWith({ fault: { abort: { httpStatus: 500 } }, retries: { attempts: 3, retryOn: '5xx' } });
    await failure(pipeline(handler)(request(), call({ route })));
    expect(seen).toHaveLength(1);
  });

  it('never retries an abort, a closed mesh, REGISTRY_ONLY or no healthy upstream', async () => {
    for (const code of [
      'WEFT_ERR_ABORTED',
      'WEFT_ERR_CLOSED',
      'WEFT_ERR_REGISTRY_ONLY',
      'WEFT_ERR_NO_HEALTHY_UPSTREAM',
    ] as const) {
      const { handler, seen } = scripted([code, 200]);
      const ctx = call({ retries: { retryOn: '5xx,reset,connect-failure,gateway-error' } });
      const error = await failure(pipeline(handler)(request(), ctx));
      expect([code, isWeftError(error, code), seen.length]).toEqual([code, true, 1]);
    }
  });

  it('refuses a malformed override with WEFT_ERR_REQUEST_INVALID before anything is sent', async () => {
    const { handler, seen } = scripted([200]);
    const error = await failure(pipeline(handler)(request(), call({ retries: { retryOn: '5xx,bogus' } })));
    expect(isWeftError(error, 'WEFT_ERR_REQUEST_INVALID')).toBe(true);
    expect(seen).toHaveLength(0);
  });

  it('refuses a random source that is not a function when the layer is built', () => {
    expect(() => retry({ random: 0.5 as unknown as () => number })).toThrow(
      expect.objectContaining({ code: 'WEFT_ERR_OPTION_TYPE' }),
    );
  });

  it('adds nothing to an answered call: the same response object comes back', async () => {
    const answer: WeftResponse = { status: 200, headers: {}, body: null };
    const handler: Handler<ClientCallContext> = async () => answer;
    const ctx = call({});
    expect(await pipeline(handler)(request(), ctx)).toBe(answer);
    expect([ctx.attempt, ctx.triedEndpoints, ctx.responseFlags]).toEqual([1, undefined, '']);
  });
});
