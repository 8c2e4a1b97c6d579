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
