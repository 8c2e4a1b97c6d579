// Tests of the mirror layer: which requests are copied, what a copy looks like, and that copies never hurt the primary.
import { PassThrough, Readable } from 'node:stream';
import type { Handler, WeftRequest, WeftResponse } from '@weft/core';
import type { HTTPRoute } from '@weft/policy';
import { describe, expect, it, vi } from 'vitest';
import { ClientCallContext } from '../../client/context.js';
import type { CompiledRoute } from '../../routing/model.js';
import { compiledRoute, seeded } from '../../testing/fixtures.js';
import { compileMirrors, type MirrorSend, type MirrorTarget, mirror, NO_MIRRORS, shadowAuthority } from './index.js';

const request = (body: WeftRequest['body'] = null): WeftRequest => ({
  method: 'POST',
  scheme: 'http',
  authority: 'reviews:9080',
  path: '/reviews/1?x=y',
  headers: { 'content-type': 'application/json', 'x-tags': ['a', 'b'] },
  body,
});

/** A route to reviews v1 with `http` on top; the layer reads only `http` and `virtualService`. */
const routeWith = (http: Partial<HTTPRoute>, virtualService = 'prod/reviews'): CompiledRoute =>
  compiledRoute({ route: [{ destination: { host: 'reviews', subset: 'v1' } }], ...http }, virtualService);

function contextFor(route: CompiledRoute | undefined, deadline = Number.POSITIVE_INFINITY): ClientCallContext {
  const ctx = new ClientCallContext(deadline);
  ctx.route = route;
  return ctx;
}

const ok: WeftResponse = { status: 200, headers: {}, body: 'primary' };
const primary: Handler<ClientCallContext> = async () => ok;

/** A `send` that records its calls and answers as told. */
function recorder(answer: () => Promise<WeftResponse> = async () => ({ status: 204, headers: {}, body: null })) {
  const calls: { request: WeftRequest; target: MirrorTarget; deadline: number }[] = [];
  const send: MirrorSend = (req, target, deadline) => {
    calls.push({ request: req, target, deadline });
    return answer();
  };
  return { calls, send };
}

const mirrored = routeWith({ mirror: { host: 'reviews', subset: 'v2' } });

describe('compileMirrors', () => {
  it('qualifies short hosts in the namespace of the VirtualService and mirrors everything without a percentage', () => {
    expect(compileMirrors(mirrored.http, 'prod', 'cluster.local')).toEqual([
      { host: 'reviews.prod.svc.cluster.local', subset: 'v2', port: undefined, fraction: 1 },
    ]);
  });

  it('reads mirrorPercentage, else the deprecated mirrorPercent, and gives each mirrors[] entry its own share', () => {
    const targets = (http: Partial<HTTPRoute>) => compileMirrors(routeWith(http).http, 'prod', 'cluster.local');
    expect(targets({ mirror: { host: 'a' }, mirrorPercentage: { value: 12.5 } })[0]?.fraction).toBe(0.125);
    expect(targets({ mirror: { host: 'a' }, mirrorPercent: 40 })[0]?.fraction).toBe(0.4);
    expect(targets({ mirror: { host: 'a' }, mirror_percent: 40 })[0]?.fraction).toBe(0.4);
    expect(targets({ mirror: { host: 'a' }, mirrorPercent: 40, mirrorPercentage: { value: 5 } })[0]?.fraction).toBe(
      0.05,
    );
    expect(
      targets({
        mirrors: [
          { destination: { host: 'a.other.svc.cluster.local', port: { number: 8080 } } },
          { destination: { host: 'b', subset: 'canary' }, percentage: { value: 50 } },
        ],
      }),
    ).toEqual([
      { host: 'a.other.svc.cluster.local', subset: undefined, port: 8080, fraction: 1 },
      { host: 'b.prod.svc.cluster.local', subset: 'canary', port: undefined, fraction: 0.5 },
    ]);
  });

  it('mirrors nothing for an explicit zero or an empty percentage, as Istio', () => {
    const targets = (http: Partial<HTTPRoute>) => compileMirrors(routeWith(http).http, 'prod', 'cluster.local');
    expect(targets({ mirror: { host: 'a' }, mirrorPercentage: { value: 0 } })).toBe(NO_MIRRORS);
    expect(targets({ mirror: { host: 'a' }, mirrorPercentage: {} })).toBe(NO_MIRRORS);
    expect(targets({ mirror: { host: 'a' }, mirrorPercent: 0 })).toBe(NO_MIRRORS);
    expect(targets({ mirrors: [{ destination: { host: 'a' }, percentage: { value: 0 } }] })).toBe(NO_MIRRORS);
    expect(targets({})).toBe(NO_MIRRORS);
  });
});

describe('shadowAuthority', () => {
  it("adds Envoy's -shadow suffix to the host, before any port", () => {
    expect(shadowAuthority('reviews')).toBe('reviews-shadow');
    expect(shadowAuthority('reviews:9080')).toBe('reviews-shadow:9080');
    expect(shadowAuthority('reviews.prod.svc.cluster.local:80')).toBe('reviews.prod.svc.cluster.local-shadow:80');
    expect(shadowAuthority('[::1]:8080')).toBe('[::1]-shadow:8080');
    expect(shadowAuthority('[::1]')).toBe('[::1]-shadow');
  });
});

describe('mirror', () => {
  it('passes a call without a route, or whose route mirrors nothing, to the next layer with the same objects', async () => {
    const { calls, send } = recorder();
    const layer = mirror({
      send,
      random: () => {
        throw new Error('no draw expected');
      },
    });
    for (const route of [
      undefined,
      routeWith({}),
      routeWith({ mirror: { host: 'a' }, mirrorPercentage: { value: 0 } }),
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
    }
    expect(calls).toHaveLength(0);
    expect(layer.sent).toBe(0);
  });

  it('sends a copy with its own headers and a -shadow authority, and leaves the primary request as it was', async () => {
    const { calls, send } = recorder();
    const handler = mirror({ send }).wrap(primary);
    const body = Buffer.from('{"stars":5}');
    const req = request(body);
    req.headers.host = 'reviews:9080';
    const ctx = contextFor(mirrored, Date.now() + 5_000);
    expect(await handler(req, ctx)).toBe(ok);
    expect(calls).toHaveLength(1);
    const copy = calls[0]?.request as WeftRequest;
    expect(copy).toEqual({
      method: 'POST',
      scheme: 'http',
      authority: 'reviews-shadow:9080',
      path: '/reviews/1?x=y',
      headers: { 'content-type': 'application/json', 'x-tags': ['a', 'b'], host: 'reviews-shadow:9080' },
      body,
    });
    expect(copy.headers).not.toBe(req.headers);
    expect(copy.headers['x-tags']).not.toBe(req.headers['x-tags']);
    expect(req.authority).toBe('reviews:9080');
    expect(req.headers.host).toBe('reviews:9080');
    expect(calls[0]?.target).toEqual({
      host: 'reviews.prod.svc.cluster.local',
      subset: 'v2',
      port: undefined,
      fraction: 1,
    });
    expect(calls[0]?.deadline).toBe(ctx.deadline);
  });

  it('mirrors the share of requests its percentage asks for', async () => {
    const { calls, send } = recorder();
    const layer = mirror({ send, random: seeded(7), maxInFlight: 100_000 });
    const handler = layer.wrap(primary);
    const route = routeWith({ mirror: { host: 'reviews', subset: 'v2' }, mirrorPercentage: { value: 30 } });
    const n = 10_000;
    for (let i = 0; i < n; i++) await handler(request(), contextFor(route));
    // sqrt(n·p·(1−p)) is about 46: a bound of about 4.5 standard deviations.
    expect(Math.abs(calls.length - 3_000)).toBeLessThan(200);
    expect(layer.sent).toBe(calls.length);
    await vi.waitFor(() => expect(layer.inFlight).toBe(0));
  });

  it('never delays the primary, even when the mirror target takes 500 ms', async () => {
    const { calls, send } = recorder(
      () => new Promise((resolve) => setTimeout(() => resolve({ status: 200, headers: {}, body: null }), 500)),
    );
    const layer = mirror({ send });
    const handler = layer.wrap(primary);
    const started = performance.now();
    expect(await handler(request('{}'), contextFor(mirrored))).toBe(ok);
    expect(performance.now() - started).toBeLessThan(100);
    expect(calls).toHaveLength(1);
    expect(layer.inFlight).toBe(1);
    await vi.waitFor(() => expect(layer.inFlight).toBe(0), { timeout: 2_000 });
    expect(layer.failed).toBe(0);
  });

  it('sends the primary on before any copy is handed to send', async () => {
    const order: string[] = [];
    const layer = mirror({
      send: async () => {
        order.push('copy');
        return { status: 200, headers: {}, body: null };
      },
    });
    const handler = layer.wrap(async () => {
      order.push('primary');
      return ok;
    });
    await handler(request(), contextFor(mirrored));
    expect(order).toEqual(['primary', 'copy']);
  });

  it('does not fail the primary when a copy fails, rejecting or throwing, and counts the failures', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const rejecting = mirror({ send: () => Promise.reject(new Error('mirror target down')) });
      const throwing = mirror({
        send: () => {
          throw new Error('cannot even start');
        },
      });
      for (const layer of [rejecting, throwing]) {
        expect(await layer.wrap(primary)(request(), contextFor(mirrored))).toBe(ok);
        await vi.waitFor(() => expect(layer.failed).toBe(1));
        expect(layer.sent).toBe(1);
        expect(layer.inFlight).toBe(0);
      }
      await new Promise((resolve) => setImmediate(resolve));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it("reads a copy's response body to the end before freeing its slot, and counts a body that errors", async () => {
    const bodies: PassThrough[] = [];
    const layer = mirror({
      send: async () => {
        const body = new PassThrough();
        bodies.push(body);
        return { status: 200, headers: {}, body };
      },
    });
    const handler = layer.wrap(primary);
    await handler(request(), contextFor(mirrored));
    await handler(request(), contextFor(mirrored));
    await vi.waitFor(() => expect(bodies).toHaveLength(2));
    expect(layer.inFlight).toBe(2);
    const [good, bad] = bodies as [PassThrough, PassThrough];
    good.end(Buffer.alloc(1024 * 1024));
    await vi.waitFor(() => expect(layer.inFlight).toBe(1));
    expect(good.readableEnded).toBe(true);
    bad.destroy(new Error('reset'));
    await vi.waitFor(() => expect(layer.inFlight).toBe(0));
    expect(layer.failed).toBe(1);
  });

  it('keeps at most maxInFlight copies in flight and drops the rest', async () => {
    const release: (() => void)[] = [];
    const layer = mirror({
      maxInFlight: 2,
      send: () => new Promise((resolve) => release.push(() => resolve({ status: 200, headers: {}, body: null }))),
    });
    const handler = layer.wrap(primary);
    for (let i = 0; i < 5; i++) expect(await handler(request(), contextFor(mirrored))).toBe(ok);
    expect(layer.sent).toBe(2);
    expect(layer.dropped).toBe(3);
    expect(layer.inFlight).toBe(2);
    for (const r of release.splice(0)) r();
    await vi.waitFor(() => expect(layer.inFlight).toBe(0));
    await handler(request(), contextFor(mirrored));
    expect(layer.sent).toBe(3);
    for (const r of release.splice(0)) r();
    await vi.waitFor(() => expect(layer.inFlight).toBe(0));
  });

  it('skips a request whose body is a stream and hands the stream untouched to the primary', async () => {
    const { calls, send } = recorder();
    const layer = mirror({ send });
    let seen: WeftRequest['body'] | undefined;
    const handler = layer.wrap(async (req) => {
      seen = req.body;
      return ok;
    });
    const stream = Readable.from(['chunk']);
    expect(await handler(request(stream), contextFor(mirrored))).toBe(ok);
    expect(seen).toBe(stream);
    expect(calls).toHaveLength(0);
    expect(layer.skipped).toBe(1);
    expect(layer.sent).toBe(0);
  });

  it('sends one copy to each target drawn', async () => {
    const { calls, send } = recorder();
    const route = routeWith({
      mirrors: [{ destination: { host: 'a' } }, { destination: { host: 'b', port: { number: 9090 } } }],
    });
    await mirror({ send }).wrap(primary)(request(), contextFor(route));
    expect(calls.map((c) => [c.target.host, c.target.port])).toEqual([
      ['a.prod.svc.cluster.local', undefined],
      ['b.prod.svc.cluster.local', 9090],
    ]);
    expect(calls[0]?.request).not.toBe(calls[1]?.request);
  });

  it('checks its options when it is made', () => {
    const send: MirrorSend = async () => ok;
    expect(() => mirror(undefined as unknown as { send: MirrorSend })).toThrow(
      expect.objectContaining({ code: 'WEFT_ERR_OPTION_REQUIRED' }),
    );
    expect(() => mirror({ send: 'x' as unknown as MirrorSend })).toThrow(
      expect.objectContaining({ code: 'WEFT_ERR_OPTION_TYPE' }),
    );
    for (const maxInFlight of [0, -1, 1.5, Number.NaN]) {
      expect(() => mirror({ send, maxInFlight })).toThrow(expect.objectContaining({ code: 'WEFT_ERR_OPTION_VALUE' }));
    }
  });
});
