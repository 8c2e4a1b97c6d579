// Retries over real servers: Istio's default policy, a route's own policy, and the safety rules.
import { describe, expect, it } from 'vitest';
import { mesh, upstream } from './support/lifecycle.js';
import { refusingAddress } from './support/upstreams.js';

const vs = (http: unknown[]) => ({
  apiVersion: 'networking.istio.io/v1',
  kind: 'VirtualService',
  metadata: { name: 'reviews' },
  spec: { hosts: ['reviews'], http },
});

describe('retries', () => {
  it("retries a refused connection on another endpoint under Istio's default policy", async () => {
    const up = await upstream('up');
    const down = await refusingAddress();
    const m = await mesh({ service: 'productpage', discovery: { static: { reviews: [down, up.address] } } });
    for (let i = 0; i < 6; i++) {
      const res = await m.fetch('http://reviews/');
      expect(res.status).toBe(200);
      await res.arrayBuffer();
    }
    expect(up.seen).toHaveLength(6);
  });

  it('does not retry a 503 by default, and does under retryOn 5xx, going to the other endpoint', async () => {
    const failing = await upstream('failing', (_req, res) => {
      res.statusCode = 503;
      res.end('unavailable');
    });
    const healthy = await upstream('healthy');
    const endpoints = [failing.address, healthy.address];
    const plain = await mesh({ service: 'a', discovery: { static: { reviews: endpoints } } });
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await plain.fetch('http://reviews/')).status);
    expect(statuses.sort()).toEqual([200, 200, 503, 503]);

    const retrying = await mesh({
      service: 'b',
      discovery: { static: { reviews: endpoints } },
      policy: vs([{ route: [{ destination: { host: 'reviews' } }], retries: { attempts: 2, retryOn: '5xx' } }]),
    });
    for (let i = 0; i < 4; i++) expect((await retrying.fetch('http://reviews/')).status).toBe(200);
  });

  it('returns the last 503 when every attempt fails, after 1 + attempts tries', async () => {
    const failing = await upstream('failing', (_req, res) => {
      res.statusCode = 503;
      res.end('still down');
    });
    const m = await mesh({
      service: 'productpage',
      discovery: { static: { reviews: [failing.address] } },
      policy: vs([
        { route: [{ destination: { host: 'reviews' } }], retries: { attempts: 3, retryOn: 'gateway-error' } },
      ]),
    });
    const res = await m.fetch('http://reviews/');
    expect([res.status, await res.text()]).toEqual([503, 'still down']);
    expect(failing.seen).toHaveLength(4);
  });

  it('does not send a POST again after the connection was reset, but does a GET', async () => {
    const rude = await upstream('rude', (req) => {
      req.socket.destroy();
    });
    const m = await mesh({
      service: 'productpage',
      discovery: { static: { reviews: [rude.address] } },
      policy: vs([{ route: [{ destination: { host: 'reviews' } }], retries: { attempts: 2, retryOn: 'reset' } }]),
    });
    await expect(m.fetch('http://reviews/', { method: 'POST', body: 'once' })).rejects.toMatchObject({
      code: 'WEFT_ERR_UPSTREAM_RESET',
    });
    expect(rude.seen).toHaveLength(1);
    await expect(m.fetch('http://reviews/')).rejects.toMatchObject({ code: 'WEFT_ERR_UPSTREAM_RESET' });
    expect(rude.seen).toHaveLength(4);
  });

  it('stops retrying when the overall deadline passes', async () => {
    const slow = await upstream('slow', (_req, res) => {
      setTimeout(() => res.end('late'), 400).unref();
    });
    const m = await mesh({
      service: 'productpage',
      discovery: { static: { reviews: [slow.address] } },
      policy: vs([
        {
          route: [{ destination: { host: 'reviews' } }],
          timeout: '250ms',
          retries: { attempts: 5, perTryTimeout: '100ms', retryOn: 'reset' },
        },
      ]),
    });
    const started = Date.now();
    await expect(m.fetch('http://reviews/')).rejects.toMatchObject({ code: 'WEFT_ERR_TIMEOUT' });
    expect(Date.now() - started).toBeLessThan(600);
    expect(slow.seen.length).toBeGreaterThanOrEqual(2);
    expect(slow.seen.length).toBeLessThanOrEqual(3);
  });
});

describe('the retry budget', () => {
  /** A destination in full outage, called at a steady rate; how many attempts reach it. */
  async function outage(retryBudget?: false) {
    const down = await upstream('down', (_req, res) => {
      res.statusCode = 503;
      res.end();
    });
    const m = await mesh({
      service: 'productpage',
      discovery: { static: { reviews: [down.address] } },
      policy: vs([
        { route: [{ destination: { host: 'reviews' } }], retries: { attempts: 3, retryOn: '5xx', backoff: '1ms' } },
      ]),
      ...(retryBudget === undefined ? {} : { retryBudget }),
    });
    // 300 calls at about 300 per second, 10 at a time; bounded in count and time.
    const calls = 300;
    let sent = 0;
    const deadline = Date.now() + 10_000;
    const worker = async () => {
      while (sent < calls && Date.now() < deadline) {
        sent++;
        const res = await m.fetch('http://reviews/');
        expect(res.status).toBe(503);
        await res.arrayBuffer();
        await new Promise((resolve) => setTimeout(resolve, 30));
      }
    };
    await Promise.all(Array.from({ length: 10 }, worker));
    return { calls: sent, attempts: down.seen.length };
  }

  it('keeps the attempts on a destination in full outage within the budget (20% + 10/s over 10 s)', async () => {
    const { calls, attempts } = await outage();
    expect(calls).toBe(300);
    // Allowed retries in the window: 10/s × 10 s + 20% of the calls.
    expect(attempts - calls).toBeLessThanOrEqual(100 + 0.2 * calls);
    expect(attempts - calls).toBeGreaterThan(0);
  });

  it('shows the amplification it prevents when turned off: every call tried 1 + attempts times', async () => {
    const { calls, attempts } = await outage(false);
    expect(attempts).toBe(calls * 4);
  });
});

describe("Istio's retryBudget on a DestinationRule", () => {
  it('reads percent as the number Istio writes: 0 % with no minimum concurrency allows no retry', async () => {
    const down = await upstream('down', (_req, res) => {
      res.statusCode = 503;
      res.end();
    });
    const m = await mesh({
      service: 'productpage',
      discovery: { static: { reviews: [down.address] } },
      policy: [
        { service: 'reviews', retries: { attempts: 2, retryOn: '5xx', backoff: '1ms' } },
        {
          apiVersion: 'networking.istio.io/v1',
          kind: 'DestinationRule',
          metadata: { name: 'reviews-budget' },
          spec: { host: 'reviews', trafficPolicy: { retryBudget: { percent: 0, minRetryConcurrency: 0 } } },
        },
      ],
    });
    for (let i = 0; i < 10; i++) await (await m.fetch('http://reviews/')).arrayBuffer();
    expect(down.seen).toHaveLength(10);
  });
});

describe('retry settings carried by the concise form and annotations', () => {
  it("turns one service's budget off from the concise form, and checks weft's annotations like fields", async () => {
    const down = await upstream('down', (_req, res) => {
      res.statusCode = 503;
      res.end();
    });
    const m = await mesh({
      service: 'productpage',
      discovery: { static: { reviews: [down.address] } },
      policy: [{ service: 'reviews', retries: { attempts: 2, retryOn: '5xx', backoff: '1ms' }, retryBudget: false }],
    });
    const rule = m.policy.current().ofKind('DestinationRule')[0];
    expect(rule?.annotations).toEqual({ 'weft.io/retry-budget': 'false' });
    for (let i = 0; i < 150; i++) await (await m.fetch('http://reviews/')).arrayBuffer();
    // No budget: every call tried 1 + 2 times, beyond the default budget's 100 + 20% of 150 retries.
    expect(down.seen).toHaveLength(450);

    await expect(
      m.policy.update({
        apiVersion: 'networking.istio.io/v1',
        kind: 'VirtualService',
        metadata: {
          name: 'reviews',
          annotations: { 'weft.io/hedge-dely': '50ms', 'weft.io/retry-budget': '{"percent": 1}' },
        },
        spec: { hosts: ['reviews'], http: [{ route: [{ destination: { host: 'reviews' } }] }] },
      }),
    ).rejects.toMatchObject({
      problems: [
        expect.objectContaining({
          code: 'WEFT_ERR_POLICY_FIELD_UNKNOWN',
          path: "metadata.annotations['weft.io/hedge-dely']",
        }),
        expect.objectContaining({ code: 'WEFT_ERR_POLICY_VALUE' }),
      ],
    });
  });
});

describe('retriable-headers', () => {
  it('retries a response carrying a header the caller named in x-envoy-retriable-header-names', async () => {
    let calls = 0;
    const flaky = await upstream('flaky', (_req, res) => {
      calls++;
      if (calls === 1) res.setHeader('x-try-again', '1');
      res.end(`call ${calls}`);
    });
    const m = await mesh({
      service: 'productpage',
      discovery: { static: { reviews: [flaky.address] } },
      policy: vs([
        { route: [{ destination: { host: 'reviews' } }], retries: { attempts: 2, retryOn: 'retriable-headers' } },
      ]),
    });
    const res = await m.fetch('http://reviews/', { headers: { 'x-envoy-retriable-header-names': 'x-try-again' } });
    expect(await res.text()).toBe('call 2');
    const plain = await m.fetch('http://reviews/');
    expect(await plain.text()).toBe('call 3');
  });
});
