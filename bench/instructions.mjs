// Instructions a client executes per call, counted by valgrind: the same figure run after run, where CPU time on
// this VM moves by ±20 % between processes. The ratio of two variants' counts is the throughput ratio a client
// that is limited by its own core would show, without the noise (memory stalls aside).
//
//   node bench/instructions.mjs [--calls 40000] [--warmup 5000] [--repeats 1] [--functions] V1 V2 …
//
// Variants: `undici` (a bare Pool), `none` (mesh.request() with tracing and metrics off), `metrics` (metrics
// only), `tracing` (tracing on, no SDK), `telemetry-1` and `telemetry-100` (metrics, and tracing under
// sdk-node's startTracing at 1 % / 100 %: the weft side of the `telemetry-1` pair). This process serves
// GET /json (bare node:http); each variant runs twice in `valgrind --tool=cachegrind` (V8 single-threaded, so
// that compiler and marker threads count the same every time), `warmup` calls and `warmup + calls` calls, and
// the difference divided by `calls` is its count per call: start-up and warm-up cancel out. `--functions` adds
// the native functions (V8 builtins and runtime, GC, libc) whose counts moved most against the first variant;
// JavaScript itself is one line, `(JIT code)`. Not quite deterministic: how many answers each turn of the event
// loop reads, and so the garbage collector's timing, still moves a run by a few per cent (two runs of `none`:
// 92,500 and 96,700 a call); `--repeats N` reports each variant's median run. Needs valgrind
// (`apt-get install -y valgrind`) and `npx tsc -b tsconfig.build.json` first. About 3 minutes a variant.
//
// Server variants count the server instead, an Express 5 app answering GET /json, while this process drives it
// with an undici Pool (32 connections): `express` (bare), `express-noop` (a pass-through middleware mounted first,
// what any middleware costs), `weft-express-off` (`app.use(mesh.express())`, telemetry off) and `weft-express`
// (the default: metrics, tracing with no SDK). Its `calls` are requests; `--calls 10000 --warmup 2000` takes
// about a minute a variant.
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ANSWER, listenJson } from './json-server.mjs';
import { bareClient, callsInFlight, meshClient } from './tracing.mjs';

const VARIANTS = {
  undici: {},
  none: { tracing: false, metrics: false },
  metrics: { tracing: false },
  tracing: { tracing: true, metrics: false },
  'telemetry-1': { tracing: true, samplingRatio: 0.01 },
  'telemetry-100': { tracing: true, samplingRatio: 1 },
};

/** Server variants: what the Express app mounts before its route. */
const SERVER_VARIANTS = {
  express: {},
  'express-noop': { noop: true },
  'weft-express-off': { mesh: { tracing: false, metrics: false } },
  'weft-express': { mesh: {} },
};

/** The counted server: answers `requests` requests of GET /json, then closes and exits. Prints its port. */
async function serve(variant, requests) {
  const { default: express } = await import('express');
  const { mesh: options, noop } = SERVER_VARIANTS[variant];
  let mesh;
  if (options !== undefined) {
    const { createMesh } = await import('@weft/mesh');
    mesh = await createMesh({ service: 'bench', security: false, logger: false, ...options });
  }
  const app = express();
  if (mesh !== undefined) app.use(mesh.express());
  if (noop) app.use((_req, _res, next) => next());
  const server = createServer(app);
  const payload = JSON.parse(ANSWER);
  let served = 0;
  app.get('/json', (_req, res) => {
    res.json(payload);
    if (++served === requests) {
      server.closeAllConnections();
      server.close();
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  process.stdout.write(`${server.address().port}\n`);
  await once(server, 'close');
  await mesh?.close();
}

/** Drives the counted server at `port` with 32 connections until it closes them. */
async function drive(port) {
  const { send, close } = await bareClient(port, 32);
  const worker = async () => {
    try {
      for (;;) await send();
    } catch {
      // The server closed its connections: it has answered its requests.
    }
  };
  await Promise.all(Array.from({ length: 32 }, worker));
  await close();
}

async function child(variant, port, calls) {
  const { send, close } =
    variant === 'undici'
      ? await bareClient(port, 32)
      : await meshClient({ port, concurrency: 32, ...VARIANTS[variant] });
  await callsInFlight(send, calls, 32);
  await close();
}

/**
 * Runs `calls` calls of `variant` under cachegrind (for a server variant, `calls` requests, with this process
 * driving it); resolves with its output file.
 */
function counted(variant, port, calls, dir) {
  const out = join(dir, `${variant}.${calls}.out`);
  const valgrind = [
    '--tool=cachegrind',
    '--cache-sim=no',
    '--smc-check=all-non-file',
    `--cachegrind-out-file=${out}`,
    process.execPath,
    '--single-threaded',
    fileURLToPath(import.meta.url),
  ];
  if (variant in SERVER_VARIANTS) return countedServer([...valgrind, '--serve', variant, String(calls)], variant, out);
  const args = [...valgrind, '--child', variant, String(port), String(calls)];
  return new Promise((resolve, reject) => {
    execFile('valgrind', args, { maxBuffer: 64 * 1024 * 1024 }, (error, _stdout, stderr) => {
      if (error) reject(new Error(`valgrind ${variant} ${calls}: ${error.message}\n${stderr.slice(-2000)}`));
      else resolve(out);
    });
  });
}

/** Runs a counted server (valgrind `args`), drives it until it has answered its requests; resolves with `out`. */
async function countedServer(args, variant, out) {
  const server = spawn('valgrind', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  server.stderr.on('data', (chunk) => {
    stderr = (stderr + chunk).slice(-2000);
  });
  const exited = once(server, 'exit').then(([code]) => code);
  // The server prints its port once it listens; it exits on its own once it has answered.
  const first = await Promise.race([once(server.stdout, 'data').then(([chunk]) => String(chunk)), exited]);
  if (typeof first !== 'string') throw new Error(`valgrind ${variant}: exited ${first} before listening\n${stderr}`);
  await drive(Number(first.trim()));
  const code = await exited;
  if (code !== 0) throw new Error(`valgrind ${variant}: exit ${code}\n${stderr}`);
  return out;
}

/** Instructions by function in a cachegrind output file; JIT code (no symbol) as one entry. */
function byFunction(file) {
  const counts = new Map();
  let fn = '';
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (line.startsWith('fn=')) fn = line.slice(3) === '???' ? '(JIT code)' : line.slice(3);
    else if (line.charCodeAt(0) >= 48 && line.charCodeAt(0) <= 57) {
      const count = Number(line.slice(line.indexOf(' ') + 1));
      counts.set(fn, (counts.get(fn) ?? 0) + count);
    }
  }
  return counts;
}

/** Per-call counts by function: the longer run's minus the shorter run's, over the calls between them. */
function perCall(longer, shorter, calls) {
  const out = new Map();
  for (const [fn, n] of longer) out.set(fn, (n - (shorter.get(fn) ?? 0)) / calls);
  for (const [fn, n] of shorter) if (!longer.has(fn)) out.set(fn, -n / calls);
  return out;
}

const sum = (m) => [...m.values()].reduce((a, b) => a + b, 0);
/** `n` rounded, with its sign (a minus sign, not a hyphen) and thousands separators. */
const signed = (n) => `${n >= 0 ? '+' : '−'}${Math.round(Math.abs(n)).toLocaleString('en')}`;

async function main() {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      calls: { type: 'string' },
      warmup: { type: 'string' },
      repeats: { type: 'string' },
      functions: { type: 'boolean' },
    },
  });
  if (positionals.length === 0)
    throw new Error(
      `usage: node bench/instructions.mjs V1 V2 … (${Object.keys(VARIANTS)}; servers: ${Object.keys(SERVER_VARIANTS)})`,
    );
  const known = [...Object.keys(VARIANTS), ...Object.keys(SERVER_VARIANTS)];
  for (const v of positionals) if (!known.includes(v)) throw new Error(`unknown variant ${v}: ${known}`);
  const calls = Number(values.calls ?? 40_000);
  const warmup = Number(values.warmup ?? 5_000);
  const repeats = Number(values.repeats ?? 1);
  const server = await listenJson();
  const dir = mkdtempSync(join(tmpdir(), 'weft-instructions-'));
  try {
    const results = [];
    for (const variant of positionals) {
      const runs = [];
      for (let i = 0; i < repeats; i++) {
        const shorter = byFunction(await counted(variant, server.port, warmup, dir));
        const longer = byFunction(await counted(variant, server.port, warmup + calls, dir));
        const functions = perCall(longer, shorter, calls);
        const total = sum(functions);
        runs.push({ variant, functions, total });
        console.error(`${variant}: ${Math.round(total).toLocaleString('en')} instructions a call`);
      }
      // The median run (by its total), whole: its functions add up to its total.
      runs.sort((x, y) => x.total - y.total);
      results.push(runs[Math.floor((runs.length - 1) / 2)]);
    }
    const [first] = results;
    console.log(
      `\ninstructions a call (${calls.toLocaleString('en')} calls after ${warmup.toLocaleString('en')}, 32 in flight)`,
    );
    console.log('| variant | instructions a call | vs first | first/variant |\n|---|---:|---:|---:|');
    for (const r of results) {
      console.log(
        `| ${r.variant} | ${Math.round(r.total).toLocaleString('en')} | ${signed(r.total - first.total)} | ${(first.total / r.total).toFixed(3)} |`,
      );
    }
    if (values.functions) {
      for (const r of results.slice(1)) {
        const names = new Set([...r.functions.keys(), ...first.functions.keys()]);
        const moved = [...names]
          .map((fn) => [fn, (r.functions.get(fn) ?? 0) - (first.functions.get(fn) ?? 0)])
          .sort((x, y) => Math.abs(y[1]) - Math.abs(x[1]))
          .slice(0, 25);
        console.log(`\n${r.variant} − ${first.variant}, by function (instructions a call):`);
        for (const [fn, d] of moved) console.log(`${signed(d).padStart(7)}  ${fn.slice(0, 110)}`);
      }
    }
  } finally {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--child') {
  await child(process.argv[3], Number(process.argv[4]), Number(process.argv[5]));
  process.exit(0);
} else if (process.argv[2] === '--serve') {
  await serve(process.argv[3], Number(process.argv[4]));
  process.exit(0);
} else {
  await main();
}
