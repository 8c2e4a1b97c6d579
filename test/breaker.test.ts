// weft's failure-rate circuit breaker per destination, over real servers: opens, fails fast, half-opens, closes.
import { type BreakerStateChange, bufferBody, isWeftError, type Mesh } from '@weft/mesh';
import { describe, expect, it } from 'vitest';
import { mesh, upstream } from './support/lifecycle.js';
import { until } from './support/wait.js';

/** An upstream whose answer the test switches: the status it sends while `failing`, else 200. */
async function switchable(name: string, failingStatus = 503) {
  const state = { failing: true };
  const u = await upstream(name, (_req, res) => {
    res.statusCode = state.failing ? failingStatus : 200;
    res.end(state.failing ? 'down' : 'ok');
  });
  return Object.assign(u, { state });
}

/** One call without retries: the status, or the error's code and flag. */
async function call(m: Mesh, url: string): Promise<string> {
  try {
    const res = await m.fetch(url, { weft: { retries: { attempts: 0 } } });
    await res.arrayBuffer();
    return String(res.status);
  } catch (error) {
    const e = isWeftError(error) ? error : (error as { cause?: unknown }).cause;
    return isWeftError(e) ? `${e.code} ${e.flag}` : String(error);
  }
}

describe('circuit breaker', () => {
  it('opens on the failure rate, fails fast without sending, half-opens after openFor and closes on a good probe', async () => {
    const reviews = await switchable('reviews');
    const m = await mesh({
      service: 'productpage',
      discovery: { static: { reviews: [reviews.address] } },
      policy: { service: 'reviews', breaker: { failurePercent: 50, minimumCalls: 5, openFor: '300ms' } },
    });
    const changes: BreakerStateChange[] = [];
    m.onBreakerStateChange((c) => changes.push(c));

    const first = [];
    for (let i = 0; i < 5; i++) first.push(await call(m, 'http://reviews/'));
    expect(first).toEqual(['503', '503', '503', '503', '503']);
    expect(changes.map((c) => c.state)).toEqual(['open']);

    // Open: refused at once with a typed error, and the upstream sees nothing.
    reviews.state.failing = false;
    expect(await call(m, 'http://reviews/')).toBe('WEFT_ERR_CIRCUIT_OPEN UO');
    expect(reviews.seen).toHaveLength(5);
    expect(m.breakers()).toEqual([
      expect.objectContaining({
        destination: 'reviews.default.svc.cluster.local',
        state: 'open',
        calls: 5,
        failures: 5,
        rejected: 1,
        opened: 1,
      }),
    ]);

    await until(() => m.breakers()[0]?.state === 'half-open', 3_000);
    expect(await call(m, 'http://reviews/')).toBe('200');
    expect(changes.map((c) => c.state)).toEqual(['open', 'half-open', 'closed']);
    expect(changes[1]).toMatchObject({ previous: 'open', destination: 'reviews.default.svc.cluster.local' });

    // Closed with a fresh window: the failures from before it opened do not open it again.
    reviews.state.failing = true;
    expect(await call(m, 'http://reviews/')).toBe('503');
    expect(m.breakers()[0]).toMatchObject({ state: 'closed', window: { calls: 1, failures: 1 } });
  });

  it('opens again when the half-open probe fails, and lets only one probe through', async () => {
    const slowDown = { delayMs: 0 };
    let failing = true;
    const reviews = await upstream('reviews', (_req, res) => {
      setTimeout(() => {
        res.statusCode = failing ? 500 : 200;
        res.end();
      }, slowDown.delayMs).unref();
    });
    const m = await mesh({
      service: 'productpage',
      discovery: { static: { reviews: [reviews.address] } },
      policy: { service: 'reviews', breaker: { minimumCalls: 2, openFor: '200ms' } },
    });
    for (let i = 0; i < 2; i++) await call(m, 'http://reviews/');
    expect(m.breakers()[0]?.state).toBe('open');

    await until(() => m.breakers()[0]?.state === 'half-open', 3_000);
    expect(await call(m, 'http://reviews/')).toBe('500');
    expect(m.breakers()[0]).toMatchObject({ state: 'open', opened: 2 });

    await until(() => m.breakers()[0]?.state === 'half-open', 3_000);
    failing = false;
    slowDown.delayMs = 100;
    const probe = call(m, 'http://reviews/');
    // While the probe is in flight, the others fail fast.
    expect(await call(m, 'http://reviews/')).toBe('WEFT_ERR_CIRCUIT_OPEN UO');
    expect(await probe).toBe('200');
    expect(m.breakers()[0]?.state).toBe('closed');
    expect(reviews.seen).toHaveLength(4);
  });

  it('does not open on the first failure with weft defaults (opossum alone would)', async () => {
    const reviews = await switchable('reviews', 500);
    const m = await mesh({
      service: 'productpage',
      discovery: { static: { reviews: [reviews.address] } },
      breaker: { everyDestination: true },
    });
    const statuses = [];
    for (let i = 0; i < 19; i++) statuses.push(await call(m, 'http://reviews/'));
    // 19 failures are below the 20-call minimum: the breaker stays closed and every call is sent.
    expect(new Set(statuses)).toEqual(new Set(['500']));
    expect(m.breakers()[0]).toMatchObject({ state: 'closed', policy: { minimumCalls: 20, failurePercent: 50 } });
    expect(await call(m, 'http://reviews/')).toBe('500');
    expect(m.breakers()[0]?.state).toBe('open');
    expect(await call(m, 'http://reviews/')).toBe('WEFT_ERR_CIRCUIT_OPEN UO');
  });

  it('never counts 4xx: the caller’s mistakes do not open a shared breaker', async () => {
    const reviews = await switchable('reviews', 404);
    const m = await mesh({
      service: 'productpage',
      discovery: { static: { reviews: [reviews.address] } },
      breaker: { everyDestination: { minimumCalls: 2 }, classify: { response: () => true } },
    });
    for (let i = 0; i < 10; i++) expect(await call(m, 'http://reviews/')).toBe('404');
    expect(m.breakers()[0]).toMatchObject({ state: 'closed', failures: 0, calls: 10 });
  });

  it('takes a classifier that reads an error envelope in a 200, and the caller still gets the body', async () => {
    const reviews = await upstream('reviews', (_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ error: 'database unavailable' }));
    });
    const m = await mesh({
      service: 'productpage',
      discovery: { static: { reviews: [reviews.address] } },
      breaker: {
        everyDestination: { minimumCalls: 3 },
        classify: {
          response: async (res) =>
            (JSON.parse((await bufferBody(res)).toString()) as { error?: string }).error !== undefined,
        },
      },
    });
    for (let i = 0; i < 3; i++) {
      const res = await m.fetch('http://reviews/');
      expect(await res.json()).toEqual({ error: 'database unavailable' });
    }
    expect(m.breakers()[0]?.state).toBe('open');
    expect(await call(m, 'http://reviews/')).toBe('WEFT_ERR_CIRCUIT_OPEN UO');
  });

  it('counts refused connections, keeps one breaker per destination and subset, and leaves the others alone', async () => {
    const v1 = await switchable('v1');
    const v2 = await switchable('v2');
    v2.state.failing = false;
    const ratings = await upstream('ratings');
    const m = await mesh({
      service: 'productpage',
      discovery: {
        static: {
          reviews: [
            { address: v1.address, labels: { version: 'v1' } },
            { address: v2.address, labels: { version: 'v2' } },
          ],
          ratings: [ratings.address],
        },
      },
      breaker: { everyDestination: { minimumCalls: 3 } },
      policy: [
        { service: 'reviews', subsets: { v1: { version: 'v1' }, v2: { version: 'v2' } } },
        {
          apiVersion: 'networking.istio.io/v1',
          kind: 'VirtualService',
          metadata: { name: 'reviews' },
          spec: {
            hosts: ['reviews'],
            http: [
              {
                match: [{ headers: { 'x-v': { exact: '2' } } }],
                route: [{ destination: { host: 'reviews', subset: 'v2' } }],
              },
              { route: [{ destination: { host: 'reviews', subset: 'v1' } }] },
            ],
          },
        },
      ],
    });
    for (let i = 0; i < 3; i++) expect(await call(m, 'http://reviews/')).toBe('503');
    expect(await call(m, 'http://reviews/')).toBe('WEFT_ERR_CIRCUIT_OPEN UO');
    const res = await m.fetch('http://reviews/', { headers: { 'x-v': '2' } });
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    expect(await call(m, 'http://ratings/')).toBe('200');

    // A refused connection is the destination's failure too: with the one success before, 2 of 3 calls failed.
    await ratings.close();
    for (let i = 0; i < 2; i++) expect(await call(m, 'http://ratings/')).toMatch(/^WEFT_ERR_UPSTREAM_CONNECT/);
    expect(await call(m, 'http://ratings/')).toBe('WEFT_ERR_CIRCUIT_OPEN UO');

    const states = Object.fromEntries(m.breakers().map((b) => [b.destination, b.state]));
    expect(states).toEqual({
      'reviews.default.svc.cluster.local|v1': 'open',
      'reviews.default.svc.cluster.local|v2': 'closed',
      'ratings.default.svc.cluster.local': 'open',
    });
  });

  it('ends the retries of a call when it opens: an open breaker is not retried', async () => {
    const reviews = await switchable('reviews');
    const m = await mesh({
      service: 'productpage',
      discovery: { static: { reviews: [reviews.address] } },
      policy: { service: 'reviews', retries: { attempts: 5, retryOn: '5xx' }, breaker: { minimumCalls: 2 } },
    });
    expect(await m.fetch('http://reviews/').catch((e: unknown) => e)).toMatchObject({ code: 'WEFT_ERR_CIRCUIT_OPEN' });
    expect(reviews.seen).toHaveLength(2);
  });

  it('follows the policy: a rule’s weft.io/breaker false turns the mesh’s off, and new settings make a new breaker', async () => {
    const reviews = await switchable('reviews');
    const rule = (annotation: string) => ({
      apiVersion: 'networking.istio.io/v1',
      kind: 'DestinationRule',
      metadata: { name: 'reviews', annotations: { 'weft.io/breaker': annotation } },
      spec: { host: 'reviews' },
    });
    const m = await mesh({
      service: 'productpage',
      discovery: { static: { reviews: [reviews.address] } },
      breaker: { everyDestination: { minimumCalls: 2 } },
      policy: rule('false'),
    });
    for (let i = 0; i < 5; i++) expect(await call(m, 'http://reviews/')).toBe('503');
    expect(m.breakers()).toEqual([]);

    await m.policy.update(rule('{"minimumCalls": 3}'));
    for (let i = 0; i < 3; i++) expect(await call(m, 'http://reviews/')).toBe('503');
    expect(await call(m, 'http://reviews/')).toBe('WEFT_ERR_CIRCUIT_OPEN UO');

    await m.policy.update(rule('{"minimumCalls": 4}'));
    expect(await call(m, 'http://reviews/')).toBe('503');
    expect(m.breakers()).toEqual([
      expect.objectContaining({ state: 'closed', policy: expect.objectContaining({ minimumCalls: 4 }) }),
    ]);
  });

  it('refuses bad breaker options with the option path and what would be valid', async () => {
    await expect(
      mesh({ service: 'productpage', breaker: { everyDestination: { failurePercent: 0, openFor: 'soon' } } }),
    ).rejects.toMatchObject({
      code: 'WEFT_ERR_CONFIG_INVALID',
      problems: expect.arrayContaining([
        expect.objectContaining({
          path: 'breaker.everyDestination.failurePercent',
          expected: 'a number from 1 to 100',
        }),
        expect.objectContaining({ path: 'breaker.everyDestination.openFor' }),
      ]),
    });
  });
});
