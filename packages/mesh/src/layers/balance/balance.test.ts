import { CallContext, type Endpoint, type EndpointSnapshot, type Handler, isWeftError } from '@weft/core';
import { describe, expect, it } from 'vitest';
import { endpointAt, getReviews } from '../../testing/fixtures.js';
import { balance, roundRobin } from './index.js';
import { ringHash } from './ring-hash.js';

const request = getReviews;
const endpoint = (port: number): Endpoint => endpointAt(port);
const snapshot = (endpoints: Endpoint[]): EndpointSnapshot => ({
  service: 'reviews.default.svc.cluster.local',
  endpoints,
  version: 1,
});

/** A terminal that answers with the port of the endpoint it was given. */
const answerWithPort: Handler = async (_req, ctx) => ({ status: 200, headers: {}, body: String(ctx.endpoint?.port) });

async function pick(handler: Handler, snap: EndpointSnapshot): Promise<string> {
  const ctx = new CallContext();
  ctx.snapshot = snap;
  return String((await handler(request, ctx)).body);
}

describe('balance with round robin', () => {
  it('takes each endpoint in turn', async () => {
    const handler = balance(roundRobin()).wrap(answerWithPort);
    const snap = snapshot([endpoint(1), endpoint(2), endpoint(3)]);
    const picks = [];
    for (let i = 0; i < 6; i++) picks.push(await pick(handler, snap));
    expect(picks).toEqual(['1', '2', '3', '1', '2', '3']);
  });

  it('keeps turning when the endpoint set changes', async () => {
    const handler = balance(roundRobin()).wrap(answerWithPort);
    expect(await pick(handler, snapshot([endpoint(1), endpoint(2), endpoint(3)]))).toBe('1');
    expect(await pick(handler, snapshot([endpoint(1), endpoint(2), endpoint(3)]))).toBe('2');
    const smaller = snapshot([endpoint(7)]);
    expect(await pick(handler, smaller)).toBe('7');
    expect(await pick(handler, smaller)).toBe('7');
  });

  it('fails fast with a typed error naming the service when there is no endpoint', async () => {
    const handler = balance(roundRobin()).wrap(answerWithPort);
    const ctx = new CallContext();
    ctx.snapshot = snapshot([]);
    const error = await handler(request, ctx).catch((e: unknown) => e);
    expect(isWeftError(error, 'WEFT_ERR_NO_HEALTHY_UPSTREAM')).toBe(true);
    expect(error).toMatchObject({ flag: 'UH', status: 503, service: 'reviews.default.svc.cluster.local' });
    expect(ctx.responseFlags).toBe('UH');
  });

  it('leaves pass-through calls to the endpoint already chosen', async () => {
    const handler = balance(roundRobin()).wrap(answerWithPort);
    const ctx = new CallContext();
    ctx.endpoint = endpoint(99);
    expect((await handler(request, ctx)).body).toBe('99');
  });
});

describe('balance on a retry', () => {
  class RetryContext extends CallContext {
    triedEndpoints: string[] | undefined = undefined;
    hashKey = 'alice';
  }
  const snap = snapshot([endpoint(1), endpoint(2), endpoint(3)]);

  it('goes to an endpoint not tried yet under round robin', async () => {
    const handler = balance(roundRobin()).wrap(answerWithPort);
    const ctx = new RetryContext();
    ctx.snapshot = snap;
    ctx.triedEndpoints = [endpoint(1).address];
    expect((await handler(request, ctx)).body).not.toBe('1');
  });

  it('does not steer a retry away under consistent hashing, as Istio drops the previous-hosts rule there', async () => {
    // A call without a key goes to a random endpoint: here the first, then the second if asked again.
    const draws = [0, 0.5];
    let i = 0;
    const picker = ringHash({ key: () => undefined, random: () => draws[i++ % 2] as number });
    const handler = balance(picker).wrap(answerWithPort);
    const retry = new RetryContext();
    retry.snapshot = snap;
    retry.triedEndpoints = [endpoint(1).address];
    expect((await handler(request, retry)).body).toBe('1');
    expect(i).toBe(1);
  });

  it('adds the cookie the chooser issued to the response', async () => {
    const handler = balance(roundRobin()).wrap(async () => ({
      status: 200,
      headers: { 'set-cookie': 'app=1' },
      body: null,
    }));
    const ctx = new CallContext() as CallContext & { setCookie?: string };
    ctx.snapshot = snap;
    ctx.setCookie = 'route="abc"; Max-Age=60; HttpOnly';
    expect((await handler(request, ctx)).headers['set-cookie']).toEqual(['app=1', 'route="abc"; Max-Age=60; HttpOnly']);
  });
});
