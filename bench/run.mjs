// The benchmark harness: each client/server pair with and without weft, side by side in one run, alternated over rounds.
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { measure, measureInterleaved } from './measure.mjs';
import { PAIRS, parseOptions, USAGE, warmupOf } from './options.mjs';
import { formatTable, median, summarize } from './stats.mjs';

const GOAL = 0.9; // weft/plain throughput a pair must reach unless it names its own goal (options.mjs)
const MAX_OTHER_CORES = 0.25; // a window in which other processes took more CPU than this is measured again…
const MAX_RETRIES_PER_RUN = 2; // …at most twice…
const MAX_RETRIES = 12; // …and at most this many times in all, so a busy machine cannot stretch the run unboundedly
const RESULTS = fileURLToPath(new URL('results/', import.meta.url));

const { options, problems, help } = parseOptions(process.argv.slice(2));
if (help || problems.length > 0) {
  for (const p of problems) console.error(`bench: ${p}`);
  console.error(USAGE);
  process.exit(help && problems.length === 0 ? 0 : 2);
}

const started = Date.now();
const machine = {
  nproc: os.availableParallelism(),
  cpu: os.cpus()[0]?.model ?? 'unknown',
  memoryGiB: Math.round(os.totalmem() / 2 ** 30),
  node: process.version,
  platform: `${os.type()} ${os.release()} ${os.arch()}`,
};
// Pairs that warm up longer than the rest (a path run by 1 % of calls, see options.mjs) are named.
const ownWarmups = options.only.filter((pair) => warmupOf(pair, options) !== options.warmupS);
// Pairs with the same warm-up of their own are named together: "(telemetry-1, tracing-1 15 s)".
const byWarmup = new Map();
for (const pair of ownWarmups) {
  const s = warmupOf(pair, options);
  byWarmup.set(s, [...(byWarmup.get(s) ?? []), pair]);
}
const warmup = `${options.warmupS} s warm-up${[...byWarmup].map(([s, pairs]) => ` (${pairs.join(', ')} ${s} s)`).join('')}`;
const schedule = options.separate
  ? `${options.rounds} rounds, each variant apart · ${warmup} + ${options.durationS} s`
  : `${options.rounds} rounds · ${warmup}, then ${options.slices} windows of ${options.sliceS} s per variant, taking turns`;
console.error(
  `bench: ${options.only.join(', ')} · ${schedule} · concurrency ${options.concurrency} · ` +
    `${machine.nproc} CPUs · node ${machine.node}`,
);

function report(what, run) {
  if (run.error !== undefined) {
    console.error(`${what} FAILED: ${run.error}`);
    return;
  }
  const errs = run.errors > 0 ? ` · ${run.errors} errors` : '';
  const busy = run.otherCores > MAX_OTHER_CORES ? ' (machine busy)' : '';
  console.error(
    `${what} ${Math.round(run.rps).toString().padStart(6)} req/s · p50 ${run.p50Ms.toFixed(2)} ms · ` +
      `p99 ${run.p99Ms.toFixed(2)} ms · ${run.connections} conns · others ${run.otherCores.toFixed(2)} cores${busy}${errs}`,
  );
}

const runs = [];
const discarded = []; // runs measured again because other processes were busy; kept in the raw results
let retries = 0;
for (let round = 0; round < options.rounds; round++) {
  for (const pair of options.only) {
    if (!options.separate) {
      // Interleaved: both variants' processes up at once, taking turns window by window.
      for (const run of await measureInterleaved(pair, round, options)) {
        report(`round ${round + 1}/${options.rounds} ${pair.padEnd(7)} ${run.variant.padEnd(5)}`, run);
        runs.push(run);
      }
      continue;
    }
    // ABBA: plain first in even rounds, weft first in odd ones, so drift and order effects fall on both alike.
    const order = round % 2 === 0 ? ['plain', 'weft'] : ['weft', 'plain'];
    for (const variant of order) {
      const what = `round ${round + 1}/${options.rounds} ${pair.padEnd(7)} ${variant.padEnd(5)}`;
      for (let attempt = 1; attempt <= 1 + MAX_RETRIES_PER_RUN; attempt++) {
        const run = { ...(await measure(pair, variant, round, options)), attempt };
        report(what, run);
        const last = attempt > MAX_RETRIES_PER_RUN || retries >= MAX_RETRIES;
        if (last || run.error !== undefined || !(run.otherCores > MAX_OTHER_CORES)) {
          runs.push(run);
          break;
        }
        discarded.push(run);
        retries++;
      }
    }
  }
}

const summary = summarize(runs, options.only, (pair) => PAIRS[pair].goal ?? GOAL);
const elapsedS = Math.round((Date.now() - started) / 1000);
console.log(`\n${formatTable(summary, PAIRS)}\n`);
const method = options.separate
  ? `medians of ${options.rounds} rounds; weft/plain is the ratio of the median throughputs, spread the lowest and highest round's`
  : `${options.rounds} rounds of ${options.slices} windows per variant taken in turn; weft/plain is the median of the ` +
    `ratios of windows taken one after the other, spread their middle half; the rest are medians over rounds`;
// Per window when interleaved (each run carries its windows), per run when separate.
const windows = runs.flatMap((r) => r.windows ?? [r]);
const others = windows.map((w) => w.otherCores).filter(Number.isFinite);
const load = `other processes took ${median(others).toFixed(2)} cores in the median window, ${Math.max(...others).toFixed(2)} at most`;
const idleOf = (variant) => median(runs.filter((r) => r.variant === variant).map((r) => r.otherIdleCores));
console.log(
  `${method}; ${elapsedS} s in all. CPU µs/req is of the process that carries weft.\n${load}` +
    (options.separate
      ? `; ${discarded.length} runs measured again because the machine was busy.`
      : ` (of which the idle variant's processes: weft's ${idleOf('plain').toFixed(3)} cores during plain's windows, ` +
        `plain's ${idleOf('weft').toFixed(3)} during weft's, medians over runs).`),
);
const failedCalls = runs.reduce((sum, r) => sum + (r.errors ?? 0), 0);
if (failedCalls > 0)
  console.log(`warning: ${failedCalls} calls failed (see "errors" and "firstError" in the raw results).`);

mkdirSync(RESULTS, { recursive: true });
const raw = { date: new Date(started).toISOString(), elapsedS, machine, options, goal: GOAL, summary, runs, discarded };
// Every run to last-run.json (not tracked); latest.json, the run docs/performance.md reports, only when asked.
for (const name of options.record ? ['last-run.json', 'latest.json'] : ['last-run.json']) {
  writeFileSync(`${RESULTS}${name}.tmp`, `${JSON.stringify(raw, null, 2)}\n`);
  renameSync(`${RESULTS}${name}.tmp`, `${RESULTS}${name}`);
}
console.log(`raw results: bench/results/${options.record ? 'latest.json' : 'last-run.json'}`);

const failed = runs.filter((r) => r.error !== undefined).length;
process.exit(failed > 0 ? 1 : 0);
