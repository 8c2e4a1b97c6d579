// What the transport puts on the wire: the request's head as a raw loopback server reads it.
import { once } from 'node:events';
import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMesh, type Mesh } from '../../index.js';

/** Answers every request with 204 and keeps each request's head, as bytes read off the socket. */
async function rawServer(): Promise<{ server: Server; port: number; heads: string[] }> {
  const heads: string[] = [];
  const server = createServer((socket) => {
    let buffered = '';
    socket.on('data', (chunk) => {
      buffered += chunk.toString('latin1');
      let end = buffered.indexOf('\r\n\r\n');
      while (end !== -1) {
        heads.push(buffered.slice(0, end));
        buffered = buffered.slice(end + 4);
        socket.write('HTTP/1.1 204 No Content\r\n\r\n');
        end = buffered.indexOf('\r\n\r\n');
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as { port: number }).port, heads };
}

/** The header lines of a request head, as `name: value`, in order. */
const lines = (head: string): string[] => head.split('\r\n').slice(1);

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

  it('sends the logical authority as Host, every header once per value, and leaves the caller headers untouched', async () => {
    const headers = { accept: 'application/json', 'x-tags': ['a', 'b'], 'x-unset': undefined };
    const response = await mesh.request({
      method: 'GET',
      scheme: 'http',
      authority: 'reviews',
      path: '/ratings/1',
      headers,
      body: null,
    });
    expect(response.status).toBe(204);
    const sent = lines(raw.heads.at(-1) as string);
    expect(sent).toContain('host: reviews');
    expect(sent).toContain('accept: application/json');
    expect(sent.filter((line) => line.startsWith('x-tags:'))).toEqual(['x-tags: a', 'x-tags: b']);
    expect(sent.some((line) => line.startsWith('x-unset'))).toBe(false);
    expect(headers).toEqual({ accept: 'application/json', 'x-tags': ['a', 'b'], 'x-unset': undefined });
  });

  it('sends a number as its digits and null as an empty value, as undici writes them', async () => {
    const headers = { 'x-count': 7, 'x-empty': null } as unknown as Record<string, string>;
    const response = await mesh.request({
      method: 'GET',
      scheme: 'http',
      authority: 'reviews',
      path: '/',
      headers,
      body: null,
    });
    expect(response.status).toBe(204);
    const sent = lines(raw.heads.at(-1) as string);
    expect(sent).toContain('x-count: 7');
    expect(sent).toContain('x-empty: ');
  });

  it('replaces a deadline header the request carried with the time left, sent once', async () => {
    const response = await mesh.request(
      {
        method: 'GET',
        scheme: 'http',
        authority: 'reviews',
        path: '/',
        // What an application relaying its inbound headers sends.
        headers: { 'x-envoy-expected-rq-timeout-ms': '60000', 'x-weft-peer': 'someone.else' },
        body: null,
      },
      { timeoutMs: 2000 },
    );
    expect(response.status).toBe(204);
    const sent = lines(raw.heads.at(-1) as string);
    const deadlines = sent.filter((line) => line.startsWith('x-envoy-expected-rq-timeout-ms:'));
    expect(deadlines).toHaveLength(1);
    expect(Number(deadlines[0]?.split(': ')[1])).toBeLessThanOrEqual(2000);
    expect(sent.filter((line) => line.startsWith('x-weft-peer:'))).toEqual(['x-weft-peer: client.default']);
  });

  it('keeps a Host the caller set, and never forwards hop-by-hop headers', async () => {
    const response = await mesh.request({
      method: 'GET',
      scheme: 'http',
      authority: 'reviews',
      path: '/',
      headers: {
        host: 'reviews.example',
        'keep-alive': 'timeout=5',
        'proxy-connection': 'keep-alive',
        te: 'trailers',
        trailer: 'x-checksum',
        'x-kept': 'yes',
      },
      body: null,
    });
    expect(response.status).toBe(204);
    const sent = lines(raw.heads.at(-1) as string).map((line) => line.slice(0, line.indexOf(':')));
    expect(sent).toContain('x-kept');
    expect(sent.filter((name) => name === 'host')).toHaveLength(1);
    expect(raw.heads.at(-1)).toContain('host: reviews.example');
    for (const name of ['keep-alive', 'proxy-connection', 'te', 'trailer']) expect(sent).not.toContain(name);
  });
});
