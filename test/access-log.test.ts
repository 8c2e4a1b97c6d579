// Access logs over real servers: JSON lines through pino with Istio's default fields, carrying the response flags of real failures.
import { Writable } from 'node:stream';
import express from 'express';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { mesh, upstream } from './support/lifecycle.js';

/** A pino logger whose lines the test reads back, parsed. */
function capture() {
  const text: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      text.push(chunk.toString());
      done();
    },
  });
  const logger = pino({ base: null, timestamp: false }, stream);
  return {
    logger,
    lines: () =>
      text
        .join('')
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

const vs = (http: unknown[]) => ({
  apiVersion: 'networking.istio.io/v1',
  kind: 'VirtualService',
  metadata: { name: 'reviews' },
  spec: { hosts: ['reviews'], http },
});

describe('access logs', () => {
  it('writes a parseable line per call with Istio’s fields, on both sides', async () => {
    const client = capture();
    const server = capture();
    const reviews = await mesh({ service: 'reviews', accessLog: { logger: server.logger }, logger: false });
    const app = express();
    app.use(reviews.express());
    app.get('/reviews/:id', (_req, res) => {
      res.json({ id: 1 });
    });
    const listening = await reviews.listen(app);
    const m = await mesh({
      service: 'productpage',
      discovery: { static: { reviews: [listening.address] } },
      accessLog: { logger: client.logger },
      logger: false,
    });
    const res = await m.fetch('http://reviews/reviews/1', {
      headers: { 'x-request-id': 'abc-123', 'user-agent': 'test' },
    });
    await res.text();
    await new Promise((r) => setTimeout(r, 20));
    const [out] = client.lines();
    expect(out).toMatchObject({
      reporter: 'source',
      method: 'GET',
      path: '/reviews/1',
      protocol: 'HTTP/1.1',
      response_code: 200,
      response_flags: '-',
      bytes_received: 0,
      bytes_sent: 8,
      request_id: 'abc-123',
      user_agent: 'test',
      authority: 'reviews',
      upstream_host: listening.address,
      upstream_cluster: `outbound|${listening.port}||reviews.default.svc.cluster.local`,
    });
    expect(typeof out?.duration).toBe('number');
    expect(Number.isNaN(Date.parse(String(out?.start_time)))).toBe(false);
    const [inbound] = server.lines();
    expect(inbound).toMatchObject({
      reporter: 'destination',
      response_code: 200,
      request_id: 'abc-123',
      path: '/reviews/1',
    });
  });

  it('logs the x-request-id made at the edge with tracing off, the same on both sides', async () => {
    const client = capture();
    const server = capture();
    const reviews = await mesh({
      service: 'reviews',
      tracing: false,
      accessLog: { logger: server.logger },
      logger: false,
    });
    const app = express();
    app.use(reviews.express());
    app.get('/', (req, res) => {
      res.json({ id: req.headers['x-request-id'] });
    });
    const listening = await reviews.listen(app);
    const m = await mesh({
      service: 'productpage',
      tracing: false,
      discovery: { static: { reviews: [listening.address] } },
      accessLog: { logger: client.logger },
      logger: false,
    });
    const seen = ((await (await m.fetch('http://reviews/')).json()) as { id: string }).id;
    await new Promise((r) => setTimeout(r, 20));
    expect(seen).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(client.lines()[0]?.request_id).toBe(seen);
    expect(server.lines()[0]?.request_id).toBe(seen);
  });

  it('carries the response flags of real failures: UH, UO, UT, NR, URX, DI, FI', async () => {
    const log = capture();
    const failing = await upstream('failing', (_req, res) => {
      res.statusCode = 503;
      res.end();
    });
    const slow = await upstream('slow', (_req, res) => {
      setTimeout(() => res.end('late'), 500).unref();
    });
    const m = await mesh({
      service: 'productpage',
      discovery: { static: { reviews: [failing.address], ratings: [slow.address], details: [] } },
      accessLog: { logger: log.logger },
      breaker: { everyDestination: false },
      logger: false,
      policy: [
        vs([
          {
            match: [{ uri: { prefix: '/retry' } }],
            route: [{ destination: { host: 'reviews' } }],
            retries: { attempts: 1, retryOn: '5xx' },
          },
          {
            match: [{ uri: { prefix: '/delay' } }],
            fault: { delay: { fixedDelay: '1ms', percentage: { value: 100 } } },
            route: [{ destination: { host: 'reviews' } }],
          },
          {
            match: [{ uri: { prefix: '/abort' } }],
            fault: { abort: { httpStatus: 500, percentage: { value: 100 } } },
            route: [{ destination: { host: 'reviews' } }],
          },
          { match: [{ uri: { prefix: '/known' } }], route: [{ destination: { host: 'reviews' } }] },
        ]),
        { service: 'ratings', breaker: { minimumCalls: 1 } },
      ],
    });
    const send = async (url: string, init?: Parameters<typeof m.fetch>[1]) => {
      try {
        const res = await m.fetch(url, init);
        await res.arrayBuffer();
      } catch {
        // The line is what is checked.
      }
    };
    await send('http://details/');
    await send('http://reviews/nowhere');
    await send('http://reviews/retry');
    await send('http://reviews/delay');
    await send('http://reviews/abort');
    await send('http://ratings/', { signal: AbortSignal.timeout(50), weft: { retries: { attempts: 0 } } });
    // The timeout opened ratings' breaker (one call is its minimum): the next call fails fast.
    await send('http://ratings/', { weft: { retries: { attempts: 0 } } });
    await new Promise((r) => setTimeout(r, 20));
    const flags = log.lines().map((l) => String(l.response_flags));
    for (const flag of ['UH', 'NR', 'URX', 'DI', 'FI', 'UT', 'UO']) {
      expect(
        flags.some((f) => f.split(',').includes(flag)),
        `${flag} in ${flags.join(' ')}`,
      ).toBe(true);
    }
  });

  it('samples: with sample 0.5 about half the calls are written', async () => {
    const log = capture();
    const up = await upstream('up');
    let n = 0;
    const m = await mesh({
      service: 'productpage',
      discovery: { static: { reviews: [up.address] } },
      accessLog: { logger: log.logger, sample: 0.5 },
      logger: false,
    });
    for (let i = 0; i < 200; i++) {
      const res = await m.fetch('http://reviews/');
      await res.text();
      n++;
    }
    await new Promise((r) => setTimeout(r, 20));
    expect(n).toBe(200);
    expect(log.lines().length).toBeGreaterThan(60);
    expect(log.lines().length).toBeLessThan(140);
  });
});
