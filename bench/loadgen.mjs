// Load generator process of one run: drives one client variant in a closed loop and reports throughput and latency.
import { performance } from 'node:perf_hooks';
import { makeClient } from './clients.mjs';
import { quantile } from './stats.mjs';

const SAMPLES_PER_SECOND = 200_000; // latency slots preallocated per measured second; completions past them are counted only
const MAX_CALLS_PER_SECOND = 1_000_000; // hard bound on the calls one worker loop may make, far above what loopback allows
const MAX_ERRORS = 1_000; // a run with this many failed calls stops early: it measures nothing useful
const DRAIN_MS = 10_000; // after the window, calls still in flight get this long before the process gives up

const { client: kind, port, concurrency, warmupMs, durationMs } = JSON.parse(process.argv[2]);
const client = await makeClient(kind, port, concurrency);

const capacity = Math.ceil((durationMs / 1000) * SAMPLES_PER_SECOND);
const latenciesMs = new Float64Array(capacity);
const maxCalls = Math.ceil(((warmupMs + durationMs) / 1000) * MAX_CALLS_PER_SECOND);
let stored = 0;
let completed = 0;
let errors = 0;
let firstError;

const startedAt = performance.now();
const measureAt = startedAt + warmupMs;
const endAt = measureAt + durationMs;

// The window's edges, seen by the server too (through the harness) so both can report CPU per request.
// Taken by the first call to cross each edge, not by timers, which a busy loop can delay past the edge.
const cpu = { start: undefined, end: undefined };
function mark(phase) {
  if (phase === 'start') cpu.start = process.cpuUsage();
  else cpu.end = process.cpuUsage(cpu.start);
  process.send({ type: 'mark', phase });
}
const watchdog = setTimeout(
  () => {
    process.send({ type: 'result', error: `calls still in flight ${DRAIN_MS} ms after the window closed` }, () =>
      process.exit(2),
    );
  },
  warmupMs + durationMs + DRAIN_MS,
);

/** One of `concurrency` workers: a call, then the next, until the window closes. */
async function worker() {
  for (let i = 0; i < maxCalls; i++) {
    const start = performance.now();
    if (start >= endAt || errors >= MAX_ERRORS) {
      if (cpu.start !== undefined && cpu.end === undefined) mark('end');
      return;
    }
    try {
      await client.send();
    } catch (error) {
      errors++;
      firstError ??= String(error?.stack ?? error);
      continue;
    }
    const end = performance.now();
    if (end >= measureAt && end < endAt) {
      if (cpu.start === undefined) mark('start');
      completed++;
      if (stored < capacity) latenciesMs[stored++] = end - start;
    }
  }
}

await Promise.all(Array.from({ length: concurrency }, worker));
clearTimeout(watchdog);
if (cpu.start !== undefined && cpu.end === undefined) mark('end');

const sorted = latenciesMs.subarray(0, stored).sort();
const cpuUs = cpu.end === undefined ? Number.NaN : cpu.end.user + cpu.end.system;
process.send(
  {
    type: 'result',
    error: errors >= MAX_ERRORS ? `${errors} calls failed; first: ${firstError}` : undefined,
    requests: completed,
    errors,
    firstError,
    rps: completed / (durationMs / 1000),
    p50Ms: quantile(sorted, 0.5),
    p90Ms: quantile(sorted, 0.9),
    p99Ms: quantile(sorted, 0.99),
    maxMs: quantile(sorted, 1),
    clientCpuUs: cpuUs,
    clientCpuUsPerReq: cpuUs / completed,
  },
  () => process.exit(0),
);
