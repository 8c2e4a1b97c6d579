// Tests of the breaker layer apart from the network: what counts, when a breaker is made, and what passes straight through.
import { Readable } from 'node:stream';
import { compose, type EndpointSnapshot, type Handler, WeftError, type WeftResponse } from '@weft/core';
import { afterEach, describe, expect, it } from 'vitest';
import { ClientCallContext } from '../../client/context.js';
import { getReviews } from '../../testing/fixtures.js';
import { type BreakerLayer, breakers, bufferBody, compileBreakerPolicy, isUpstreamFailure } from './index.js';

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
