import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Readable } from 'node:stream';
import { compose, type Endpoint } from '@weft/core';
import { afterEach, describe, expect, it } from 'vitest';
import { ClientCallContext } from '../../client/context.js';
import { endpointAt } from '../../testing/fixtures.js';
import { balance, roundRobin } from '../balance/index.js';
import { Transport } from '../transport/index.js';
import { retry } from './index.js';

const endpoint = (port: number): Endpoint => endpointAt(port);

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/** A port that refuses connections: bound once, then closed. */
async function closedPort(): Promise<number> {
  const server = createServer();
  const port = await listen(server);
  await close(server);
  return port;
}

describe('retry over real sockets', () => {
  const servers: Server[] = [];
  const transports: Transport[] = [];

  afterEach(async () => {
    await Promise.all(transports.splice(0).map((t) => t.destroy()));
    await Promise.all(
      servers.splice(0).map((s) => {
        s.closeAllConnections();
        return close(s);
      }),
    );
  });

  it('answers from the live endpoint when the first one refuses the connection', async () => {
    let served = 0;
    const live = createServer((req, res) => {
      served++;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ served: 'live', path: req.url, host: req.headers.host }));
    });
    servers.push(live);
    const livePort = await listen(live);
    const deadPort = await closedPort();

    const transport = new Transport({
      maxConnectionsPerEndpoint: 4,
      idleTimeoutMs: 1_000,
      connectTimeoutMs: 1_000,
      noDeadlineHeadersTimeoutMs: 5_000,
      peer: 'productpage.default',
    });
    transports.push(transport);
    const handler = compose<ClientCallContext>([retry(), balance(roundRobin())], transport.handler);

    const ctx = new ClientCallContext(Date.now() + 5_000);
    ctx.service = 'reviews.default.svc.cluster.local';
    // Round robin starts with the first endpoint: the refusing one.
    ctx.snapshot = { service: ctx.service, endpoints: [endpoint(deadPort), endpoint(livePort)], version: 1 };

    const response = await handler(
      { method: 'GET', scheme: 'http', authority: 'reviews:9080', path: '/reviews/1', headers: {}, body: null },
      ctx,
    );
    let text = '';
    for await (const chunk of response.body as Readable) text += String(chunk);

    expect(response.status).toBe(200);
    expect(JSON.parse(text)).toEqual({ served: 'live', path: '/reviews/1', host: 'reviews:9080' });
    expect(ctx.triedEndpoints).toEqual([`127.0.0.1:${deadPort}`]);
    expect(ctx.endpoint?.address).toBe(`127.0.0.1:${livePort}`);
    expect(ctx.attempt).toBe(2);
    expect(served).toBe(1);
    expect(ctx.responseFlags).toBe('');
  });
});
