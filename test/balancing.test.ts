// Load balancing by DestinationRule over real servers: random, least request, weights, slow start, consistent hashing.
import type { Endpoint } from '@weft/core';
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

/** An endpoint as static discovery makes it, for changing a service's endpoints while the mesh runs. */
const endpointOf = (u: { address: string; port: number }, weight = 1): Endpoint => ({
  address: u.address,
  host: '127.0.0.1',
  port: u.port,
  labels: {},
  locality: '',
  weight,
});

describe('endpoint weights', () => {
  it("give each endpoint its weight's share under ROUND_ROBIN, RANDOM and LEAST_REQUEST", async () => {
    for (const simple of ['ROUND_ROBIN', 'RANDOM', 'LEAST_REQUEST']) {
      const ups = await Promise.all(['heavy', 'middle', 'light'].map((n) => upstream(n)));
      const m = await mesh({
        service: 'productpage',
        discovery: {
          static: { reviews: ups.map((u, i) => ({ address: u.address, weight: [3, 2, 1][i] as number })) },
        },
        policy: rule({ simple }),
      });
      const calls = 600;
      for (let i = 0; i < calls; i++) await (await m.fetch('http://reviews/')).arrayBuffer();
      const shares = ups.map((u) => u.seen.length / calls);
      if (simple === 'RANDOM') {
        // Binomial spread at 600 calls is under 2 points; 6 points leaves room without hiding a wrong split.
        for (const [i, want] of [0.5, 1 / 3, 1 / 6].entries())
          expect(Math.abs((shares[i] as number) - want), simple).toBeLessThan(0.06);
      } else {
        // Round robin and (for calls that do not overlap) least request follow the weights exactly.
        expect(
          ups.map((u) => u.seen.length),
          simple,
        ).toEqual([300, 200, 100]);
      }
    }
  });

  it('give a heavier endpoint a larger share of the keys under ring hash and Maglev', async () => {
    for (const consistentHash of [
      { httpHeaderName: 'x-user' },
      { httpHeaderName: 'x-user', maglev: { tableSize: 65537 } },
    ]) {
      const ups = await Promise.all(['heavy', 'light'].map((n) => upstream(n)));
      const m = await mesh({
        service: 'productpage',
        discovery: {
          static: { reviews: [{ address: ups[0]?.address as string, weight: 4 }, ups[1]?.address as string] },
        },
        policy: rule({ consistentHash }),
      });
      for (let u = 0; u < 300; u++)
        await (await m.fetch('http://reviews/', { headers: { 'x-user': `user-${u}` } })).arrayBuffer();
      // 4 : 1 is 80 %.
      expect(Math.abs((ups[0]?.seen.length ?? 0) / 300 - 0.8)).toBeLessThan(0.08);
    }
  });
});

describe('slow start', () => {
  it('gives an endpoint added while the mesh runs a reduced share that grows over the warmup window', async () => {
    const ups = await Promise.all(['a', 'b', 'new'].map((n) => upstream(n)));
    const [a, b, added] = ups as [(typeof ups)[0], (typeof ups)[0], (typeof ups)[0]];
    const m = await mesh({
      service: 'productpage',
      discovery: { static: { reviews: [a.address, b.address] } },
      policy: rule({ simple: 'ROUND_ROBIN', warmup: { duration: '1500ms', minimumPercent: 10 } }),
    });
    const call = async () => (await m.fetch('http://reviews/')).arrayBuffer();
    // The balancer sees the first endpoint set: those two are not warming.
    for (let i = 0; i < 4; i++) await call();
    m.registry.setEndpoints('reviews', [endpointOf(a), endpointOf(b), endpointOf(added)]);
    const addedAt = Date.now();
    const shareOver = async (n: number) => {
      const before = added.seen.length;
      for (let i = 0; i < n; i++) await call();
      return (added.seen.length - before) / n;
    };
    const early = await shareOver(100);
    expect(Date.now() - addedAt).toBeLessThan(600); // still early in the window
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, addedAt + 1000 - Date.now())));
    const later = await shareOver(100);
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, addedAt + 1600 - Date.now())));
    const warm = await shareOver(99);
    // A full share is a third; at the start, about a tenth of a weight against two full ones.
    expect(early).toBeLessThan(0.15);
    expect(later).toBeGreaterThan(early);
    expect(warm).toBeCloseTo(1 / 3, 1);
  });
});

describe('consistent hashing by cookie', () => {
  it('issues the cookie on the first response and keeps calls that send it back on one endpoint', async () => {
    const { ups, m } = await fiveEndpoints({
      consistentHash: { httpCookie: { name: 'route', path: '/', ttl: '60s' } },
    });
    const first = await m.fetch('http://reviews/');
    await first.arrayBuffer();
    const setCookie = first.headers.get('set-cookie') ?? '';
    expect(setCookie).toMatch(/^route="[0-9a-f]+"; Max-Age=60; Path=\/; HttpOnly$/);
    const value = /route="([0-9a-f]+)"/.exec(setCookie)?.[1] as string;
    const servedFirst = ups.find((u) => u.seen.length === 1)?.name;
    const served = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const res = await m.fetch('http://reviews/', { headers: { cookie: `theme=dark; route=${value}` } });
      served.add(((await res.json()) as { name: string }).name);
      // A request that carries the cookie is not given another one.
      expect(res.headers.get('set-cookie')).toBeNull();
    }
    expect([...served]).toEqual([servedFirst]);
  });

  it("hashes useSourceIp on the workload's own address: every call of the process goes to one endpoint", async () => {
    const { call } = await fiveEndpoints({ consistentHash: { useSourceIp: true } });
    const served = new Set<string>();
    for (let i = 0; i < 20; i++) served.add(await call());
    expect(served.size).toBe(1);
  });
});
