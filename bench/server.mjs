// Server process of one run: a bare node:http server, or Express / Fastify with or without weft, on 127.0.0.1.
import { createServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createMesh } from '@weft/mesh';
import express from 'express';
import Fastify from 'fastify';
import { benchCredentials } from './tls.mjs';
import { benchRequestId, startBenchTracing } from './tracing.mjs';

/** The answer of every server: 61 bytes of JSON. */
const PAYLOAD = { message: 'hello from the weft bench', id: 123456, ok: true };
const BODY = JSON.stringify(PAYLOAD);
const HOST = '127.0.0.1';

function listenNode(handler) {
  const server = createServer(handler);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, HOST, () => resolve(server));
  });
}

function answer(_req, res) {
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(BODY) });
  res.end(BODY);
}

async function start(kind) {
  const weft = kind.startsWith('weft-');
  const security = kind === 'weft-mtls' ? { identity: { caDir: process.env.WEFT_CA_DIR } } : false;
  // Tracing pairs: off (`-untraced`), or sdk-node at 1 % / 100 % (`-traced-N`, bench/tracing.mjs); on with no SDK otherwise.
  await startBenchTracing(kind, 'bench');
  const tracing = !kind.endsWith('-untraced');
  // `-caller`: a workload with a service to call, whose inbound calls run in AsyncLocalStorage with tracing on.
  const discovery = kind.endsWith('-caller') ? { static: { other: ['127.0.0.1:9'] } } : undefined;
  const requestId = benchRequestId(tracing);
  const mesh = weft
    ? await createMesh({ service: 'bench', security, logger: false, tracing, requestId, discovery })
    : undefined;
  switch (kind) {
    case 'node-http':
      return listenNode(answer);
    case 'https-mtls': {
      const c = await benchCredentials('bench');
      const server = createHttpsServer(
        { key: c.key, cert: c.cert, ca: c.ca, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2' },
        answer,
      );
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, HOST, () => resolve(server));
      });
    }
    case 'weft-mtls': {
      // The front hands each TLS connection to the HTTP server: its 'connection' events count handshakes.
      const served = await mesh.listen(answer, { host: HOST, port: 0 });
      return Object.assign(served.server, { address: () => ({ port: served.port }) });
    }
    case 'express':
    case 'weft-express':
    case 'weft-express-untraced':
    case 'weft-express-caller':
    case 'weft-express-traced-1':
    case 'weft-express-traced-100': {
      const app = express();
      if (mesh) app.use(mesh.express());
      app.get('/json', (_req, res) => {
        res.json(PAYLOAD);
      });
      return listenNode(app);
    }
    case 'fastify':
    case 'weft-fastify': {
      const app = Fastify({ logger: false });
      if (mesh) await app.register(mesh.fastify());
      app.get('/json', async () => PAYLOAD);
      await app.listen({ port: 0, host: HOST });
      return app.server;
    }
    default:
      throw new Error(`unknown server kind "${kind}"`);
  }
}

const kind = process.argv[2];
const server = await start(kind);
// New connections, by the variant whose turn it was (`turn` messages; one server can serve both
// variants of a client-side pair), or under '' when no turns are announced.
const connections = {};
let turn = '';
server.on('connection', () => {
  connections[turn] = (connections[turn] ?? 0) + 1;
});
// The CPU this process used in each of the load generator's windows (from its start mark to its
// end mark), so the run can report server CPU per request.
let windowStart;
process.on('message', (message) => {
  if (message.type === 'turn') turn = message.variant;
  if (message.type === 'collect') {
    // A full collection once warmed up, asked for by the harness (measure.mjs).
    globalThis.gc?.();
    process.send({ type: 'collected' });
  }
  if (message.type === 'mark' && message.phase === 'start') windowStart = process.cpuUsage();
  if (message.type === 'mark' && message.phase === 'end' && windowStart !== undefined) {
    const used = process.cpuUsage(windowStart);
    windowStart = undefined;
    process.send({ type: 'window', cpuUs: used.user + used.system });
  }
  if (message.type === 'stop') process.send({ type: 'stopped', connections }, () => process.exit(0));
});
// Never outlive the harness.
process.on('disconnect', () => process.exit(0));
process.send({ type: 'listening', port: server.address().port, bodyBytes: Buffer.byteLength(BODY) });
