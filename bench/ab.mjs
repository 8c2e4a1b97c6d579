// Two client variants in one process, batch by batch (ABBA): each one's CPU per call and the difference.
// Noise that moves a whole process (another tenant of the machine, a slower core) falls on both alike,
// so a difference of a few tenths of a µs shows, where fresh processes per variant move by ±2 µs.
//
//   node bench/ab.mjs A B [--sdk RATIO] [--batches 20] [--batch 10000] [--procs 3]
//
// This process serves GET /json (bare node:http); each child process builds both clients and sends
// `batch` calls at 32 in flight through one, then the other, `batches` times, counting its own CPU.
// Variants: `undici` (a bare Pool), `undici-trace-headers` (the same with three constant headers the
// size of x-request-id, traceparent and b3: what the headers alone cost), and meshes: `off` (tracing
// off), `off-no-retries` (tracing off, a policy with retries off), `off-no-metrics` (tracing and metrics off), `off-trace-headers` (tracing off, the caller sending those three headers), `on` (tracing on with its default formats), `w3c` (tracecontext and baggage only), `b3multi`
// (tracecontext, baggage, b3multi), `no-formats` (spans and x-request-id, no trace headers); over mutual TLS
// to a node:https server of this process that asks for a client certificate: `undici-mtls` (the mtls pair's
// bare client), `mtls` (a mesh with mTLS on, as the mtls pair's client) and `mtls-off` (the same, tracing off).
// `--sdk RATIO` starts sdk-node through startTracing at that sampling ratio first, for both variants.
// Run `npx tsc -b tsconfig.build.json` first: it loads the built packages.
import { fork } from 'node:child_process';
import { parseArgs } from 'node:util';
import { ANSWER, listenJson } from './json-server.mjs';
import { median } from './stats.mjs';
import { benchCredentials } from './tls.mjs';
import { benchRequestId, callsInFlight, DISCARD } from './tracing.mjs';

/** node:https answering ANSWER to clients with a certificate of a new CA (in WEFT_CA_DIR, which the children inherit). */
async function listenMtls() {
  const { CertificateAuthority } = await import('@weft/security');
  const { createServer } = await import('node:https');
  const { mkdtempSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { dirname, join } = await import('node:path');
  const dir = join(mkdtempSync(join(tmpdir(), 'weft-ab-')), 'ca');
  await (await CertificateAuthority.create()).save(dir);
  process.env.WEFT_CA_DIR = dir;
  const c = await benchCredentials('bench');
  const server = createServer(
    { key: c.key, cert: c.cert, ca: c.ca, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2' },
    (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(ANSWER) });
      res.end(ANSWER);
    },
  );
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { rmSync } = await import('node:fs');
  const close = () => {
    server.close();
    rmSync(dirname(dir), { recursive: true, force: true });
  };
  return { port: server.address().port, close };
}

const MESH_TRACING = {
  off: false,
  'off-no-retries': false,
  'off-no-metrics': false,
  'off-trace-headers': false,
  'off-fresh-headers': false,
  on: true,
  w3c: { propagators: ['tracecontext', 'baggage'] },
  b3multi: { propagators: ['tracecontext', 'baggage', 'b3multi'] },
  'no-formats': { propagators: [] },
  mtls: true,
  'mtls-off': false,
};
const TRACE_HEADERS = {
  'x-request-id': 'a5e0d6c4-8a47-4c4a-9b38-2c0f6c9b1e11',
  traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00',
  b3: '0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0',
};

async function client(kind, port, concurrency, tlsPort) {
  if (kind === 'undici-mtls') {
    // The mtls pair's bare client: an undici Pool over mutual TLS, the chain checked, no identity check.
    const { Pool } = await import('undici');
    const c = await benchCredentials('loadgen');
    const pool = new Pool(`https://127.0.0.1:${tlsPort}`, {
      connections: concurrency,
      connect: { key: c.key, cert: c.cert, ca: c.ca, checkServerIdentity: () => undefined },
    });
    return async () => {
      const { statusCode, body } = await pool.request({ method: 'GET', path: '/json' });
      await body.dump();
      if (statusCode !== 200) throw new Error(`status ${statusCode}`);
    };
  }
  if (kind === 'undici' || kind === 'undici-trace-headers' || kind === 'undici-timeouts') {
    const { Pool } = await import('undici');
    const pool = new Pool(`http://127.0.0.1:${port}`, { connections: concurrency });
    const extra = kind === 'undici-trace-headers';
    // As weft's transport sends a call with no deadline: both timeouts given with each request.
    const timeouts = kind === 'undici-timeouts' ? { headersTimeout: 300_000, bodyTimeout: 300_000 } : {};
    return async () => {
      const headers = extra ? { host: 'bench', ...TRACE_HEADERS } : { host: 'bench' };
      const { statusCode, body } = await pool.request({ method: 'GET', path: '/json', headers, ...timeouts });
      await body.dump();
      if (statusCode !== 200) throw new Error(`status ${statusCode}`);
    };
  }
  if (!(kind in MESH_TRACING)) throw new Error(`unknown variant ${kind}`);
  const { createMesh } = await import('@weft/mesh');
  const mtls = kind === 'mtls' || kind === 'mtls-off';
  const mesh = await createMesh({
    service: 'loadgen',
    discovery: { static: { bench: [`127.0.0.1:${mtls ? tlsPort : port}`] } },
    connectionPool: { maxConnectionsPerEndpoint: concurrency },
    logger: false,
    security: mtls ? { identity: { caDir: process.env.WEFT_CA_DIR } } : false,
    tracing: MESH_TRACING[kind],
    requestId: benchRequestId(MESH_TRACING[kind]),
    ...(kind === 'off-no-retries' ? { policy: [{ service: 'bench', retries: { attempts: 0 } }] } : {}),
    ...(kind === 'off-no-metrics' ? { metrics: false } : {}),
  });
  const extra = kind === 'off-trace-headers';
  const fresh = kind === 'off-fresh-headers';
  const { randomFillSync } = await import('node:crypto');
  const bytes = Buffer.allocUnsafe(24 * 1024);
  let text = '';
  let at = 1 << 30;
  const take = (n) => {
    if (at + n > text.length) {
      text = randomFillSync(bytes).toString('hex');
      at = 0;
    }
    const s = text.slice(at, at + n);
    at += n;
    return s;
  };
  return async () => {
    let headers = {};
    if (extra) headers = { ...TRACE_HEADERS };
    else if (fresh) {
      const line = `00-${take(32)}-${take(16)}-00`;
      headers['x-request-id'] = take(36);
      headers.traceparent = line;
      headers.b3 = line.slice(3, 54);
    }
    const request = { method: 'GET', scheme: 'http', authority: 'bench', path: '/json', headers, body: null };
    const { status, body } = await mesh.request(request);
    await body.dump();
    if (status !== 200) throw new Error(`status ${status}`);
  };
}

async function child({ a, b, port, tlsPort, batches, batch, concurrency, sdk }) {
  if (sdk !== undefined) {
    const { startTracing } = await import('@weft/mesh/tracing');
    await startTracing({ service: 'loadgen', samplingRatio: sdk, exporter: DISCARD });
  }
  const sends = [await client(a, port, concurrency, tlsPort), await client(b, port, concurrency, tlsPort)];
  const run = (send, n) => callsInFlight(send, n, concurrency);
  await run(sends[0], batch);
  await run(sends[1], batch);
  const cpu = [[], []];
  for (let i = 0; i < batches; i++) {
    for (const j of i % 2 === 0 ? [0, 1] : [1, 0]) {
      const start = process.cpuUsage();
      await run(sends[j], batch);
      const c = process.cpuUsage(start);
      cpu[j].push((c.user + c.system) / batch);
    }
  }
  return cpu;
}

async function main() {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      batches: { type: 'string' },
      batch: { type: 'string' },
      procs: { type: 'string' },
      sdk: { type: 'string' },
    },
  });
  const [a, b] = positionals;
  if (a === undefined || b === undefined) throw new Error('usage: node bench/ab.mjs A B [--sdk RATIO] …');
  const batches = Number(values.batches ?? 20);
  const batch = Number(values.batch ?? 10_000);
  const procs = Number(values.procs ?? 3);
  const sdk = values.sdk === undefined ? undefined : Number(values.sdk);
  const server = await listenJson();
  const { port } = server;
  // The mTLS variants call an https server that asks for a client certificate, both sides issued by one CA.
  const tls = [a, b].some((v) => v.includes('mtls')) ? await listenMtls() : undefined;
  const diffs = [];
  for (let p = 0; p < procs; p++) {
    const args = { a, b, port, tlsPort: tls?.port, batches, batch, concurrency: 32, sdk };
    const cpu = await new Promise((resolve, reject) => {
      const proc = fork(new URL(import.meta.url), ['--child', JSON.stringify(args)]);
      let result;
      proc.on('message', (m) => {
        result = m;
      });
      proc.on('exit', (code) => (code === 0 ? resolve(result) : reject(new Error(`child exited ${code}`))));
    });
    const d = median(cpu[0].map((x, i) => cpu[1][i] - x));
    diffs.push(d);
    console.log(
      `process ${p + 1}: ${a} ${median(cpu[0]).toFixed(2)}, ${b} ${median(cpu[1]).toFixed(2)}, ${b} − ${a} ${d.toFixed(2)} µs CPU/call`,
    );
  }
  console.log(`median ${b} − ${a}: ${median(diffs).toFixed(2)} µs CPU a call`);
  server.close();
  tls?.close();
}

if (process.argv[2] === '--child') {
  const result = await child(JSON.parse(process.argv[3]));
  process.send(result, () => process.exit(0));
} else {
  await main();
}
