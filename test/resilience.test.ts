// Outlier detection and connectionPool limits by DestinationRule, over real servers.
import { describe, expect, it } from 'vitest';
import { mesh, upstream } from './support/lifecycle.js';

const rule = (trafficPolicy: unknown) => ({
  apiVersion: 'networking.istio.io/v1',
  kind: 'DestinationRule',
  metadata: { name: 'reviews' },
  spec: { host: 'reviews', trafficPolicy },
});

describe('outlier detection', () => {
  it('ejects an endpoint after consecutive 5xx, shows it in mesh.endpoints(), and sends its share elsewhere', async () => {
    const bad = await upstream('bad', (_req, res) => {
      res.statusCode = 500;
      res.end();
    });
    const good = await upstream('good');
    const m = await mesh({
      service: 'productpage',
      discovery: { static: { reviews: [bad.address, good.address] } },
      policy: rule({
        outlierDetection: { consecutive5xxErrors: 3, interval: '10s', baseEjectionTime: '30s', maxEjectionPercent: 50 },
      }),
    });
    const statuses: number[] = [];
    for (let i = 0; i < 20; i++) {
      const res = await m.fetch('http://reviews/', { weft: { retries: { attempts: 0 } } });
      statuses.push(res.status);
      await res.arrayBuffer();
    }
    expect(bad.seen).toHaveLength(3);
    expect(statuses.filter((s) => s === 500)).toHaveLength(3);
    const [reviews] = m.endpoints();
    expect(reviews?.endpoints.find((e) => e.address === bad.address)).toMatchObject({ ejected: true });
    expect(reviews?.endpoints.find((e) => e.address === good.address)).toMatchObject({ ejected: false });
  });

  it('never ejects more than maxEjectionPercent of the endpoints', async () => {
    const bad = await upstream('bad', (_req, res) => {
      res.statusCode = 503;
      res.end();
    });
    const good = await upstream('good');
    const m = await mesh({
      service: 'productpage',
      discovery: { static: { reviews: [bad.address, good.address] } },
      // Istio's default cap of 10 %: with two endpoints, none may be ejected (Envoy's rule).
      policy: rule({ outlierDetection: { consecutive5xxErrors: 2 } }),
    });
    for (let i = 0; i < 12; i++)
      await (await m.fetch('http://reviews/', { weft: { retries: { attempts: 0 } } })).arrayBuffer();
    expect(bad.seen).toHaveLength(6);
  });
});

describe('connectionPool limits', () => {
  it('lets calls wait for a connection and fails the overflow fast with WEFT_ERR_UPSTREAM_OVERFLOW (UO)', async () => {
    const slow = await upstream('slow', (_req, res) => {
      setTimeout(() => res.end('ok'), 150).unref();
    });
    const m = await mesh({
      service: 'productpage',
      discovery: { static: { reviews: [slow.address] } },
      policy: rule({ connectionPool: { tcp: { maxConnections: 2 }, http: { http1MaxPendingRequests: 1 } } }),
    });
    const calls = Array.from({ length: 5 }, (_, i) =>
      m
        .fetch(`http://reviews/${i}`)
        .then((r) => r.text())
        .catch((e: { code?: string; flag?: string }) => `${e.code} ${e.flag}`),
    );
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(m.endpoints()[0]?.pool).toMatchObject({ active: 2, pending: 1 });
    const results = await Promise.all(calls);
    expect(results.filter((r) => r === 'ok')).toHaveLength(3);
    expect(results.filter((r) => r === 'WEFT_ERR_UPSTREAM_OVERFLOW UO')).toHaveLength(2);
    expect(slow.seen).toHaveLength(3);
  });
});

describe('ejection and least request over time', () => {
  it('brings an ejected endpoint back after its ejection time', async () => {
    let failing = true;
    const flaky = await upstream('flaky', (_req, res) => {
      res.statusCode = failing ? 503 : 200;
      res.end();
    });
    const steady = await upstream('steady');
    const m = await mesh({
      service: 'productpage',
      discovery: { static: { reviews: [flaky.address, steady.address] } },
      policy: rule({
        outlierDetection: {
          consecutive5xxErrors: 2,
          interval: '50ms',
          baseEjectionTime: '200ms',
          maxEjectionPercent: 50,
        },
      }),
    });
    const call = async () => (await m.fetch('http://reviews/', { weft: { retries: { attempts: 0 } } })).arrayBuffer();
    for (let i = 0; i < 6; i++) await call();
    expect(m.endpoints()[0]?.endpoints.find((e) => e.address === flaky.address)?.ejected).toBe(true);
    const seenWhileEjected = flaky.seen.length;
    for (let i = 0; i < 6; i++) await call();
    expect(flaky.seen.length).toBe(seenWhileEjected);
    failing = false;
    await new Promise((resolve) => setTimeout(resolve, 300));
    for (let i = 0; i < 6; i++) await call();
    expect(flaky.seen.length).toBeGreaterThan(seenWhileEjected);
    expect(m.endpoints()[0]?.endpoints.find((e) => e.address === flaky.address)?.ejected).toBe(false);
  });

  it('sends measurably less to a slow endpoint under LEAST_REQUEST than round robin does', async () => {
    const slow = await upstream('slow', (_req, res) => {
      setTimeout(() => res.end('slow'), 40).unref();
    });
    const fast = await upstream('fast');
    const shareOfSlow = async (loadBalancer: unknown) => {
      const before = slow.seen.length;
      const m = await mesh({
        service: `caller-${Math.random().toString(36).slice(2, 8)}`,
        discovery: { static: { reviews: [slow.address, fast.address] } },
        policy: rule(loadBalancer === undefined ? {} : { loadBalancer }),
      });
      let sent = 0;
      const worker = async () => {
        while (sent < 200) {
          sent++;
          await (await m.fetch('http://reviews/')).arrayBuffer();
        }
      };
      await Promise.all(Array.from({ length: 8 }, worker));
      await m.close();
      return (slow.seen.length - before) / 200;
    };
    const roundRobin = await shareOfSlow(undefined);
    const leastRequest = await shareOfSlow({ simple: 'LEAST_REQUEST' });
    // Round robin gives the slow endpoint its half; power of two choices (drawn with replacement, as
    // Envoy does) sends it only the calls where both draws fall on it, about a quarter.
    expect(roundRobin).toBeGreaterThan(0.4);
    expect(leastRequest).toBeLessThan(roundRobin * 0.75);
  });
});
