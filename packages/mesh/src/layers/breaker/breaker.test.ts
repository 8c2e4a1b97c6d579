// Tests of the breaker layer apart from the network: what counts, when a breaker is made, and what passes straight through.

import { EventEmitter } from 'node:events';
import { Readable } from 'node:stream';
import { compose, type EndpointSnapshot, type Handler, WeftError, type WeftResponse } from '@weft/core';
import fc from 'fast-check';
import CircuitBreaker from 'opossum';
import { afterEach, describe, expect, it } from 'vitest';
import { ClientCallContext } from '../../client/context.js';
import { getReviews } from '../../testing/fixtures.js';
import {
  type BreakerLayer,
  breakers,
  bufferBody,
  compileBreakerPolicy,
  DestinationBreaker,
  isServerError,
  isUpstreamFailure,
} from './index.js';

const snapshot = (service: string): EndpointSnapshot => ({ service, endpoints: [], version: 1 });
const layers: BreakerLayer[] = [];
afterEach(async () => {
  await Promise.all(layers.splice(0).map((l) => l.close()));
});

function pipeline(answer: Handler<ClientCallContext>, policy = compileBreakerPolicy({ minimumCalls: 2 })) {
  const layer = breakers({ policyFor: (ctx) => (ctx.service === 'none' ? undefined : policy) });
  layers.push(layer);
  const handler = compose([layer], answer);
  const send = (service: string) => {
    const ctx = new ClientCallContext(0);
    ctx.service = service;
    ctx.snapshot = snapshot(service);
    return handler(getReviews, ctx).then(
      (r) => r.status,
      (e: WeftError) => e.code,
    );
  };
  return { layer, send };
}

const status =
  (code: number): Handler<ClientCallContext> =>
  () =>
    Promise.resolve({ status: code, headers: {}, body: null });

describe('breaker layer', () => {
  it('makes one breaker per destination, never one per call', async () => {
    const { layer, send } = pipeline(status(200));
    for (let i = 0; i < 50; i++) await send(i % 2 === 0 ? 'a' : 'b');
    expect(layer.breakers().map((b) => [b.destination, b.calls])).toEqual([
      ['a', 25],
      ['b', 25],
    ]);
  });

  it('lets destinations without settings straight through, uncounted', async () => {
    const { layer, send } = pipeline(status(500));
    for (let i = 0; i < 5; i++) expect(await send('none')).toBe(500);
    expect(layer.breakers()).toEqual([]);
  });

  it('does not count the caller’s abort or the mesh’s own refusals', async () => {
    const codes = ['WEFT_ERR_ABORTED', 'WEFT_ERR_NO_HEALTHY_UPSTREAM', 'WEFT_ERR_UPSTREAM_OVERFLOW'] as const;
    let i = 0;
    const { layer, send } = pipeline(() =>
      Promise.reject(new WeftError(codes[i++ % codes.length] ?? 'WEFT_ERR_ABORTED', 'no')),
    );
    for (let n = 0; n < 9; n++) await send('a');
    expect(layer.breakers()[0]).toMatchObject({ state: 'closed', failures: 0, calls: 9 });
  });

  it('counts what the upstream did, and errors weft does not know', () => {
    for (const code of ['WEFT_ERR_UPSTREAM_CONNECT', 'WEFT_ERR_UPSTREAM_RESET', 'WEFT_ERR_TIMEOUT'] as const) {
      expect(isUpstreamFailure(new WeftError(code, 'x'))).toBe(true);
    }
    expect(isUpstreamFailure(new TypeError('boom'))).toBe(true);
    expect(isUpstreamFailure(new WeftError('WEFT_ERR_CLOSED', 'x'))).toBe(false);
  });

  it('fills every default from weft’s, not opossum’s', () => {
    expect(compileBreakerPolicy({})).toEqual({
      failurePercent: 50,
      minimumCalls: 20,
      windowMs: 10_000,
      buckets: 10,
      openForMs: 5_000,
    });
    expect(compileBreakerPolicy({ window: '2s', openFor: '1m' })).toMatchObject({ windowMs: 2_000, openForMs: 60_000 });
  });
});

/** What one call comes to in the comparison with opossum's own `fire`. */
const OUTCOMES = {
  ok: { status: 200 },
  serverError: { status: 503 },
  callerError: { status: 404 },
  reset: { error: new WeftError('WEFT_ERR_UPSTREAM_RESET', 'reset') },
  aborted: { error: new WeftError('WEFT_ERR_ABORTED', 'aborted') },
} as const;
type Outcome = keyof typeof OUTCOMES;

/** Calls that start together and then end in the order given. */
const batchesArb = fc.array(
  fc.array(fc.record({ outcome: fc.constantFrom(...(Object.keys(OUTCOMES) as Outcome[])), order: fc.nat() }), {
    minLength: 1,
    maxLength: 4,
  }),
  { minLength: 1, maxLength: 30 },
);

/** A next handler whose calls wait until the test ends them. */
function heldCalls() {
  const held: ((outcome: Outcome) => void)[] = [];
  const next = (): Promise<WeftResponse> =>
    new Promise((resolve, reject) => {
      held.push((outcome) => {
        const o: { status?: number; error?: WeftError } = OUTCOMES[outcome];
        if (o.error !== undefined) reject(o.error);
        else resolve({ status: o.status ?? 200, headers: {}, body: null });
      });
    });
  return { held, next };
}

const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('DestinationBreaker', () => {
  it('counts and opens on the same calls as opossum’s own fire, whatever the outcomes and their overlap', async () => {
    await fc.assert(
      fc.asyncProperty(
        batchesArb,
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 10, max: 90 }),
        async (batches, minimumCalls, failurePercent) => {
          const policy = { ...compileBreakerPolicy({ minimumCalls, failurePercent }), windowMs: 3_600_000 };
          const ours = heldCalls();
          const breaker = new DestinationBreaker(
            'reviews',
            policy,
            ours.next,
            { response: isServerError, error: isUpstreamFailure },
            () => {},
          );
          // The reference: opossum alone, with the same settings and the same rule for what counts.
          const theirs = heldCalls();
          const reference = new CircuitBreaker(
            () =>
              theirs.next().then((r) => {
                if (r.status >= 500) throw Object.assign(new Error('5xx'), { response: r });
                return r;
              }),
            {
              timeout: false,
              errorThresholdPercentage: failurePercent,
              volumeThreshold: minimumCalls,
              resetTimeout: 3_600_000,
              rollingCountTimeout: policy.windowMs,
              rollingCountBuckets: policy.buckets,
              rollingPercentilesEnabled: false,
              enableSnapshots: false,
              rotateBucketController: new EventEmitter(),
              errorFilter: (error: unknown) => !(error as { response?: unknown }).response && !isUpstreamFailure(error),
            } as CircuitBreaker.Options,
          );
          try {
            for (const batch of batches) {
              const sent = ours.held.length;
              const pending = batch.map(() =>
                breaker.call(getReviews, new ClientCallContext(0)).catch(() => undefined),
              );
              // weft refuses before opossum while open, so a refused call is not counted: the reference is not fired then.
              const refPending = batch.map(() =>
                reference.opened ? undefined : reference.fire().catch(() => undefined),
              );
              expect(ours.held.length).toBe(theirs.held.length);
              const order = batch.map((c, i) => ({ ...c, i })).sort((a, b) => a.order - b.order);
              for (const { outcome, i } of order) {
                if (sent + i >= ours.held.length) continue; // refused while open, by both
                ours.held[sent + i]?.(outcome);
                theirs.held[sent + i]?.(outcome);
                await settle();
              }
              await Promise.all([...pending, ...refPending]);
              expect(breaker.state).toBe(reference.opened ? 'open' : 'closed');
              const { fires, failures } = reference.stats;
              expect(breaker.view().window).toEqual({ calls: fires, failures });
            }
          } finally {
            breaker.close();
            reference.shutdown();
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('DestinationBreaker across a state change', () => {
  /** A breaker that opens on one failed call in ten and half-opens 20 ms later, with calls the test ends. */
  async function halfOpenWithCallOut() {
    const { held, next } = heldCalls();
    const policy = { ...compileBreakerPolicy({ minimumCalls: 1, failurePercent: 10 }), openForMs: 20 };
    const breaker = new DestinationBreaker(
      'reviews',
      policy,
      next,
      { response: isServerError, error: isUpstreamFailure },
      () => {},
    );
    const early = breaker.call(getReviews, new ClientCallContext(0));
    const failing = breaker.call(getReviews, new ClientCallContext(0));
    held[1]?.('serverError');
    await failing;
    expect(breaker.state).toBe('open');
    await new Promise((resolve) => setTimeout(resolve, 40));
    expect(breaker.state).toBe('half-open');
    return { breaker, early, end: held[0] };
  }

  it('closes when a call sent while closed answers well once it is half-open, as opossum does', async () => {
    const { breaker, early, end } = await halfOpenWithCallOut();
    end?.('ok');
    expect((await early).status).toBe(200);
    expect(breaker.state).toBe('closed');
    breaker.close();
  });

  it('opens again when a call sent while closed fails once it is half-open, as opossum does', async () => {
    const { breaker, early, end } = await halfOpenWithCallOut();
    end?.('serverError');
    expect((await early).status).toBe(503);
    expect(breaker.view()).toMatchObject({ state: 'open', opened: 2 });
    breaker.close();
  });
});

describe('a classifier that throws', () => {
  it('fails the call with its error and counts it as a failure, as opossum’s fire did', async () => {
    const layer = breakers({
      policyFor: () => compileBreakerPolicy({ minimumCalls: 1 }),
      classify: {
        response: () => {
          throw new TypeError('bad envelope');
        },
      },
    });
    layers.push(layer);
    const ctx = new ClientCallContext(0);
    ctx.snapshot = snapshot('a');
    const handler = compose([layer], status(200));
    await expect(handler(getReviews, ctx)).rejects.toThrow('bad envelope');
    expect(layer.breakers()[0]).toMatchObject({ state: 'open', failures: 1 });
  });
});

describe('bufferBody', () => {
  it('reads a streamed body and puts the bytes back for the caller', async () => {
    const response: WeftResponse = {
      status: 200,
      headers: {},
      body: Readable.from([Buffer.from('{"a":'), Buffer.from('1}')]),
    };
    expect((await bufferBody(response)).toString()).toBe('{"a":1}');
    expect(Buffer.from(response.body as Uint8Array).toString()).toBe('{"a":1}');
  });
});
