// Load generator process of one run: drives one client variant in a closed loop and reports throughput and latency.
// Separate mode: one warm-up and one window, then a report and exit. Sliced mode (`slices` in the config): the
// harness asks for windows one at a time, between which the process sits idle while the other variant runs; on a
// server-side pair one load generator drives both variants, each against its own server (`add-target`).
import { performance } from 'node:perf_hooks';
import { makeClient } from './clients.mjs';
import { quantile } from './stats.mjs';

const SAMPLES_PER_SECOND = 200_000; // latency slots preallocated per measured second; completions past them are counted only
const MAX_CALLS_PER_SECOND = 1_000_000; // hard bound on the calls one worker loop may make, far above what loopback allows
const MAX_ERRORS = 1_000; // a run with this many failed calls stops early: it measures nothing useful
const DRAIN_MS = 10_000; // after a window, calls still in flight get this long before the process gives up

const config = JSON.parse(process.argv[2]);
const { concurrency } = config;
const capacity = Math.ceil(((config.measuredMs ?? config.durationMs) / 1000) * SAMPLES_PER_SECOND);

/** A variant this process drives: its client, and every measured window's latencies and its failed calls. */
async function target(kind, port) {
  const client = await makeClient(kind, port, concurrency);
  return { client, latenciesMs: new Float64Array(capacity), stored: 0, errors: 0, firstError: undefined };
}
const targets = new Map([[config.variant, await target(config.client, config.port)]]);

/**
 * One window: `concurrency` workers call until `warmupMs + durationMs` have passed, then the calls
 * in flight finish. Completions inside the last `durationMs` are counted and timed, and CPU is read
 * at that part's edges, which the harness passes on to the server (`mark`) so both report CPU per
 * request. The edges are taken by the first call to cross each, not by timers, which a busy loop
 * can delay past the edge.
 */
async function runWindow(variant, warmupMs, durationMs) {
  const t = targets.get(variant);
  const startedAt = performance.now();
  const measureAt = startedAt + warmupMs;
  const endAt = measureAt + durationMs;
  const maxCalls = Math.ceil(((warmupMs + durationMs) / 1000) * MAX_CALLS_PER_SECOND);
  const errorsBefore = t.errors;
  let completed = 0;
  const cpu = { start: undefined, end: undefined };
  const mark = (phase) => {
    if (phase === 'start') cpu.start = process.cpuUsage();
    else cpu.end = process.cpuUsage(cpu.start);
    process.send({ type: 'mark', phase, variant });
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
      if (start >= endAt || t.errors >= MAX_ERRORS) {
        if (cpu.start !== undefined && cpu.end === undefined) mark('end');
        return;
      }
      try {
        await t.client.send();
      } catch (error) {
        t.errors++;
        t.firstError ??= String(error?.stack ?? error);
        continue;
      }
      const end = performance.now();
      if (end >= measureAt && end < endAt) {
        if (cpu.start === undefined) mark('start');
        completed++;
        if (t.stored < capacity) t.latenciesMs[t.stored++] = end - start;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  clearTimeout(watchdog);
  if (cpu.start !== undefined && cpu.end === undefined) mark('end');
  const cpuUs = cpu.end === undefined ? Number.NaN : cpu.end.user + cpu.end.system;
  return {
    requests: completed,
    errors: t.errors - errorsBefore,
    rps: completed / (durationMs / 1000),
    clientCpuUs: cpuUs,
    clientCpuUsPerReq: cpuUs / completed,
  };
}

function latencies(t) {
  const sorted = t.latenciesMs.subarray(0, t.stored).sort();
  return {
    p50Ms: quantile(sorted, 0.5),
    p90Ms: quantile(sorted, 0.9),
    p99Ms: quantile(sorted, 0.99),
    maxMs: quantile(sorted, 1),
  };
}

const tooManyErrors = (t) => (t.errors >= MAX_ERRORS ? `${t.errors} calls failed; first: ${t.firstError}` : undefined);

if (config.slices === undefined) {
  const t = targets.get(config.variant);
  const window = await runWindow(config.variant, config.warmupMs, config.durationMs);
  process.send({ type: 'result', error: tooManyErrors(t), ...window, firstError: t.firstError, ...latencies(t) }, () =>
    process.exit(0),
  );
} else {
  let finished = 0;
  process.on('message', async (m) => {
    if (m.type === 'slice') {
      const window = await runWindow(m.variant, m.warmupMs, m.durationMs);
      process.send({ type: 'slice-done', error: tooManyErrors(targets.get(m.variant)), ...window });
    } else if (m.type === 'add-target') {
      // The other variant of a server-side pair, against its own server.
      targets.set(m.variant, await target(m.client, m.port));
      process.send({ type: 'ready', variant: m.variant });
    } else if (m.type === 'collect') {
      // A full collection once warmed up, asked for by the harness (measure.mjs).
      globalThis.gc?.();
      process.send({ type: 'collected' });
    } else if (m.type === 'finish') {
      // One variant's report; the process exits after the last one's.
      const t = targets.get(m.variant);
      const last = ++finished === targets.size;
      process.send({ type: 'result', errors: t.errors, firstError: t.firstError, ...latencies(t) }, () => {
        if (last) process.exit(0);
      });
    }
  });
  // Never outlive the harness.
  process.on('disconnect', () => process.exit(0));
  process.send({ type: 'ready', variant: config.variant });
}
