// Load balancing by DestinationRule over real servers: random, least request, consistent hashing by header.
import { describe, expect, it } from 'vitest';
import { mesh, upstream } from './support/lifecycle.js';

const rule = (loadBalancer: unknown) => ({
  apiVersion: 'networking.istio.io/v1',
  kind: 'DestinationRule',
  metadata: { name: 'reviews' },
  spec: { host: 'reviews', trafficPolicy: { loadBalancer } },
});

async function fiveEndpoints(loadBalancer: unknown) {
  const ups = await Promise.all(['a', 'b', 'c', 'd', 'e'].map((n) => upstream(n)));
  const m = await mesh({
    service: 'productpage',
    discovery: { static: { reviews: ups.map((u) => u.address) } },
    policy: rule(loadBalancer),
  });
  const call = async (headers: Record<string, string> = {}, path = '/') =>
    ((await (await m.fetch(`http://reviews${path}`, { headers })).json()) as { name: string }).name;
  return { ups, m, call };
}

describe('load balancing by DestinationRule', () => {
  it('sends the same header value to the same endpoint under consistentHash (ring hash and Maglev)', async () => {
    for (const consistentHash of [
      { httpHeaderName: 'x-user' },
      { httpHeaderName: 'x-user', maglev: { tableSize: 65537 } },
    ]) {
      const { call } = await fiveEndpoints({ consistentHash });
      const homes = new Map<string, string>();
      for (let round = 0; round < 3; round++) {
        for (let u = 0; u < 20; u++) {
          const served = await call({ 'x-user': `user-${u}` });
          expect(homes.get(`user-${u}`) ?? served).toBe(served);
          homes.set(`user-${u}`, served);
        }
      }
      expect(new Set(homes.values()).size).toBeGreaterThan(2);
    }
  });

  it('hashes on a query parameter too', async () => {
    const { call } = await fiveEndpoints({ consistentHash: { httpQueryParameterName: 'cart' } });
    const first = await call({}, '/?cart=42');
    for (let i = 0; i < 10; i++) expect(await call({}, `/?cart=42&i=${i}`)).toBe(first);
  });

  it('spreads calls under RANDOM and LEAST_REQUEST', async () => {
    for (const simple of ['RANDOM', 'LEAST_REQUEST']) {
      const { ups, call } = await fiveEndpoints({ simple });
      for (let i = 0; i < 200; i++) await call();
      for (const u of ups) expect(u.seen.length, `${simple} ${u.name}`).toBeGreaterThan(10);
    }
  });

  it('keeps round robin as the default when the rule names no balancer', async () => {
    const { call } = await fiveEndpoints(undefined);
    const order: string[] = [];
    for (let i = 0; i < 10; i++) order.push(await call());
    expect(order).toEqual(['a', 'b', 'c', 'd', 'e', 'a', 'b', 'c', 'd', 'e']);
  });
});
