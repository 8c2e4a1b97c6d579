// End to end: weft's fetch against real node:http servers on loopback.
import { isWeftError } from '@weft/mesh';
import { describe, expect, it } from 'vitest';
import { mesh, upstream } from './support/lifecycle.js';
import { refusingAddress } from './support/upstreams.js';

describe('mesh.fetch', () => {
  it('spreads calls to a logical service across its endpoints in turn', async () => {
    const [a, b] = await Promise.all([upstream('a'), upstream('b')]);
    const m = await mesh({ service: 'productpage', discovery: { static: { reviews: [a.address, b.address] } } });
    const served: string[] = [];
    for (let i = 0; i < 4; i++) {
      const res = await m.fetch('http://reviews/reviews/0');
      expect(res.ok).toBe(true);
      expect(res.url).toBe('http://reviews/reviews/0');
      served.push(((await res.json()) as { name: string }).name);
    }
    expect(served).toEqual(['a', 'b', 'a', 'b']);
  });

  it('sends method, headers and body, from init or from a Request', async () => {
    const a = await upstream('a');
    const m = await mesh({ service: 'productpage', discovery: { static: { reviews: [a.address] } } });
    const res = await m.fetch('http://reviews.default.svc.cluster.local/r?x=1', {
      method: 'put',
      headers: { 'content-type': 'text/plain' },
      body: 'hello',
    });
    expect(await res.json()).toMatchObject({ method: 'PUT', url: '/r?x=1', body: 'hello' });
    const form = await m.fetch(
      new Request('http://reviews/form', { method: 'POST', body: new URLSearchParams({ a: '1' }) }),
    );
    expect(await form.json()).toMatchObject({ method: 'POST', body: 'a=1' });
    expect(a.seen.at(-1)?.host).toBe('reviews');
  });

  it('streams a response body as it arrives', async () => {
    const a = await upstream('a', (_req, res) => {
      res.write('first,');
      setTimeout(() => res.end('second'), 20);
    });
    const m = await mesh({ service: 'productpage', discovery: { static: { reviews: [a.address] } } });
    const res = await m.fetch('http://reviews/');
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const first = await reader.read();
    expect(new TextDecoder().decode(first.value)).toBe('first,');
    let rest = '';
    for (let r = await reader.read(); !r.done; r = await reader.read()) rest += new TextDecoder().decode(r.value);
    expect(rest).toBe('second');
  });

  it('fails the body read with WEFT_ERR_UPSTREAM_RESET when the connection drops mid-body', async () => {
    const a = await upstream('cut', (_req, res) => {
      res.setHeader('content-length', '100');
      res.write('only part of it');
      setTimeout(() => res.socket?.destroy(), 20);
    });
    const m = await mesh({ service: 'productpage', discovery: { static: { reviews: [a.address] } } });
    const res = await m.fetch('http://reviews/');
    expect(res.status).toBe(200);
    const error = await res.text().catch((e: unknown) => e);
    expect(isWeftError(error, 'WEFT_ERR_UPSTREAM_RESET')).toBe(true);
  });

  it('passes other hosts to the platform fetch under ALLOW_ANY', async () => {
    const outside = await upstream('outside');
    const m = await mesh({ service: 'productpage' });
    const res = await m.fetch(`http://${outside.address}/pass`);
    expect(await res.json()).toMatchObject({ name: 'outside', url: '/pass' });
  });

  it('refuses other hosts under REGISTRY_ONLY with WEFT_ERR_REGISTRY_ONLY', async () => {
    const outside = await upstream('outside');
    const m = await mesh({ service: 'productpage', outboundTrafficPolicy: 'REGISTRY_ONLY' });
    const error = await m.fetch(`http://${outside.address}/pass`).catch((e: unknown) => e);
    expect(isWeftError(error, 'WEFT_ERR_REGISTRY_ONLY')).toBe(true);
    expect(outside.seen).toHaveLength(0);
  });

  it('fails with WEFT_ERR_UPSTREAM_CONNECT when the endpoint refuses connections', async () => {
    const m = await mesh({ service: 'productpage', discovery: { static: { reviews: [await refusingAddress()] } } });
    const error = await m.fetch('http://reviews/').catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'WEFT_ERR_UPSTREAM_CONNECT', status: 503, flag: 'UF' });
    const [stats] = m.stats().outbound;
    expect(stats).toMatchObject({ requests: 1, statuses: {}, errors: { WEFT_ERR_UPSTREAM_CONNECT: 1 } });
    expect(stats?.endpoints[0]).toMatchObject({ requests: 1, failed: 1 });
  });

  it('fails with WEFT_ERR_NO_HEALTHY_UPSTREAM when the service has no endpoint', async () => {
    const m = await mesh({ service: 'productpage', discovery: { static: { reviews: [] } } });
    const error = await m.fetch('http://reviews/').catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'WEFT_ERR_NO_HEALTHY_UPSTREAM', flag: 'UH' });
  });

  it("stops a call when the caller's signal aborts, with WEFT_ERR_ABORTED", async () => {
    const a = await upstream('slow', (_req, res) => {
      setTimeout(() => res.end('late'), 2_000).unref();
    });
    const m = await mesh({ service: 'productpage', discovery: { static: { reviews: [a.address] } } });
    const caller = new AbortController();
    setTimeout(() => caller.abort(), 50);
    const error = await m.fetch('http://reviews/', { signal: caller.signal }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'WEFT_ERR_ABORTED', status: 499, flag: 'DC' });
  });

  it('takes a signal from AbortSignal.timeout() as a timeout, WEFT_ERR_TIMEOUT', async () => {
    const a = await upstream('slow', (_req, res) => {
      setTimeout(() => res.end('late'), 2_000).unref();
    });
    const m = await mesh({ service: 'productpage', discovery: { static: { reviews: [a.address] } } });
    const error = await m.fetch('http://reviews/', { signal: AbortSignal.timeout(50) }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'WEFT_ERR_TIMEOUT', flag: 'UT' });
  });

  it("applies the mesh's default timeout as WEFT_ERR_TIMEOUT", async () => {
    const a = await upstream('slow', (_req, res) => {
      setTimeout(() => res.end('late'), 2_000).unref();
    });
    const m = await mesh({ service: 'productpage', timeoutMs: 50, discovery: { static: { reviews: [a.address] } } });
    const error = await m.fetch('http://reviews/').catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'WEFT_ERR_TIMEOUT', flag: 'UT', status: 504 });
  });

  it('reports a connection cut before the answer as WEFT_ERR_UPSTREAM_RESET', async () => {
    const a = await upstream('rude', (req) => {
      req.socket.destroy();
    });
    const m = await mesh({ service: 'productpage', discovery: { static: { reviews: [a.address] } } });
    const error = await m.fetch('http://reviews/').catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'WEFT_ERR_UPSTREAM_RESET', flag: 'UC' });
  });
});
