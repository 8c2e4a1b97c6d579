// Guards micro-benchmark: CPU µs per mesh.request() call with and without the per-destination guards (breaker, outlier detection, connectionPool limits) of the `guarded` pair.
// Run `npx tsc -b tsconfig.build.json` first: it reads the built package.
//
//   node bench/guards.mjs [--calls 200000] [--rounds 5] [--concurrency 32] [--stream] [--each] [--loopback]
//                         [--dist DIR] [--profile]
//
// The whole client pipeline runs as createMesh builds it, over a terminal handler that answers from
// memory (no socket), so what remains is weft's own work. `--loopback` sends through mesh.request()
// and the real transport to a node:http server in a process of its own instead (as the `guarded`
// bench pair does), and counts the client process's CPU only. `--stream` answers with a streamed body
// (a Readable the caller drains), as the transport does, so pool-limits holds its slot until the body
// closes. `--each` also measures each guard alone. Each variant of each round runs in a fresh process, so one variant's JIT feedback cannot
// help or hurt the other; the report is the median per variant and the difference of the medians.
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';

/** The built package to measure: packages/mesh/dist, or another build of it (`--dist DIR`, e.g. an older commit's). */
const DIST = new URL(`${argText('--dist', '../packages/mesh/dist')}/`, import.meta.url);
const load = (path) => import(new URL(path, DIST).href);
const [
  { OutboundClient },
  { buildClientPipeline },
  { ServiceRegistry },
  { loadStatic },
  { createMesh },
  { breakerPolicyResolver, breakers, compileBreakerPolicy },
  { outlierDetection, outlierPolicyFromDestinationRule },
  { poolLimitsFromDestinationRule },
  { poolLimits },
  { TrafficStats },
  { MeshPolicy },
  { resolveMeshOptions },
  { SourceReporter },
] = await Promise.all(
  [
    'client/client.js',
    'client/pipeline.js',
    'discovery/registry.js',
    'discovery/static.js',
    'index.js',
    'layers/breaker/index.js',
    'layers/outlier/index.js',
    'layers/pool-limits/from-policy.js',
    'layers/pool-limits/index.js',
    'layers/stats/index.js',
    'mesh-policy.js',
    'options/mesh-options.js',
    'telemetry/metrics/index.js',
  ].map(load),
);

/** The `guarded` pair's policy (bench/clients.mjs): every guard on, none ever tripping. */
const GUARDED_POLICY = {
  service: 'bench',
  outlierDetection: { consecutive5xxErrors: 5, interval: '10s', baseEjectionTime: '30s' },
  circuitBreaker: { maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 1024 },
  breaker: { failurePercent: 50, minimumCalls: 20 },
};
/** One guard at a time, to see what each costs (`--each`). */
const ONE_GUARD = {
  // A DestinationRule with no guard in it: what the rule alone costs the layers that read it.
  rule: [
    {
      apiVersion: 'networking.istio.io/v1',
      kind: 'DestinationRule',
      metadata: { name: 'bench' },
      spec: { host: 'bench' },
    },
  ],
  breaker: { service: 'bench', breaker: GUARDED_POLICY.breaker },
  outlier: { service: 'bench', outlierDetection: GUARDED_POLICY.outlierDetection },
  pool: { service: 'bench', circuitBreaker: GUARDED_POLICY.circuitBreaker },
};
const POLICIES = { bare: undefined, guarded: GUARDED_POLICY, ...ONE_GUARD };
const VARIANTS = process.argv.includes('--each') ? Object.keys(POLICIES) : ['bare', 'guarded'];

function argText(name, fallback) {
  const i = process.argv.indexOf(name);
  return i < 0 ? fallback : process.argv[i + 1];
}
const arg = (name, fallback) => Number(argText(name, fallback));
const CALLS = arg('--calls', 200_000);
const ROUNDS = arg('--rounds', 5);
const CONCURRENCY = arg('--concurrency', 32);
const STREAM = process.argv.includes('--stream');
const LOOPBACK = process.argv.includes('--loopback');
const BODY = JSON.stringify({ message: 'hello from the weft bench', id: 123456, ok: true });
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** The client pipeline as createMesh assembles it (src/mesh.ts), with `terminal` in place of the transport. */
async function pipeline(policyInput, terminal) {
  const resolved = resolveMeshOptions({
    service: 'loadgen',
    discovery: { static: { bench: [{ address: '127.0.0.1:9', labels: { version: 'v1' } }] } },
    logger: false,
    ...(policyInput === undefined ? {} : { policy: policyInput }),
  });
  const registry = new ServiceRegistry({ namespace: resolved.namespace, clusterDomain: resolved.clusterDomain });
  loadStatic(registry, resolved.staticEndpoints);
  const source = { labels: resolved.labels, namespace: resolved.namespace };
  const policy = new MeshPolicy(
    { namespace: resolved.namespace, clusterDomain: resolved.clusterDomain, watch: false },
    { registry, source, timeoutMs: resolved.timeoutMs, registryOnly: false },
  );
  await policy.update(resolved.policy);
  const self = {
    name: resolved.service,
    namespace: resolved.namespace,
    labels: resolved.labels,
    trustDomain: undefined,
    principal: () => undefined,
  };
  const everyDestination = resolved.breaker.everyDestination;
  const breaker = breakers({
    policyFor: breakerPolicyResolver(
      everyDestination === undefined ? undefined : compileBreakerPolicy(everyDestination),
    ),
  });
  const outlier = outlierDetection({ policyFor: outlierPolicyFromDestinationRule });
  const limits = poolLimits({ policyFor: poolLimitsFromDestinationRule });
  const handler = buildClientPipeline({
    options: resolved,
    registry,
    policy,
    stats: new TrafficStats(new SourceReporter(self)),
    transport: { handler: terminal },
    breaker,
    outlier,
    poolLimits: limits,
  });
  const client = new OutboundClient(handler, registry, resolved.outboundTrafficPolicy);
  const close = () => Promise.all([breaker.close(), outlier.close(), policy.close()]);
  return { client, close, breaker, outlier, limits };
}

/** A mesh with the real transport to 127.0.0.1:`port`, as the bench's weft-guarded client makes it. */
async function loopbackClient(variant, port) {
  const policy = POLICIES[variant];
  const mesh = await createMesh({
    service: 'loadgen',
    discovery: { static: { bench: [{ address: `127.0.0.1:${port}`, labels: { version: 'v1' } }] } },
    connectionPool: { maxConnectionsPerEndpoint: CONCURRENCY },
    logger: false,
    ...(policy === undefined ? {} : { policy }),
  });
  const client = {
    send: async (request) => {
      const res = await mesh.request(request);
      return { status: res.status, body: null, dump: () => res.body.dump() };
    },
  };
  return { client, close: () => mesh.close(), breaker: { breakers: () => mesh.breakers() } };
}

/** One variant in this process: CPU µs per call over CALLS calls, CONCURRENCY in flight. */
async function child(variant) {
  if (LOOPBACK) return measure(await loopbackClient(variant, arg('--port', 0)));
  const terminal = STREAM
    ? () => Promise.resolve({ status: 200, headers: {}, body: Readable.from([]) })
    : () => Promise.resolve({ status: 200, headers: {}, body: null });
  return measure(await pipeline(POLICIES[variant], terminal));
}

async function measure({ client, close, breaker }) {
  const request = {
    method: 'GET',
    scheme: 'http',
    authority: 'bench',
    path: '/json',
    headers: { 'x-bench': 'yes' },
    body: null,
  };
  const drain = (body) =>
    body === null
      ? undefined
      : new Promise((resolve) => {
          body.on('close', resolve);
          body.resume();
        });
  const run = async (n) => {
    const loop = async (k) => {
      for (let i = 0; i < k; i++) {
        const res = await client.send(request);
        if (res.status !== 200) throw new Error(`status ${res.status}`);
        await (res.dump === undefined ? drain(res.body) : res.dump());
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, () => loop(Math.ceil(n / CONCURRENCY))));
  };
  await run(Math.min(CALLS, 50_000)); // warm-up: JIT, caches, the breaker made
  const before = process.cpuUsage();
  const started = process.hrtime.bigint();
  await run(CALLS);
  const cpu = process.cpuUsage(before);
  const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
  if (breaker.breakers().some((b) => b.state !== 'closed')) throw new Error('the breaker is not closed');
  await close();
  return { cpuUs: (cpu.user + cpu.system) / CALLS, wallUs: (wallMs * 1000) / CALLS };
}

/** The loopback server: 61 bytes of JSON to every request, as bench/server.mjs's node-http answers. */
function serve() {
  const length = String(Buffer.byteLength(BODY));
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': length });
    res.end(BODY);
  });
  server.listen(0, '127.0.0.1', () => console.log(server.address().port));
}

const childIndex = process.argv.indexOf('--child');
if (process.argv.includes('--serve')) {
  serve();
} else if (childIndex >= 0) {
  const result = await child(process.argv[childIndex + 1]);
  process.stdout.write(JSON.stringify(result));
} else {
  const self = fileURLToPath(import.meta.url);
  const passOn = process.argv.slice(2).filter((a) => a !== '--profile');
  let server;
  if (LOOPBACK) {
    // The server in a process of its own, so the client's CPU is the client's.
    server = spawn(process.execPath, [self, '--serve'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const [chunk] = await once(server.stdout, 'data');
    passOn.push('--port', String(Number.parseInt(String(chunk), 10)));
  }
  const results = Object.fromEntries(VARIANTS.map((v) => [v, []]));
  for (let r = 0; r < ROUNDS; r++) {
    // Alternate the order, so a neighbour's burst does not always land on the same variant.
    for (const variant of r % 2 === 0 ? VARIANTS : [...VARIANTS].reverse()) {
      const flags = process.argv.includes('--profile') ? ['--cpu-prof', '--cpu-prof-dir=bench/results/profiles'] : [];
      const out = execFileSync(process.execPath, [...flags, self, ...passOn, '--child', variant], { encoding: 'utf8' });
      results[variant].push(JSON.parse(out).cpuUs);
    }
  }
  const fmt = (x) => x.toFixed(2);
  for (const v of VARIANTS)
    console.log(`${v.padEnd(8)} CPU µs/call: median ${fmt(median(results[v]))}  [${results[v].map(fmt).join(' ')}]`);
  for (const v of VARIANTS.slice(1))
    console.log(`${v} cost (median difference): ${fmt(median(results[v]) - median(results.bare))} µs/call`);
  server?.kill();
  const answer = LOOPBACK ? 'loopback node:http server' : STREAM ? 'streamed body' : 'no body';
  console.log(`calls ${CALLS} · concurrency ${CONCURRENCY} · ${answer} · ${ROUNDS} rounds`);
}
