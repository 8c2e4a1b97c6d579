import { PassThrough } from 'node:stream';
import { CallContext, type Handler, isWeftError } from '@weft/core';
import { describe, expect, it } from 'vitest';
import { getReviews } from '../../testing/fixtures.js';
import { deadline } from './index.js';

const request = getReviews;

/** An inner handler that answers after `ms`, or rejects with the abort reason if its signal fires first. */
const slow =
  (ms: number): Handler =>
  (_req, ctx) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => resolve({ status: 200, headers: {}, body: null }), ms);
      ctx.signal?.addEventListener('abort', () => {
        clearTimeout(timer);
        reject(ctx.signal?.reason);
      });
    });

describe('deadline', () => {
  it('adds no signal and no deadline when neither the call nor the mesh sets a limit', async () => {
    let seen: CallContext | undefined;
    const handler = deadline({ defaultTimeoutMs: 0 }).wrap(async (_req, ctx) => {
      seen = ctx;
      return { status: 200, headers: {}, body: null };
    });
    await handler(request, new CallContext());
    expect(seen?.signal).toBeUndefined();
    expect(seen?.deadline).toBe(Number.POSITIVE_INFINITY);
  });

  it('fails a call that outlives the default limit with WEFT_ERR_TIMEOUT and aborts the work below', async () => {
    const handler = deadline({ defaultTimeoutMs: 30 }).wrap(slow(1_000));
    const ctx = new CallContext();
    ctx.service = 'reviews.default.svc.cluster.local';
    const started = Date.now();
    const error = await handler(request, ctx).catch((e: unknown) => e);
    expect(isWeftError(error, 'WEFT_ERR_TIMEOUT')).toBe(true);
    expect(error).toMatchObject({ status: 504, flag: 'UT', service: 'reviews.default.svc.cluster.local' });
    expect((error as Error).message).toContain('within 30 ms');
    expect(Date.now() - started).toBeLessThan(500);
    expect(ctx.signal?.aborted).toBe(true);
  });

  it("prefers the call's own deadline to the default", async () => {
    const handler = deadline({ defaultTimeoutMs: 5_000 }).wrap(slow(1_000));
    const error = await handler(request, new CallContext(Date.now() + 20)).catch((e: unknown) => e);
    expect(isWeftError(error, 'WEFT_ERR_TIMEOUT')).toBe(true);
  });

  it('lets a call that finishes in time through', async () => {
    const handler = deadline({ defaultTimeoutMs: 500 }).wrap(slow(5));
    expect((await handler(request, new CallContext())).status).toBe(200);
  });

  it('refuses at once a call whose deadline has already passed', async () => {
    let reached = false;
    const handler = deadline({ defaultTimeoutMs: 0 }).wrap(async () => {
      reached = true;
      return { status: 200, headers: {}, body: null };
    });
    const error = await handler(request, new CallContext(Date.now() - 1)).catch((e: unknown) => e);
    expect(isWeftError(error, 'WEFT_ERR_TIMEOUT')).toBe(true);
    expect(reached).toBe(false);
  });

  it('covers the response body: a body still streaming at the deadline is cut with WEFT_ERR_TIMEOUT', async () => {
    const body = new PassThrough();
    const handler = deadline({ defaultTimeoutMs: 30 }).wrap(async () => ({ status: 200, headers: {}, body }));
    const response = await handler(request, new CallContext());
    body.write('partial');
    const error = await new Promise((resolve) => body.on('error', resolve));
    expect(isWeftError(error, 'WEFT_ERR_TIMEOUT')).toBe(true);
    expect(response.status).toBe(200);
  });

  it("passes the caller's abort through to the work below", async () => {
    const handler = deadline({ defaultTimeoutMs: 1_000 }).wrap(slow(1_000));
    const caller = new AbortController();
    const pending = handler(request, new CallContext(Number.POSITIVE_INFINITY, caller.signal)).catch((e: unknown) => e);
    caller.abort(new Error('user gave up'));
    expect(((await pending) as Error).message).toBe('user gave up');
  });
});
