// CPU per call of the client's tracing, each variant in a fresh process: off, on with no SDK, sdk-node at 1 % and 100 %.
//
//   node bench/tracing-cost.mjs [--calls N] [--reps R] [--concurrency C] [--only v1,v2]
//   PROF=1 node bench/tracing-cost.mjs …   also writes each child's V8 CPU profile to bench/results/profiles/
//
// This process serves GET /json (a bare node:http server); each run is a child process that makes
// `calls` bounded calls through mesh.request() after a warm-up and reports its own CPU (user + system)
// per call. Only the child's CPU is counted, so the server's share and other load on the machine
// move the figures much less than they move a throughput ratio. Variants alternate between
// repetitions; the report gives each variant's median and its spread.
import { fork } from 'node:child_process';
import { parseArgs } from 'node:util';
import { listenJson } from './json-server.mjs';
import { median } from './stats.mjs';
import { bareClient, callsInFlight, meshClient } from './tracing.mjs';

const VARIANTS = {
  // A bare undici Pool, no mesh: the floor the client pipeline is measured against.
  undici: { bare: true },
  off: { tracing: false },
  'no-sdk': { tracing: true },
  'sdk-1': { tracing: true, samplingRatio: 0.01 },
  'sdk-0': { tracing: true, samplingRatio: 0 },
  'sdk-100': { tracing: true, samplingRatio: 1 },
  // sdk-node started at 1 % but the mesh's tracing off: what the SDK's presence alone costs the process.
  'sdk-1-mesh-off': { tracing: false, samplingRatio: 0.01 },
  // The same at 1 %, writing B3 as its one-header form instead of the multi-header one.
  'sdk-1-b3single': { tracing: { propagators: ['tracecontext', 'baggage', 'b3'] }, samplingRatio: 0.01 },
  'sdk-1-b3multi': { tracing: { propagators: ['tracecontext', 'baggage', 'b3multi'] }, samplingRatio: 0.01 },
};
const DEFAULTS = { calls: 100_000, warmup: 20_000, reps: 5, concurrency: 32 };

async function child({ variant, port, calls, warmup, concurrency }) {
  const { tracing, samplingRatio, bare } = VARIANTS[variant];
  const { send, close } = bare
    ? await bareClient(port, concurrency)
    : await meshClient({ port, concurrency, samplingRatio, tracing });
  return measure(send, { calls, warmup, concurrency }, close);
}

async function measure(send, { calls, warmup, concurrency }, close) {
  const loop = (n) => callsInFlight(send, n, concurrency);
  await loop(warmup);
  const start = process.cpuUsage();
  const startedAt = performance.now();
  await loop(calls);
  const cpu = process.cpuUsage(start);
  const wallMs = performance.now() - startedAt;
  await close();
  return { cpuUs: (cpu.user + cpu.system) / calls, userUs: cpu.user / calls, wallUs: (wallMs * 1000) / calls };
}

function runChild(args) {
  return new Promise((resolve, reject) => {
    const proc = fork(new URL(import.meta.url), ['--child', JSON.stringify(args)], {
      stdio: 'inherit',
      execArgv: process.env.PROF ? ['--cpu-prof', '--cpu-prof-dir=bench/results/profiles'] : [],
    });
    let result;
    proc.on('message', (message) => {
      result = message;
    });
    proc.on('error', reject);
    proc.on('exit', (code) => (code === 0 && result ? resolve(result) : reject(new Error(`child exited ${code}`))));
  });
}

async function main() {
  const { values } = parseArgs({
    options: {
      calls: { type: 'string' },
      warmup: { type: 'string' },
      reps: { type: 'string' },
      concurrency: { type: 'string' },
      only: { type: 'string' },
    },
  });
  const calls = Number(values.calls ?? DEFAULTS.calls);
  const warmup = Number(values.warmup ?? DEFAULTS.warmup);
  const reps = Number(values.reps ?? DEFAULTS.reps);
  const concurrency = Number(values.concurrency ?? DEFAULTS.concurrency);
  const names = values.only === undefined ? Object.keys(VARIANTS) : values.only.split(',');
  for (const name of names) if (!(name in VARIANTS)) throw new Error(`unknown variant ${name}`);

  const server = await listenJson();
  const { port } = server;

  const results = Object.fromEntries(names.map((n) => [n, []]));
  for (let rep = 0; rep < reps; rep++) {
    // Alternate the order, so a variant is not always the one after another's warm-up.
    const order = rep % 2 === 0 ? names : [...names].reverse();
    for (const variant of order) {
      const r = await runChild({ variant, port, calls, warmup, concurrency });
      results[variant].push(r.cpuUs);
      console.error(
        `rep ${rep + 1} ${variant.padEnd(8)} ${r.cpuUs.toFixed(1)} µs CPU/call (user ${r.userUs.toFixed(1)}), ${r.wallUs.toFixed(1)} µs wall`,
      );
    }
  }
  server.close();
  console.log(`\nclient CPU µs per call, median of ${reps} (min…max); ${calls} calls at ${concurrency} in flight`);
  for (const name of names) {
    const xs = results[name];
    console.log(
      `${name.padEnd(8)} ${median(xs).toFixed(1).padStart(6)}  (${Math.min(...xs).toFixed(1)}…${Math.max(...xs).toFixed(1)})`,
    );
  }
}

if (process.argv[2] === '--child') {
  const result = await child(JSON.parse(process.argv[3]));
  process.send(result, () => process.exit(0));
} else {
  await main();
}
