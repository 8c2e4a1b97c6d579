import { CallContext, type Endpoint, type EndpointSnapshot, type Handler, isWeftError } from '@weft/core';
import { describe, expect, it } from 'vitest';
import { endpointAt, getReviews } from '../../testing/fixtures.js';
import { balance, roundRobin } from './index.js';

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
