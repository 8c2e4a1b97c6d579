// Outlier detection and connectionPool limits by DestinationRule, over real servers.

import { connect, type Socket } from 'node:net';
import { Worker } from 'node:worker_threads';
import type { Mesh } from '@weft/mesh';
import { afterEach, describe, expect, it } from 'vitest';
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

describe('ejection and least request over time', () => {
  it('brings an ejected endpoint back after its ejection time', async () => {
    let failing = true;
    const flaky = await upstream('flaky', (_req, res) => {
      res.statusCode = failing ? 503 : 200;
      res.end();
    });
    const steady = await upstream('steady');
    const m = await mesh({
      service: 'productpage',
      discovery: { static: { reviews: [flaky.address, steady.address] } },
      policy: rule({
        outlierDetection: {
          consecutive5xxErrors: 2,
          interval: '50ms',
          baseEjectionTime: '200ms',
          maxEjectionPercent: 50,
        },
      }),
    });
    const call = async () => (await m.fetch('http://reviews/', { weft: { retries: { attempts: 0 } } })).arrayBuffer();
    for (let i = 0; i < 6; i++) await call();
    expect(m.endpoints()[0]?.endpoints.find((e) => e.address === flaky.address)?.ejected).toBe(true);
    const seenWhileEjected = flaky.seen.length;
    for (let i = 0; i < 6; i++) await call();
    expect(flaky.seen.length).toBe(seenWhileEjected);
    failing = false;
    await new Promise((resolve) => setTimeout(resolve, 300));
    for (let i = 0; i < 6; i++) await call();
    expect(flaky.seen.length).toBeGreaterThan(seenWhileEjected);
    expect(m.endpoints()[0]?.endpoints.find((e) => e.address === flaky.address)?.ejected).toBe(false);
  });

  it('sends measurably less to a slow endpoint under LEAST_REQUEST than round robin does', async () => {
    const slow = await upstream('slow', (_req, res) => {
      setTimeout(() => res.end('slow'), 40).unref();
    });
    const fast = await upstream('fast');
    const shareOfSlow = async (loadBalancer: unknown) => {
      const before = slow.seen.length;
      const m = await mesh({
        service: `caller-${Math.random().toString(36).slice(2, 8)}`,
        discovery: { static: { reviews: [slow.address, fast.address] } },
        policy: rule(loadBalancer === undefined ? {} : { loadBalancer }),
      });
      let sent = 0;
      const worker = async () => {
        while (sent < 200) {
          sent++;
          await (await m.fetch('http://reviews/')).arrayBuffer();
        }
      };
      await Promise.all(Array.from({ length: 8 }, worker));
      await m.close();
      return (slow.seen.length - before) / 200;
    };
    const roundRobin = await shareOfSlow(undefined);
    const leastRequest = await shareOfSlow({ simple: 'LEAST_REQUEST' });
    // Round robin gives the slow endpoint its half; power of two choices (drawn with replacement, as
    // Envoy does) sends it only the calls where both draws fall on it, about a quarter.
    expect(roundRobin).toBeGreaterThan(0.4);
    expect(leastRequest).toBeLessThan(roundRobin * 0.75);
  });
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** One call with retries off, its status (or error code), its body read. */
const statusOf = async (m: Mesh, url = 'http://reviews/'): Promise<number | string> => {
  try {
    const res = await m.fetch(url, { weft: { retries: { attempts: 0 } } });
    await res.arrayBuffer();
    return res.status;
  } catch (error) {
    return (error as { code?: string }).code ?? String(error);
  }
};
const ejected = (m: Mesh, address: string): boolean | undefined =>
  m.endpoints()[0]?.endpoints.find((e) => e.address === address)?.ejected;
const failing = (name: string, shouldFail: (n: number) => boolean) => {
  let n = 0;
  return upstream(name, (_req, res) => {
    res.statusCode = shouldFail(n++) ? 503 : 200;
    res.end();
  });
};

describe('panic mode (minHealthPercent)', () => {
  const panicRule = (minHealthPercent: number) =>
    rule({
      outlierDetection: { consecutive5xxErrors: 1, maxEjectionPercent: 100, minHealthPercent, baseEjectionTime: '30s' },
    });

  it('balances across every endpoint, ejected ones too, once the healthy share falls below minHealthPercent', async () => {
    const bad1 = await failing('bad1', () => true);
    const bad2 = await failing('bad2', () => true);
    const good = await upstream('good');
    const m = await mesh({
      service: 'productpage',
      discovery: { static: { reviews: [bad1.address, bad2.address, good.address] } },
      policy: panicRule(50),
    });
    for (let i = 0; i < 6 && !(ejected(m, bad1.address) && ejected(m, bad2.address)); i++) await statusOf(m);
    expect([ejected(m, bad1.address), ejected(m, bad2.address)]).toEqual([true, true]);
    const before = [bad1.seen.length, bad2.seen.length, good.seen.length];
    const statuses: (number | string)[] = [];
    for (let i = 0; i < 30; i++) statuses.push(await statusOf(m));
    // 1 healthy of 3 is 33 % < 50 %: Envoy's panic threshold, every endpoint takes its share again.
    const shares = [bad1, bad2, good].map((u, i) => u.seen.length - (before[i] as number));
    expect(shares.every((n) => n >= 5)).toBe(true);
    expect(statuses.filter((s) => s === 503)).toHaveLength((shares[0] as number) + (shares[1] as number));
    // The endpoints are still ejected: panic routing does not return them.
    expect([ejected(m, bad1.address), ejected(m, bad2.address)]).toEqual([true, true]);
  });

  it('keeps ejected endpoints out when minHealthPercent is 0 (the default), even with one endpoint left', async () => {
    const bad1 = await failing('bad1', () => true);
    const bad2 = await failing('bad2', () => true);
    const good = await upstream('good');
    const m = await mesh({
      service: 'productpage',
      discovery: { static: { reviews: [bad1.address, bad2.address, good.address] } },
      policy: panicRule(0),
    });
    for (let i = 0; i < 6 && !(ejected(m, bad1.address) && ejected(m, bad2.address)); i++) await statusOf(m);
    expect([ejected(m, bad1.address), ejected(m, bad2.address)]).toEqual([true, true]);
    const before = bad1.seen.length + bad2.seen.length;
    const statuses: (number | string)[] = [];
    for (let i = 0; i < 30; i++) statuses.push(await statusOf(m));
    expect(bad1.seen.length + bad2.seen.length).toBe(before);
    expect(statuses.every((s) => s === 200)).toBe(true);
  });
});

describe('gRPC A50 ejection (weft.io/outlier-detection)', () => {
  /** Calls until `done()` or the time runs out; returns whether it came to `done()`. */
  const callUntil = async (m: Mesh, done: () => boolean, limitMs = 4_000): Promise<boolean> => {
    const end = Date.now() + limitMs;
    while (Date.now() < end) {
      if (done()) return true;
      await Promise.all([statusOf(m), statusOf(m), statusOf(m), statusOf(m)]);
    }
    return done();
  };

  it('ejects by success rate an endpoint failing half its calls while four others succeed (concise form)', async () => {
    const flaky = await failing('flaky', (n) => n % 2 === 0);
    const steady = await Promise.all([1, 2, 3, 4].map((i) => upstream(`steady${i}`)));
    const m = await mesh({
      service: 'productpage',
      discovery: { static: { reviews: [flaky.address, ...steady.map((s) => s.address)] } },
      policy: {
        service: 'reviews',
        // A50's defaults (stdevFactor 1900, minimumHosts 5) with a smaller volume; consecutive 5xx off.
        outlierDetection: { interval: '200ms', consecutive5xxErrors: 0, successRateEjection: { requestVolume: 20 } },
      },
    });
    expect(await callUntil(m, () => ejected(m, flaky.address) === true)).toBe(true);
    const state = m.endpoints()[0]?.endpoints.find((e) => e.address === flaky.address)?.outlier;
    expect(state).toMatchObject({ ejected: true, ejections: 1 });
    const seen = flaky.seen.length;
    const statuses: (number | string)[] = [];
    for (let i = 0; i < 20; i++) statuses.push(await statusOf(m));
    expect(flaky.seen.length).toBe(seen);
    expect(statuses.every((s) => s === 200)).toBe(true);
    expect(steady.map((s) => ejected(m, s.address))).toEqual([false, false, false, false]);
  });

  it('ejects by failure percentage an endpoint failing more than the threshold, and only it', async () => {
    const flaky = await failing('flaky', (n) => n % 5 < 3);
    const steady = await Promise.all([1, 2].map((i) => upstream(`steady${i}`)));
    const annotation = JSON.stringify({
      failurePercentageEjection: { threshold: 50, minimumHosts: 3, requestVolume: 10 },
    });
    const m = await mesh({
      service: 'productpage',
      discovery: { static: { reviews: [flaky.address, ...steady.map((s) => s.address)] } },
      policy: {
        apiVersion: 'networking.istio.io/v1',
        kind: 'DestinationRule',
        metadata: { name: 'reviews', annotations: { 'weft.io/outlier-detection': annotation } },
        // No Istio outlierDetection: only A50's check runs, on Envoy's default 10 s sweep made shorter here.
        spec: { host: 'reviews', trafficPolicy: { outlierDetection: { interval: '200ms', consecutive5xxErrors: 0 } } },
      },
    });
    expect(await callUntil(m, () => ejected(m, flaky.address) === true)).toBe(true);
    const seen = flaky.seen.length;
    for (let i = 0; i < 10; i++) await statusOf(m);
    expect(flaky.seen.length).toBe(seen);
    expect(steady.map((s) => ejected(m, s.address))).toEqual([false, false]);
  });

  it('leaves an endpoint failing below the threshold in service', async () => {
    const flaky = await failing('flaky', (n) => n % 5 < 2);
    const steady = await Promise.all([1, 2].map((i) => upstream(`steady${i}`)));
    const m = await mesh({
      service: 'productpage',
      discovery: { static: { reviews: [flaky.address, ...steady.map((s) => s.address)] } },
      policy: {
        service: 'reviews',
        outlierDetection: {
          interval: '100ms',
          consecutive5xxErrors: 0,
          failurePercentageEjection: { threshold: 50, minimumHosts: 3, requestVolume: 10 },
        },
      },
    });
    // About five sweeps' worth of calls at 40 % failures: never above the 50 % threshold.
    expect(await callUntil(m, () => ejected(m, flaky.address) === true, 600)).toBe(false);
    expect(flaky.seen.length).toBeGreaterThan(30);
  });
});

describe('connectionPool per destination', () => {
  it('keeps a saturated service from delaying calls to another on the same endpoint (bulkhead)', async () => {
    // One server answers two services: `slow` after 400 ms, `fast` at once.
    const shared = await upstream('shared', (req, res) => {
      if (req.headers.host?.startsWith('slow')) setTimeout(() => res.end('slow'), 400).unref();
      else res.end('fast');
    });
    const m = await mesh({
      service: 'productpage',
      discovery: { static: { slow: [shared.address], fast: [shared.address] } },
      connectionPool: { maxConnectionsPerEndpoint: 2 },
    });
    const slowCalls = Array.from({ length: 6 }, () => m.fetch('http://slow/').then((r) => r.text()));
    await sleep(50);
    const started = performance.now();
    const res = await m.fetch('http://fast/');
    expect(await res.text()).toBe('fast');
    // A pool shared by both would have the fast call wait behind the slow ones: 400 ms at least.
    expect(performance.now() - started).toBeLessThan(200);
    expect(await Promise.all(slowCalls)).toEqual(Array(6).fill('slow'));
  });

  it('sends no more than maxRequestsPerConnection requests on one connection', async () => {
    /** The number of requests each connection carried, for 12 calls in a row. */
    const requestsPerConnection = async (maxRequestsPerConnection: number | undefined) => {
      const perSocket = new Map<object, number>();
      const u = await upstream(`per-connection-${maxRequestsPerConnection}`, (req, res) => {
        perSocket.set(req.socket, (perSocket.get(req.socket) ?? 0) + 1);
        res.end();
      });
      const m = await mesh({
        service: 'productpage',
        discovery: { static: { reviews: [u.address] } },
        policy: rule(
          maxRequestsPerConnection === undefined ? {} : { connectionPool: { http: { maxRequestsPerConnection } } },
        ),
      });
      for (let i = 0; i < 12; i++) expect(await statusOf(m)).toBe(200);
      await m.close();
      return [...perSocket.values()];
    };
    expect(Math.max(...(await requestsPerConnection(undefined)))).toBeGreaterThan(3);
    const two = await requestsPerConnection(2);
    expect(Math.max(...two)).toBe(2);
    expect(two.length).toBeGreaterThanOrEqual(6);
    expect(await requestsPerConnection(1)).toEqual(Array(12).fill(1));
  });

  it('takes no new request on a connection older than tcp.maxConnectionDuration', async () => {
    /** For 12 calls 50 ms apart, how long each connection was used: its last request's time less its first's. */
    const spans = async (maxConnectionDuration: string | undefined) => {
      const times = new Map<object, number[]>();
      const u = await upstream(`duration-${maxConnectionDuration}`, (req, res) => {
        times.set(req.socket, [...(times.get(req.socket) ?? []), performance.now()]);
        res.end();
      });
      const m = await mesh({
        service: 'productpage',
        discovery: { static: { reviews: [u.address] } },
        policy: rule(maxConnectionDuration === undefined ? {} : { connectionPool: { tcp: { maxConnectionDuration } } }),
      });
      for (let i = 0; i < 12; i++) {
        expect(await statusOf(m)).toBe(200);
        await sleep(50);
      }
      await m.close();
      return [...times.values()].map((t) => (t.at(-1) as number) - (t[0] as number));
    };
    expect(Math.max(...(await spans(undefined)))).toBeGreaterThan(400);
    const limited = await spans('150ms');
    expect(Math.max(...limited)).toBeLessThan(250);
    expect(limited.length).toBeGreaterThanOrEqual(3);
  });

  it('closes an upstream connection idle for http.idleTimeout', async () => {
    const openAfterIdle = async (idleTimeout: string | undefined) => {
      const u = await upstream(`idle-${idleTimeout}`);
      let open = 0;
      u.server.on('connection', (socket) => {
        open++;
        socket.on('close', () => open--);
      });
      const m = await mesh({
        service: 'productpage',
        discovery: { static: { reviews: [u.address] } },
        policy: rule(idleTimeout === undefined ? {} : { connectionPool: { http: { idleTimeout } } }),
      });
      expect(await statusOf(m)).toBe(200);
      expect(open).toBe(1);
      await sleep(400);
      return open;
    };
    // The server would keep it 5 s (Node's keepAliveTimeout), the mesh by default 4 s: closed by the client.
    expect(await openAfterIdle('100ms')).toBe(0);
    expect(await openAfterIdle(undefined)).toBe(1);
  });

  it('fails a connect that takes longer than tcp.connectTimeout with a typed connect failure that ejects the endpoint', async () => {
    const blocked = await unresponsiveListener();
    const good = await upstream('good');
    const m = await mesh({
      service: 'productpage',
      discovery: { static: { reviews: [blocked.address, good.address] } },
      policy: rule({
        connectionPool: { tcp: { connectTimeout: '150ms' } },
        outlierDetection: {
          splitExternalLocalOriginErrors: true,
          consecutiveLocalOriginFailures: 1,
          maxEjectionPercent: 50,
        },
      }),
    });
    let failure: { code?: string; flag?: string; endpoint?: string } | undefined;
    let tookMs = 0;
    for (let i = 0; i < 2 && failure === undefined; i++) {
      const started = performance.now();
      try {
        await (await m.fetch('http://reviews/', { weft: { retries: { attempts: 0 } } })).arrayBuffer();
      } catch (error) {
        failure = error as typeof failure;
        tookMs = performance.now() - started;
      }
    }
    expect(failure).toMatchObject({ code: 'WEFT_ERR_UPSTREAM_CONNECT', flag: 'UF', endpoint: blocked.address });
    // Far under the 10 s default; undici checks connect timeouts on a coarse tick (up to ~1 s late).
    expect(tookMs).toBeGreaterThanOrEqual(140);
    expect(tookMs).toBeLessThan(2_500);
    expect(ejected(m, blocked.address)).toBe(true);
    for (let i = 0; i < 4; i++) expect(await statusOf(m)).toBe(200);
  });

  it('makes no retry beyond http.maxRetries outstanding to the destination: the call gets its last answer', async () => {
    const attemptsFor = async (maxRetries: number | undefined) => {
      const u = await upstream(`max-retries-${maxRetries}`, (_req, res) => {
        setTimeout(() => {
          res.statusCode = 503;
          res.end();
        }, 100).unref();
      });
      const m = await mesh({
        service: 'productpage',
        discovery: { static: { reviews: [u.address] } },
        policy: rule(maxRetries === undefined ? {} : { connectionPool: { http: { maxRetries } } }),
      });
      const call = () =>
        m.fetch('http://reviews/', { weft: { retries: { attempts: 3, retryOn: '5xx' } } }).then(async (r) => {
          await r.arrayBuffer();
          return r.status;
        });
      const first = call();
      await sleep(20);
      // The first call's retry is in flight when the second's first answer comes: no place for a second retry.
      const statuses = await Promise.all([first, call()]);
      expect(statuses).toEqual([503, 503]);
      return u.seen.length;
    };
    expect(await attemptsFor(undefined)).toBe(8);
    expect(await attemptsFor(1)).toBe(5);
  });
});

/**
 * A loopback address whose connects hang: a listener (backlog 1) on a worker thread whose event
 * loop is blocked, so it never accepts; two connections fill its queue, later SYNs go unanswered.
 */
async function unresponsiveListener(): Promise<{ address: string; close(): Promise<void> }> {
  const worker = new Worker(
    `const net = require('node:net');
     const { parentPort } = require('node:worker_threads');
     const server = net.createServer();
     server.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {
       parentPort.postMessage(server.address().port);
       Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
     });`,
    { eval: true },
  );
  const port = await new Promise<number>((resolve) => worker.once('message', resolve));
  const fillers = await Promise.all(
    [1, 2].map(
      () =>
        new Promise<Socket>((resolve, reject) => {
          const s = connect(port, '127.0.0.1', () => resolve(s));
          s.once('error', reject);
        }),
    ),
  );
  const listener = {
    address: `127.0.0.1:${port}`,
    async close() {
      for (const s of fillers) s.destroy();
      await worker.terminate();
    },
  };
  openListeners.push(listener);
  return listener;
}

const openListeners: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(openListeners.splice(0).map((l) => l.close()));
});
