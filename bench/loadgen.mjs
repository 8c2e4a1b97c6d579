// Load generator process of one run: drives one client variant in a closed loop and reports throughput and latency.
// Separate mode: one warm-up and one window, then a report and exit. Sliced mode (`slices` in the config): the
// harness asks for windows one at a time, between which the process sits idle while the other variant runs.
import { performance } from 'node:perf_hooks';
import { makeClient } from './clients.mjs';
import { quantile } from './stats.mjs';

const SAMPLES_PER_SECOND = 200_000; // latency slots preallocated per measured second; completions past them are counted only
const MAX_CALLS_PER_SECOND = 1_000_000; // hard bound on the calls one worker loop may make, far above what loopback allows
const MAX_ERRORS = 1_000; // a run with this many failed calls stops early: it measures nothing useful
const DRAIN_MS = 10_000; // after a window, calls still in flight get this long before the process gives up

const config = JSON.parse(process.argv[2]);
const { client: kind, port, concurrency } = config;
const client = await makeClient(kind, port, concurrency);

// Every measured window's latencies, for percentiles over all of them.
const capacity = Math.ceil(((config.measuredMs ?? config.durationMs) / 1000) * SAMPLES_PER_SECOND);
const latenciesMs = new Float64Array(capacity);
let stored = 0;
let errors = 0;
let firstError;

/**
 * One window: `concurrency` workers call until `warmupMs + durationMs` have passed, then the calls
 * in flight finish. Completions inside the last `durationMs` are counted and timed, and CPU is read
 * at that part's edges, which the harness passes on to the server (`mark`) so both report CPU per
 * request. The edges are taken by the first call to cross each, not by timers, which a busy loop
 * can delay past the edge.
 */
async function runWindow(warmupMs, durationMs) {
  const startedAt = performance.now();
  const measureAt = startedAt + warmupMs;
  const endAt = measureAt + durationMs;
  const maxCalls = Math.ceil(((warmupMs + durationMs) / 1000) * MAX_CALLS_PER_SECOND);
  const errorsBefore = errors;
  let completed = 0;
  const cpu = { start: undefined, end: undefined };
  const mark = (phase) => {
    if (phase === 'start') cpu.start = process.cpuUsage();
    else cpu.end = process.cpuUsage(cpu.start);
    process.send({ type: 'mark', phase });
  };
  const watchdog = setTimeout(
    () => {
      // The report the harness is waiting for: the whole run's, or this window's when sliced.
      const type = config.slices === undefined ? 'result' : 'slice-done';
      process.send({ type, error: `calls still in flight ${DRAIN_MS} ms after the window closed` }, () =>
        process.exit(2),
      );
    },
    warmupMs + durationMs + DRAIN_MS,
  );
  const worker = async () => {
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
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  clearTimeout(watchdog);
  if (cpu.start !== undefined && cpu.end === undefined) mark('end');
  const cpuUs = cpu.end === undefined ? Number.NaN : cpu.end.user + cpu.end.system;
  return {
    requests: completed,
    errors: errors - errorsBefore,
    rps: completed / (durationMs / 1000),
    clientCpuUs: cpuUs,
    clientCpuUsPerReq: cpuUs / completed,
  };
}

function latencies() {
  const sorted = latenciesMs.subarray(0, stored).sort();
  return {
    p50Ms: quantile(sorted, 0.5),
    p90Ms: quantile(sorted, 0.9),
    p99Ms: quantile(sorted, 0.99),
    maxMs: quantile(sorted, 1),
  };
}

const tooManyErrors = () => (errors >= MAX_ERRORS ? `${errors} calls failed; first: ${firstError}` : undefined);

if (config.slices === undefined) {
  const window = await runWindow(config.warmupMs, config.durationMs);
  process.send({ type: 'result', error: tooManyErrors(), ...window, firstError, ...latencies() }, () =>
    process.exit(0),
  );
} else {
  process.on('message', async (m) => {
    if (m.type === 'slice') {
      const window = await runWindow(m.warmupMs, m.durationMs);
      process.send({ type: 'slice-done', error: tooManyErrors(), ...window });
    } else if (m.type === 'collect') {
      // A full collection once warmed up, asked for by the harness (measure.mjs).
      globalThis.gc?.();
      process.send({ type: 'collected' });
    } else if (m.type === 'finish') {
      process.send({ type: 'result', errors, firstError, ...latencies() }, () => process.exit(0));
    }
  });
  // Never outlive the harness.
  process.on('disconnect', () => process.exit(0));
  process.send({ type: 'ready' });
}
