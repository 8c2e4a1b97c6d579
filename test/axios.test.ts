// End to end: weft's axios client against real node:http servers on loopback.

import { gzipSync } from 'node:zlib';
import { isWeftError } from '@weft/mesh';
import axios, { AxiosError } from 'axios';
import { describe, expect, it } from 'vitest';
import { mesh, upstream } from './support/lifecycle.js';
import { refusingAddress } from './support/upstreams.js';

describe('mesh.axios', () => {
  it('spreads calls to a logical service across its endpoints in turn', async () => {
    const [a, b, c] = await Promise.all([upstream('a'), upstream('b'), upstream('c')]);
    const m = await mesh({
      service: 'productpage',
      discovery: { static: { reviews: [a.address, b.address, c.address] } },
    });
    const reviews = m.axios('reviews');
    const served: string[] = [];
    for (let i = 0; i < 9; i++) served.push((await reviews.get('/reviews/0')).data.name);
    expect(served).toEqual(['a', 'b', 'c', 'a', 'b', 'c', 'a', 'b', 'c']);
    expect(a.seen[0]).toMatchObject({ method: 'GET', url: '/reviews/0', host: 'reviews' });
    const stats = m.stats().outbound.find((s) => s.service === 'reviews.default.svc.cluster.local');
    expect(stats?.requests).toBe(9);
    expect(stats?.endpoints.map((e) => e.requests)).toEqual([3, 3, 3]);
  });

  it('sends bodies, query parameters and headers, and parses JSON answers', async () => {
    const a = await upstream('a');
    const m = await mesh({ service: 'productpage', discovery: { static: { reviews: [a.address] } } });
    const res = await m.axios('reviews').post('/r', { stars: 5 }, { params: { q: 'x y' }, headers: { 'X-Test': '1' } });
    expect(res.status).toBe(200);
    expect(res.statusText).toBe('OK');
    expect(res.data).toMatchObject({ method: 'POST', url: '/r?q=x+y', body: '{"stars":5}' });
    expect(res.headers['content-type']).toBe('application/json');
  });

  it('joins baseURL and url as axios does, and lets an absolute url win', async () => {
    const [a, b] = [await upstream('a'), await upstream('b')];
    const m = await mesh({
      service: 'productpage',
      discovery: { static: { reviews: [a.address], details: [b.address] } },
    });
    const api = m.axios('reviews', { baseURL: 'http://reviews/api/' });
    expect((await api.get('v1/x')).data).toMatchObject({ name: 'a', url: '/api/v1/x' });
    expect((await api.get('/v1/y', { params: { n: 1 } })).data).toMatchObject({ name: 'a', url: '/api/v1/y?n=1' });
    expect((await api.get('http://details/z')).data).toMatchObject({ name: 'b', url: '/z' });
    expect((await api.get('http://details/z', { allowAbsoluteUrls: false })).data.name).toBe('a');
  });

  it('settles like axios: a 404 rejects with an AxiosError carrying the response', async () => {
    const a = await upstream('a', (_req, res) => {
      res.statusCode = 404;
      res.end('no such review');
    });
    const m = await mesh({ service: 'productpage', discovery: { static: { reviews: [a.address] } } });
    const error = await m
      .axios('reviews')
      .get('/missing')
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AxiosError);
    expect((error as AxiosError).response?.status).toBe(404);
    expect((error as AxiosError).response?.data).toBe('no such review');
  });

  it('decompresses a gzip answer as axios does', async () => {
    const a = await upstream('a', (_req, res) => {
      res.setHeader('content-encoding', 'gzip');
      res.setHeader('content-type', 'application/json');
      res.end(gzipSync(JSON.stringify({ zipped: true })));
    });
    const m = await mesh({ service: 'productpage', discovery: { static: { reviews: [a.address] } } });
    expect((await m.axios('reviews').get('/')).data).toEqual({ zipped: true });
  });

  it('fails with WEFT_ERR_UPSTREAM_RESET when the connection drops mid-body', async () => {
    const a = await upstream('cut', (_req, res) => {
      res.setHeader('content-length', '100');
      res.write('only part of it');
      setTimeout(() => res.socket?.destroy(), 20);
    });
    const m = await mesh({ service: 'productpage', discovery: { static: { reviews: [a.address] } } });
    const error = await m
      .axios('reviews')
      .get('/')
      .catch((e: unknown) => e);
    expect(isWeftError(error, 'WEFT_ERR_UPSTREAM_RESET')).toBe(true);
  });

  it('passes a host outside the mesh through as plain HTTP under ALLOW_ANY', async () => {
    const outside = await upstream('outside');
    const m = await mesh({ service: 'productpage' });
    const res = await m.axios().get(`http://${outside.address}/hello`);
    expect(res.data).toMatchObject({ name: 'outside', url: '/hello' });
    expect(m.stats().outbound).toEqual([]); // not the mesh's traffic
  });

  it('refuses a host outside the mesh under REGISTRY_ONLY with a typed error, sending nothing', async () => {
    const outside = await upstream('outside');
    const m = await mesh({ service: 'productpage', outboundTrafficPolicy: 'REGISTRY_ONLY' });
    const error = await m
      .axios()
      .get(`http://${outside.address}/hello`)
      .catch((e: unknown) => e);
    expect(isWeftError(error, 'WEFT_ERR_REGISTRY_ONLY')).toBe(true);
    expect(outside.seen).toHaveLength(0);
  });

  it('fails with WEFT_ERR_UPSTREAM_CONNECT naming the service and endpoint when every endpoint refuses', async () => {
    const [x, y] = [await refusingAddress(), await refusingAddress()];
    const m = await mesh({ service: 'productpage', discovery: { static: { reviews: [x, y] } } });
    for (const address of [x, y]) {
      const error = await m
        .axios('reviews')
        .get('/')
        .catch((e: unknown) => e);
      expect(isWeftError(error, 'WEFT_ERR_UPSTREAM_CONNECT')).toBe(true);
      expect(error).toMatchObject({ flag: 'UF', service: 'reviews.default.svc.cluster.local', endpoint: address });
    }
  });

  it("turns axios' timeout into WEFT_ERR_TIMEOUT", async () => {
    const a = await upstream('slow', (_req, res) => {
      setTimeout(() => res.end('late'), 2_000).unref();
    });
    const m = await mesh({ service: 'productpage', discovery: { static: { reviews: [a.address] } } });
    const started = Date.now();
    const error = await m
      .axios('reviews')
      .get('/', { timeout: 50 })
      .catch((e: unknown) => e);
    expect(isWeftError(error, 'WEFT_ERR_TIMEOUT')).toBe(true);
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('wraps an existing axios instance in place, keeping its own adapter for other hosts', async () => {
    const [inside, outside] = [await upstream('inside'), await upstream('outside')];
    const m = await mesh({ service: 'productpage', discovery: { static: { reviews: [inside.address] } } });
    const mine = axios.create({ headers: { 'x-team': 'books' } });
    expect(m.axios(mine)).toBe(mine);
    expect((await mine.get('http://reviews/x')).data.name).toBe('inside');
    expect((await mine.get(`http://${outside.address}/y`)).data.name).toBe('outside');
  });
});
