// The client variants a load generator can drive: each is one call to GET /json, body read, non-2xx an error.
import { randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { createMesh } from '@weft/mesh';
import axios from 'axios';
import { Pool } from 'undici';
import { benchCredentials } from './tls.mjs';
import { benchRequestId, startBenchTracing } from './tracing.mjs';

const PATH = '/json';

/**
 * The client mesh of a run. It gets the same connection cap as the bare undici Pool it is compared
 * with (`connections: concurrency`): undici opens a second connection while the first finishes a
 * response, so with weft's default cap (128) a closed loop of 32 keeps 64 sockets, the bare Pool 32.
 */
async function weftMesh(
  port,
  concurrency,
  policy,
  security = false,
  tracing = undefined,
  metrics = true,
  requestId = benchRequestId(tracing),
) {
  return createMesh({
    service: 'loadgen',
    discovery: { static: { bench: [{ address: `127.0.0.1:${port}`, labels: { version: 'v1' } }] } },
    connectionPool: { maxConnectionsPerEndpoint: concurrency },
    logger: false,
    security,
    ...(policy === undefined ? {} : { policy }),
    ...(tracing === undefined ? {} : { tracing }),
    requestId,
    ...(metrics ? {} : { metrics }),
  });
}

/** A VirtualService for `bench` with `routes` routes; only the last matches the benchmark's calls; a retry policy on each. */
function routedPolicy(routes) {
  const http = [];
  for (let i = 0; i < routes - 1; i++) {
    http.push({
      match: [{ uri: { prefix: `/other-${i}/` } }],
      route: [{ destination: { host: 'bench', subset: 'v1' } }],
    });
  }
  http.push({
    match: [{ uri: { prefix: '/json' }, headers: { 'x-bench': { exact: 'yes' } } }],
    route: [{ destination: { host: 'bench', subset: 'v1' } }],
    retries: { attempts: 2, retryOn: 'connect-failure,refused-stream,5xx' },
  });
  for (const r of http) if (r.retries === undefined) r.retries = { attempts: 2, retryOn: '5xx' };
  return [
    {
      apiVersion: 'networking.istio.io/v1',
      kind: 'DestinationRule',
      metadata: { name: 'bench' },
      spec: { host: 'bench', subsets: [{ name: 'v1', labels: { version: 'v1' } }] },
    },
    {
      apiVersion: 'networking.istio.io/v1',
      kind: 'VirtualService',
      metadata: { name: 'bench' },
      spec: { hosts: ['bench'], http },
    },
  ];
}

/** Every per-destination guard on, none of them ever tripping on a healthy destination. */
const GUARDED_POLICY = {
  service: 'bench',
  outlierDetection: { consecutive5xxErrors: 5, interval: '10s', baseEjectionTime: '30s' },
  circuitBreaker: { maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 1024 },
  breaker: { failurePercent: 50, minimumCalls: 20 },
};

/**
 * A client that sends GET /json through `mesh.request()`: weft's own request model down the client
 * pipeline, no client library around it. With `freshHeaders`, each call gets an empty headers object
 * (tracing writes its headers into it); otherwise every call sends `headers` as they are.
 */
function meshRequestClient(mesh, headers, freshHeaders) {
  const request = { method: 'GET', scheme: 'http', authority: 'bench', path: PATH, headers, body: null };
  return {
    async send() {
      const { status, body } = await mesh.request(freshHeaders ? { ...request, headers: {} } : request);
      await body.dump();
      if (status < 200 || status > 299) throw new Error(`status ${status}`);
    },
    close: () => mesh.close(),
  };
}

/** GET /json through an undici Pool, body dumped; `nextHeaders`, when given, makes each call's headers. */
function poolClient(pool, nextHeaders) {
  return {
    async send() {
      const options =
        nextHeaders === undefined
          ? { method: 'GET', path: PATH }
          : { method: 'GET', path: PATH, headers: nextHeaders() };
      const { statusCode, body } = await pool.request(options);
      await body.dump();
      if (statusCode < 200 || statusCode > 299) throw new Error(`status ${statusCode}`);
    },
    close: () => pool.close(),
  };
}

/** `{ send, close }` for client `kind` against 127.0.0.1:`port`. */
export async function makeClient(kind, port, concurrency) {
  const origin = `http://127.0.0.1:${port}`;
  switch (kind) {
    case 'undici': {
      // The bare load generator of the server-side pairs: one keep-alive connection per call in flight.
      const pool = new Pool(origin, { connections: concurrency, pipelining: 1 });
      return poolClient(pool);
    }
    case 'undici-ids': {
      // Not weft: the bare Pool sending the two headers full telemetry adds to a call, a new
      // x-request-id and traceparent each call (4,096 of each made up front), their names taught to
      // undici as weft's transport teaches them. What undici and the socket charge for those headers
      // is a floor any client sending them pays: the `trace-headers` pair measures it beside `telemetry-1`.
      const { teachUndiciHeaderNames } = await import('../packages/mesh/dist/layers/transport/header-names.js');
      teachUndiciHeaderNames(['x-request-id', 'traceparent']);
      const ids = Array.from({ length: 4096 }, () => randomUUID());
      const parents = Array.from(
        { length: 4096 },
        () => `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-00`,
      );
      const pool = new Pool(origin, { connections: concurrency, pipelining: 1 });
      let next = 0;
      return poolClient(pool, () => {
        const i = next++ & 4095;
        return { 'x-request-id': ids[i], traceparent: parents[i] };
      });
    }
    case 'undici-mtls': {
      // The bare mTLS client: the same certificates and keep-alive, the chain checked, no identity check.
      const c = await benchCredentials('loadgen');
      const pool = new Pool(`https://127.0.0.1:${port}`, {
        connections: concurrency,
        pipelining: 1,
        connect: { key: c.key, cert: c.cert, ca: c.ca, checkServerIdentity: () => undefined },
      });
      return poolClient(pool);
    }
    case 'https-mtls': {
      // node:https with a keep-alive agent: the same certificates, the chain checked, no identity check.
      const c = await benchCredentials('loadgen');
      const agent = new https.Agent({
        keepAlive: true,
        maxSockets: concurrency,
        key: c.key,
        cert: c.cert,
        ca: c.ca,
        checkServerIdentity: () => undefined,
      });
      const options = { host: '127.0.0.1', port, path: PATH, agent };
      return {
        send: () =>
          new Promise((resolve, reject) => {
            const req = https.get(options, (res) => {
              res.on('error', reject);
              res.on('end', () =>
                res.statusCode >= 200 && res.statusCode <= 299
                  ? resolve()
                  : reject(new Error(`status ${res.statusCode}`)),
              );
              res.resume();
            });
            req.on('error', reject);
          }),
        close: async () => agent.destroy(),
      };
    }
    case 'weft-mtls': {
      // mesh.request() with mTLS on: the endpoint is called over mutual TLS and checked by SPIFFE ID.
      const mesh = await weftMesh(port, concurrency, undefined, { identity: { caDir: process.env.WEFT_CA_DIR } });
      return meshRequestClient(mesh, {}, true);
    }
    case 'weft-untraced':
    case 'weft-traced-1':
    case 'weft-traced-100': {
      // mesh.request() as weft-request, with tracing off, or on under sdk-node at 1 % / 100 % (bench/tracing.mjs).
      await startBenchTracing(kind, 'loadgen');
      const mesh = await weftMesh(port, concurrency, undefined, false, kind !== 'weft-untraced');
      return meshRequestClient(mesh, {}, true);
    }
    case 'weft-no-telemetry': {
      // mesh.request() with every kind of telemetry off: no tracing, no metrics, no access logs, no x-request-id.
      const mesh = await weftMesh(port, concurrency, undefined, false, false, false);
      return meshRequestClient(mesh, {}, true);
    }
    case 'weft-no-telemetry-ids': {
      // The same, x-request-id still made (Envoy makes it whatever its tracing: the requestId option's default).
      const mesh = await weftMesh(port, concurrency, undefined, false, false, false, true);
      return meshRequestClient(mesh, {}, true);
    }
    case 'weft-request':
    case 'weft-routed':
    case 'weft-routed-1000':
    case 'weft-guarded': {
      // The routed kinds add a VirtualService (1 or 1,000 routes) and a DestinationRule.
      const routes = kind === 'weft-routed' ? 1 : kind === 'weft-routed-1000' ? 1000 : 0;
      const policy = kind === 'weft-guarded' ? GUARDED_POLICY : routes === 0 ? undefined : routedPolicy(routes);
      const mesh = await weftMesh(port, concurrency, policy);
      return meshRequestClient(mesh, { 'x-bench': 'yes' }, false);
    }
    case 'axios': {
      // Node 20's global agent keeps connections alive; plain axios uses it, so both sides reuse sockets.
      if (http.globalAgent.keepAlive !== true) throw new Error('http.globalAgent does not keep connections alive');
      const ax = axios.create({ baseURL: origin });
      return { send: () => ax.get(PATH), close: async () => http.globalAgent.destroy() };
    }
    case 'weft-axios': {
      const mesh = await weftMesh(port, concurrency);
      const ax = mesh.axios('bench');
      return { send: () => ax.get(PATH), close: () => mesh.close() };
    }
    case 'fetch':
    case 'weft-fetch': {
      const mesh = kind === 'weft-fetch' ? await weftMesh(port, concurrency) : undefined;
      const doFetch = mesh ? mesh.fetch : globalThis.fetch;
      const url = mesh ? `http://bench${PATH}` : `${origin}${PATH}`;
      return {
        async send() {
          const res = await doFetch(url);
          await res.json();
          if (!res.ok) throw new Error(`status ${res.status}`);
        },
        close: async () => mesh?.close(),
      };
    }
    default:
      throw new Error(`unknown client kind "${kind}"`);
  }
}
