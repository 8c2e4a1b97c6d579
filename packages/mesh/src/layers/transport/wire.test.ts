// What the transport puts on the wire: the request's head as a raw loopback server reads it.
import type { WeftHeaders } from '@weft/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMesh, type Mesh } from '../../index.js';
import { headerLines, rawServer } from '../../testing/raw-server.js';

describe('the transport on the wire', () => {
  let raw: Awaited<ReturnType<typeof rawServer>>;
  let mesh: Mesh;

  beforeAll(async () => {
    raw = await rawServer();
    mesh = await createMesh({
      service: 'client',
      discovery: { static: { reviews: [`127.0.0.1:${raw.port}`] } },
      logger: false,
      tracing: false,
      metrics: false,
    });
  });

  afterAll(async () => {
    await mesh.close();
    raw.server.close();
  });

  /** Sends GET `path` to reviews with `headers` through the mesh; the header lines the server read. */
  async function sent(
    headers: WeftHeaders,
    { path = '/', timeoutMs }: { path?: string; timeoutMs?: number } = {},
  ): Promise<string[]> {
    const request = { method: 'GET', scheme: 'http' as const, authority: 'reviews', path, headers, body: null };
    const response = await mesh.request(request, timeoutMs === undefined ? {} : { timeoutMs });
    expect(response.status).toBe(204);
    return headerLines(raw.heads.at(-1) as string);
  }

  it('sends the logical authority as Host, every header once per value, and leaves the caller headers untouched', async () => {
    const headers = { accept: 'application/json', 'x-tags': ['a', 'b'], 'x-unset': undefined };
    const out = await sent(headers, { path: '/ratings/1' });
    expect(out).toContain('host: reviews');
    expect(out).toContain('accept: application/json');
    expect(out.filter((line) => line.startsWith('x-tags:'))).toEqual(['x-tags: a', 'x-tags: b']);
    expect(out.some((line) => line.startsWith('x-unset'))).toBe(false);
    expect(headers).toEqual({ accept: 'application/json', 'x-tags': ['a', 'b'], 'x-unset': undefined });
  });

  it('sends a number as its digits and null as an empty value, as undici writes them', async () => {
    const out = await sent({ 'x-count': 7, 'x-empty': null } as unknown as WeftHeaders);
    expect(out).toContain('x-count: 7');
    expect(out).toContain('x-empty: ');
  });

  it('replaces a deadline header the request carried with the time left, sent once', async () => {
    // What an application relaying its inbound headers sends.
    const out = await sent(
      { 'x-envoy-expected-rq-timeout-ms': '60000', 'x-weft-peer': 'someone.else' },
      { timeoutMs: 2000 },
    );
    const deadlines = out.filter((line) => line.startsWith('x-envoy-expected-rq-timeout-ms:'));
    expect(deadlines).toHaveLength(1);
    expect(Number(deadlines[0]?.split(': ')[1])).toBeLessThanOrEqual(2000);
    expect(out.filter((line) => line.startsWith('x-weft-peer:'))).toEqual(['x-weft-peer: client.default']);
  });

  it('keeps a Host the caller set, and never forwards hop-by-hop headers', async () => {
    const out = await sent({
      host: 'reviews.example',
      'keep-alive': 'timeout=5',
      'proxy-connection': 'keep-alive',
      te: 'trailers',
      trailer: 'x-checksum',
      'x-kept': 'yes',
    });
    const names = out.map((line) => line.slice(0, line.indexOf(':')));
    expect(names).toContain('x-kept');
    expect(names.filter((name) => name === 'host')).toHaveLength(1);
    expect(out).toContain('host: reviews.example');
    for (const name of ['keep-alive', 'proxy-connection', 'te', 'trailer']) expect(names).not.toContain(name);
  });
});
